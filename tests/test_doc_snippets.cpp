// The docs show no code that is not compiled: every ```cpp block of docs/*.md and docs/concepts/*.md is the
// text of a region of a compiled test source, verbatim. A region is the lines between
//
//   // --- docs/PAGE.md [NAME ]begin
//   // --- docs/PAGE.md [NAME ]end
//
// with the indentation its lines have in common removed (so a region may sit inside a function). A page's
// regions all come from one source, and their order there is the order of the page's blocks. NAME only labels
// a region in messages. tests/meson.build passes SOURCE_ROOT (the project's root) and DOC_SNIPPET_SOURCES
// (the sources of the test programs, separated by ':'); README.md has its own check, test_readme_example.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_doc_snippets {

namespace fs = std::filesystem;

namespace {

std::string_view trimmed(std::string_view line) {
  const auto first = line.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return line.substr(first, line.find_last_not_of(" \t") + 1 - first);
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + '\n';
  return text;
}

/// One ```cpp block of a page.
struct code_block {
  std::size_t line;  ///< 1-based, of the opening fence
  std::string text;
};

/// The ```cpp blocks of a Markdown page, in order; a fenced block indented (in a list) loses the fence's
/// indentation, as Markdown reads it.
std::vector<code_block> cpp_blocks(const std::vector<std::string>& markdown,
                                   std::vector<std::string>& problems, const std::string& page) {
  std::vector<code_block> blocks;
  std::optional<code_block> open;
  std::size_t indent = 0;
  std::vector<std::string> lines;
  for (std::size_t i = 0; i < markdown.size(); ++i) {
    const auto line = trimmed(markdown[i]);
    if (!open && line == "```cpp") {
      open = code_block{i + 1, {}};
      indent = markdown[i].find_first_not_of(' ');
      lines.clear();
    } else if (open && line == "```") {
      open->text = joined(lines);
      blocks.push_back(*open);
      open.reset();
    } else if (open) {
      const auto& raw = markdown[i];
      const auto spaces = std::min(indent, std::min(raw.size(), raw.find_first_not_of(' ')));
      lines.push_back(raw.substr(spaces));
    }
  }
  if (open)
    problems.push_back(page + ": the ```cpp block at line " + std::to_string(open->line) + " is not closed");
  return blocks;
}

/// A marked region of a test source.
struct region {
  std::string source;  ///< the source's path
  std::size_t line;    ///< 1-based, of the begin marker
  std::string name;    ///< may be empty
  std::string text;
};

/// What a marker line says: the page it names, the region's name, and whether it begins or ends the region.
struct marker {
  std::string page;
  std::string name;
  bool begins;
};

std::optional<marker> parse_marker(std::string_view line) {
  constexpr std::string_view marker_start = "// --- ";
  line = trimmed(line);
  if (!line.starts_with(marker_start) || !line.substr(marker_start.size()).starts_with("docs/"))
    return std::nullopt;
  line.remove_prefix(marker_start.size());
  const auto page_end = line.find(' ');
  if (page_end == std::string_view::npos) return std::nullopt;
  marker found{std::string(line.substr(0, page_end)), {}, false};
  std::string_view rest = line.substr(page_end + 1);
  if (rest.ends_with("begin")) {
    found.begins = true;
    rest.remove_suffix(5);
  } else if (rest.ends_with("end")) {
    rest.remove_suffix(3);
  } else {
    return std::nullopt;
  }
  if (!rest.empty() && !rest.ends_with(' ')) return std::nullopt;  // "...legend", not "... end"
  found.name = std::string(trimmed(rest));
  return found;
}

/// The regions of one source, by the page they name, in order. Markers that do not pair up are problems.
void collect_regions(const std::string& source, const std::vector<std::string>& lines,
                     std::map<std::string, std::vector<region>>& regions,
                     std::vector<std::string>& problems) {
  std::optional<std::pair<marker, std::size_t>> open;
  std::vector<std::string> body;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto found = parse_marker(lines[i]);
    if (!found) {
      if (open) body.push_back(lines[i]);
      continue;
    }
    const std::string where = source + ":" + std::to_string(i + 1);
    if (found->begins) {
      if (open)
        problems.push_back(where + ": a begin marker inside the region that begins at line "
                           + std::to_string(open->second));
      open.emplace(*found, i + 1);
      body.clear();
      continue;
    }
    if (!open || open->first.page != found->page || open->first.name != found->name) {
      problems.push_back(where + ": an end marker for \"" + found->page + " " + found->name
                         + "\" that no begin marker opened");
      open.reset();
      continue;
    }
    std::size_t indent = std::string::npos;
    for (const auto& line : body)
      if (!trimmed(line).empty()) indent = std::min(indent, line.find_first_not_of(' '));
    for (auto& line : body) line = trimmed(line).empty() ? std::string() : line.substr(indent);
    regions[found->page].push_back({source, open->second, found->name, joined(body)});
    open.reset();
  }
  if (open)
    problems.push_back(source + ":" + std::to_string(open->second) + ": the region for \"" + open->first.page
                       + "\" has no end marker");
}

/// Where two texts first differ, as a person reads it.
std::string first_difference(const std::string& doc, const std::string& code) {
  const auto doc_lines = lines_of(doc);
  const auto code_lines = lines_of(code);
  for (std::size_t i = 0; i < std::max(doc_lines.size(), code_lines.size()); ++i) {
    const std::string in_doc = i < doc_lines.size() ? "\"" + doc_lines[i] + "\"" : "(no line)";
    const std::string in_code = i < code_lines.size() ? "\"" + code_lines[i] + "\"" : "(no line)";
    if (in_doc != in_code)
      return "line " + std::to_string(i + 1) + " of the block:\n  doc:  " + in_doc + "\n  code: " + in_code;
  }
  return "the texts differ in their line ends";
}

/// Every disagreement between the pages (by their path from the project's root, "docs/tutorial.md") and the
/// regions of the sources. Empty when every page's C++ blocks are its regions, in order, verbatim.
std::vector<std::string> check_pages(const std::map<std::string, std::vector<std::string>>& pages,
                                     const std::map<std::string, std::vector<std::string>>& sources) {
  std::vector<std::string> problems;
  std::map<std::string, std::vector<region>> regions;
  for (const auto& [source, lines] : sources) collect_regions(source, lines, regions, problems);
  for (const auto& [page, found] : regions)
    if (!pages.contains(page))
      problems.push_back(found.front().source + ":" + std::to_string(found.front().line) + ": names " + page
                         + ", which is not a page of docs/");
  for (const auto& [page, markdown] : pages) {
    const auto blocks = cpp_blocks(markdown, problems, page);
    const auto found = regions.contains(page) ? regions.at(page) : std::vector<region>{};
    if (blocks.empty() && found.empty()) continue;
    std::set<std::string> from;
    for (const auto& r : found) from.insert(r.source);
    if (from.size() > 1) {
      std::string list;
      for (const auto& source : from) list += (list.empty() ? "" : ", ") + source;
      problems.push_back(page + ": its regions come from several sources (" + list
                         + "); keep them in one, in the page's order");
      continue;
    }
    if (blocks.size() != found.size()) {
      problems.push_back(
          page + " has " + std::to_string(blocks.size()) + " C++ block(s), and the compiled tests mark "
          + std::to_string(found.size()) + " region(s) for it"
          + (found.empty() ? ": add \"// --- " + page + " begin\" / \"end\" lines around the code"
                           : " in " + found.front().source));
      continue;
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      if (blocks[i].text == found[i].text) continue;
      problems.push_back(page + ": C++ block " + std::to_string(i + 1) + " (line "
                         + std::to_string(blocks[i].line) + ") is not the code of " + found[i].source + ":"
                         + std::to_string(found[i].line)
                         + (found[i].name.empty() ? "" : " (\"" + found[i].name + "\")")
                         + "; first difference at " + first_difference(blocks[i].text, found[i].text));
    }
  }
  return problems;
}

std::vector<std::string> read_lines(const fs::path& path) {
  std::ifstream in(path);
  INFO("reading " << path);
  REQUIRE(in);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  INFO(name << " must be set: `meson test doc_snippets` sets it (tests/meson.build)");
  REQUIRE(value != nullptr);
  return value;
}

}  // namespace

TEST_CASE("every C++ block of docs/ is the code of a compiled test, verbatim", "[docs]") {
  const fs::path root = environment("SOURCE_ROOT");
  std::map<std::string, std::vector<std::string>> pages;
  for (const auto& directory : {root / "docs", root / "docs" / "concepts"})
    for (const auto& entry : fs::directory_iterator(directory))
      if (entry.is_regular_file() && entry.path().extension() == ".md")
        pages[fs::relative(entry.path(), root).generic_string()] = read_lines(entry.path());
  REQUIRE(pages.contains("docs/tutorial.md"));

  std::map<std::string, std::vector<std::string>> sources;
  std::stringstream list(environment("DOC_SNIPPET_SOURCES"));
  for (std::string path; std::getline(list, path, ':');)
    if (!path.empty()) sources[fs::relative(path, root).generic_string()] = read_lines(path);
  REQUIRE(sources.size() > 10);

  const auto problems = check_pages(pages, sources);
  for (const auto& problem : problems) FAIL_CHECK(problem);
  CHECK(problems.empty());
}

// The checker itself, on made-up pages and sources: it must notice each way a page and its code can part.
TEST_CASE("the check reports a changed, missing, extra or unmarked block, naming the page and the block",
          "[docs]") {
  const std::vector<std::string> page = {"# Page",       "```cpp", "int a = 1;", "```", "text", "  ```cpp",
                                         "  int b = 2;", "  ```",  "```json",    "{}",  "```"};
  const std::vector<std::string> source = {
      "// --- docs/p.md first begin", "int a = 1;",   "// --- docs/p.md first end", "void f() {",
      "  // --- docs/p.md begin",     "  int b = 2;", "  // --- docs/p.md end",     "}"};

  SECTION("the same code passes; an indented region and an indented block compare without the indentation") {
    CHECK(check_pages({{"docs/p.md", page}}, {{"tests/t.cpp", source}}).empty());
  }
  SECTION("a changed line in the page") {
    auto changed = page;
    changed[6] = "  int b = 3;";
    const auto problems = check_pages({{"docs/p.md", changed}}, {{"tests/t.cpp", source}});
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].starts_with("docs/p.md: C++ block 2 (line 6) is not the code of tests/t.cpp:5"));
    CHECK(problems[0].find("doc:  \"int b = 3;\"") != std::string::npos);
  }
  SECTION("a block the code does not have") {
    auto longer = page;
    longer.insert(longer.end(), {"```cpp", "int c;", "```"});
    const auto problems = check_pages({{"docs/p.md", longer}}, {{"tests/t.cpp", source}});
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].starts_with("docs/p.md has 3 C++ block(s), and the compiled tests mark 2 region(s)"));
  }
  SECTION("a page with C++ blocks and no region") {
    const auto problems = check_pages({{"docs/p.md", page}, {"docs/q.md", page}}, {{"tests/t.cpp", source}});
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].starts_with("docs/q.md has 2 C++ block(s), and the compiled tests mark 0 region(s)"));
  }
  SECTION("a region for a page that does not exist, or one without its end") {
    auto broken = source;
    broken[0] = "// --- docs/gone.md first begin";
    broken[2] = "// --- docs/gone.md first end";
    broken.push_back("// --- docs/p.md begin");
    const auto problems = check_pages({{"docs/p.md", page}}, {{"tests/t.cpp", broken}});
    CHECK(std::count_if(problems.begin(), problems.end(),
                        [](const std::string& p) {
                          return p.find("names docs/gone.md, which is not a page") != std::string::npos;
                        })
          == 1);
    CHECK(std::count_if(problems.begin(), problems.end(),
                        [](const std::string& p) {
                          return p.find("tests/t.cpp:9: the region for \"docs/p.md\" has no end marker")
                                 != std::string::npos;
                        })
          == 1);
  }
  SECTION("regions of one page in two sources") {
    const std::vector<std::string> other = {"// --- docs/p.md begin", "int c;", "// --- docs/p.md end"};
    const auto problems =
        check_pages({{"docs/p.md", page}}, {{"tests/t.cpp", source}, {"tests/u.cpp", other}});
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].find("come from several sources (tests/t.cpp, tests/u.cpp)") != std::string::npos);
  }
}

}  // namespace test_doc_snippets
