#ifndef RETRYHTTP_TESTS_PROCESS_HPP
#define RETRYHTTP_TESTS_PROCESS_HPP

// Child processes for the integration tests: orchestrator-sim and vmm-ctl, with stdout and stderr in files.
// Every wait is bounded; a child still running when its handle dies is killed. A child is reaped with wait4,
// which also gives its peak resident set size (see peak_rss_kib).

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace it {

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

inline std::filesystem::path scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto base = std::filesystem::temp_directory_path() / ("retryhttp-it-" + std::to_string(::getpid()));
    std::filesystem::create_directories(base);
    return base;
  }();
  return dir;
}

class process {
 public:
  process(const std::string& program, const std::vector<std::string>& args,
          const std::vector<std::string>& env = {}) {
    static int counter = 0;
    const auto stem = scratch_dir() / ("p" + std::to_string(++counter));
    out_path_ = stem.string() + ".out";
    err_path_ = stem.string() + ".err";
    std::vector<std::string> argv_storage{program};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : argv_storage) argv.push_back(arg.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_storage;
    for (char** e = environ; *e; ++e) env_storage.emplace_back(*e);
    env_storage.insert(env_storage.end(), env.begin(), env.end());
    std::vector<char*> envp;
    for (auto& e : env_storage) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("cannot start " + program);
  }
  process(const process&) = delete;
  process& operator=(const process&) = delete;
  ~process() {
    if (!status_) {
      ::kill(pid_, SIGKILL);
      int ignored = 0;
      ::waitpid(pid_, &ignored, 0);
    }
  }

  void signal(int number) const { ::kill(pid_, number); }

  /// The exit code (128 + N for a signal N), or nothing if it is still running after `limit`.
  std::optional<int> wait_for(std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!status_) {
      int status = 0;
      rusage usage{};
      const pid_t done = ::wait4(pid_, &status, WNOHANG, &usage);
      if (done == pid_) {
        status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        peak_rss_kib_ = usage.ru_maxrss;
        break;
      }
      if (std::chrono::steady_clock::now() >= until) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return status_;
  }

  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }

  /// The child's peak resident set size in KiB (rusage.ru_maxrss from wait4), once wait_for has reaped it.
  /// Linux folds into it the spawning process's own peak at the time of the spawn: posix_spawn starts the
  /// child in the parent's address space (vfork), and exec records that address space's high-water mark for
  /// the child. So it is an upper bound of the child's own peak, never below own_peak_rss_kib() at the spawn.
  std::optional<long> peak_rss_kib() const { return peak_rss_kib_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::optional<long> peak_rss_kib_;
  std::string out_path_;
  std::string err_path_;
};

/// This process's own peak resident set size in KiB, the floor under every child's peak_rss_kib().
inline long own_peak_rss_kib() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

inline std::string env_or_fail(const char* name) {
  const char* value = std::getenv(name);
  if (!value)
    throw std::runtime_error(std::string("environment variable ") + name
                             + " is not set (run through meson test)");
  return value;
}

}  // namespace it

#endif  // RETRYHTTP_TESTS_PROCESS_HPP
