// Fuzzes endpoint URLs: retryhttp::http_endpoint::parse, which turns vmm-ctl's "endpoint" into what the
// resolver, the connect and the Host field get. std::invalid_argument is the expected failure. An accepted
// URL must give:
//   - a port that is a decimal number from 1 to 65535 (no wrap to another service, no port 0);
//   - a host and a Host field free of control characters (bytes below 0x20, and 0x7f) and spaces, so that
//     nothing percent-decoded reaches the resolver or the request's header;
//   - or, for unix://, an absolute socket path that fits in sockaddr_un, without control bytes.

// Boost.URL's parser is instrumented too: meson.build links its sources, compiled for the fuzz build
// (boost_url_src.cpp).

#if __has_include(<retryhttp/http_endpoint.hpp>)
#include <retryhttp/http_endpoint.hpp>
#else
#include <retryhttp/beast_transport.hpp>  // where http_endpoint lived before it had a header of its own
#endif

#include "fuzz_check.hpp"

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string_view>

namespace {
using retryhttp_fuzz::require;

bool is_port(std::string_view text) {
  if (text.empty()) return false;
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
    if (value > 65535) return false;
  }
  return value >= 1;
}

bool is_clean(std::string_view text) {
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f || c == ' ') return false;
  return true;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view url(reinterpret_cast<const char*>(data), size);
  retryhttp::http_endpoint endpoint;
  try {
    endpoint = retryhttp::http_endpoint::parse(url);
  } catch (const std::invalid_argument&) {
    return 0;
  }
  if (endpoint.is_unix_socket()) {
    const std::string_view path = endpoint.socket_path;
    require(path.front() == '/' && path.size() <= retryhttp::http_endpoint::max_socket_path,
            "a socket's path is absolute and fits in sockaddr_un");
    for (unsigned char c : path) require(c >= 0x20 && c != 0x7f, "a socket's path holds no control byte");
    require(endpoint.host_header == "localhost", "the Host field of a socket is localhost");
    return 0;
  }
  // TLS exactly when the scheme says https, whatever its case: never plain text to an https:// endpoint.
  const bool https = url.size() > 8 && (url[0] | 0x20) == 'h' && (url[1] | 0x20) == 't'
                     && (url[2] | 0x20) == 't' && (url[3] | 0x20) == 'p' && (url[4] | 0x20) == 's'
                     && url.substr(5, 3) == "://";
  require(endpoint.tls == https, "TLS exactly for https://");
  require(is_clean(endpoint.name()), "the endpoint's name holds no control byte or space");
  require(is_port(endpoint.port), "the port is a decimal number from 1 to 65535");
  require(!endpoint.host.empty() && is_clean(endpoint.host),
          "the host is not empty, no control byte, no space");
  require(!endpoint.host_header.empty() && is_clean(endpoint.host_header),
          "the Host field is not empty, no control byte, no space");
  return 0;
}
