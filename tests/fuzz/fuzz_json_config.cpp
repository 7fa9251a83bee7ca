// Fuzzes the JSON config loaders: retryhttp::load_retry_config (the ticket's {"retry": {...}}) and
// vmm::parse_ctl_config (vmm-ctl's file, which embeds one and an endpoint URL).
//
// retryhttp::config_error is the one expected failure. Any other exception escapes and ends the run as a
// crash (std::terminate), because the loaders promise to name the key of every bad input. A config that loads
// must pass retryhttp::validate, and vmm-ctl's endpoint must be one http_endpoint::parse accepts.

// Boost.JSON's and Boost.URL's parsers are instrumented too: meson.build links their sources, compiled for
// the fuzz build (boost_json_src.cpp, boost_url_src.cpp).

#include <retryhttp/config.hpp>
#include <retryhttp/json_config.hpp>
#include <vmm/ctl_config.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace {
// Runs `load` and returns what it loaded, or nothing when it rejected the text with a config_error.
template <class Load>
auto loaded(Load load) -> std::optional<decltype(load())> {
  try {
    return load();
  } catch (const retryhttp::config_error&) {
    return std::nullopt;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Outside the loaders' try: a config_error from validate or parse escapes as a crash.
  if (const auto config = loaded([&] { return retryhttp::load_retry_config(text); }))
    retryhttp::validate(*config);
  if (const auto config = loaded([&] { return vmm::parse_ctl_config(text); })) {
    retryhttp::validate(config->retry);
    for (const auto& endpoint : config->endpoints) (void)retryhttp::http_endpoint::parse(endpoint);
  }
  return 0;
}
