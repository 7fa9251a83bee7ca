#ifndef RETRYHTTP_HTTP_ENDPOINT_HPP
#define RETRYHTTP_HTTP_ENDPOINT_HPP

// Where a transport connects, parsed from a URL such as "http://127.0.0.1:8080", "https://orch.example", or
// "unix:///run/orch.sock" for HTTP over a Unix domain socket (Docker's spelling). Needs Boost.URL only, so a
// program that checks a configured URL (vmm-ctl's config) does not compile the transport's I/O.
//
// Parsing is strict because an endpoint decides where requests go: a port must be 1 to 65535 as written (a
// wrapped 99999 would send creates to another service), and a host name may hold only the characters of a
// DNS name once percent-decoded (no control bytes, spaces or '%' reach the resolver or the Host field).

#include <retryhttp/detail/printable.hpp>

#include <boost/url/parse.hpp>

#include <algorithm>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace retryhttp {

/// Where a beast_transport connects: from "http://host:port" or "https://host:port" (IPv6 as
/// "http://[::1]:port"), or from "unix:///absolute/path.sock".
struct http_endpoint {
  std::string host;  ///< for the resolver: "127.0.0.1", "::1", "orchestrator.local"; empty for a socket
  std::string port;  ///< "8080"; "80" (http) or "443" (https) when the URL has none; empty for a socket
  std::string host_header;  ///< the Host field: "127.0.0.1:8080", "[::1]:8080", "example.com", "localhost"
  std::string socket_path;  ///< a Unix domain socket's path, or empty for TCP
  bool tls = false;         ///< https: TLS over TCP, the server's certificate checked for `host`
  bool host_is_address = false;  ///< `host` is an IPv4 or IPv6 address, not a name (no SNI for it)

  bool is_unix_socket() const noexcept { return !socket_path.empty(); }

  /// What messages name: "127.0.0.1:8080", "https://orch.example", or "unix:///run/orchestrator.sock".
  std::string name() const {
    if (is_unix_socket()) return "unix://" + socket_path;
    return tls ? "https://" + host_header : host_header;
  }

  /// The longest path a Unix domain socket address holds (sockaddr_un::sun_path, 108 bytes on Linux, with
  /// its terminating NUL).
  static constexpr std::size_t max_socket_path = 107;

  /// Throws std::invalid_argument naming what is wrong: not a URL, a scheme other than http, https or unix,
  /// no host, a port
  /// outside 1-65535, a host name with characters a DNS name cannot hold, a path, query, fragment or user
  /// info (the orchestrator's routes are absolute; a base path is not supported).
  static http_endpoint parse(std::string_view url) {
    const std::string quoted = "\"" + detail::printable(without_user_info(url)) + "\"";
    // The scheme is checked before Boost.URL sees the text: Boost 1.81's parse_uri fails an assertion on
    // some URLs without "//" after the scheme ("h.t.h:]", "http:?"; fixed in Boost 1.82), and an endpoint
    // always has an authority.
    const auto separator = url.find("://");
    if (separator == std::string_view::npos)
      throw std::invalid_argument("endpoint " + quoted + " is not a URL such as http://127.0.0.1:8080");
    if (equals_ignoring_case(url.substr(0, separator), "unix"))
      return unix_socket(url.substr(separator + 3), quoted);
    const bool tls = equals_ignoring_case(url.substr(0, separator), "https");
    if (!tls && !equals_ignoring_case(url.substr(0, separator), "http"))
      throw std::invalid_argument("endpoint " + quoted
                                  + ": only http://, https:// and unix:// are supported, got scheme \""
                                  + detail::printable(url.substr(0, separator)) + "\"");
    const auto parsed = boost::urls::parse_uri(boost::core::string_view(url.data(), url.size()));
    if (!parsed)
      throw std::invalid_argument("endpoint " + quoted + " is not a URL such as http://127.0.0.1:8080");
    const auto& u = *parsed;
    if (u.host().empty()) throw std::invalid_argument("endpoint " + quoted + " has no host");
    if (u.has_userinfo()) throw std::invalid_argument("endpoint " + quoted + ": user info is not supported");
    if ((!u.path().empty() && u.path() != "/") || u.has_query() || u.has_fragment())
      throw std::invalid_argument("endpoint " + quoted + " must not have a path, query or fragment");

    http_endpoint endpoint;
    endpoint.tls = tls;
    switch (u.host_type()) {
      case boost::urls::host_type::ipv4:
        endpoint.host = std::string(u.host_address());
        endpoint.host_header = endpoint.host;
        endpoint.host_is_address = true;
        break;
      case boost::urls::host_type::ipv6:
        endpoint.host = std::string(u.host_ipv6_address().to_string());
        endpoint.host_header = "[" + endpoint.host + "]";
        endpoint.host_is_address = true;
        break;
      case boost::urls::host_type::name:
        endpoint.host = std::string(u.host_name());  // percent-decoded
        if (const auto problem = host_name_problem(endpoint.host); !problem.empty())
          throw std::invalid_argument("endpoint " + quoted + ": " + problem);
        endpoint.host_header = endpoint.host;
        break;
      default:  // IPvFuture ("[v1.x]") and anything newer: no resolver takes them
        throw std::invalid_argument("endpoint " + quoted + ": the host is not a name, IPv4 or IPv6 address");
    }

    endpoint.port = tls ? "443" : "80";
    if (u.has_port() && !u.port().empty()) {
      const std::string_view digits(u.port().data(), u.port().size());
      unsigned long number = 0;
      for (char c : digits) {
        // Boost.URL keeps the digits as written and wraps port_number() at 16 bits; read them ourselves.
        number = number * 10 + static_cast<unsigned long>(c - '0');
        if (number > 65535) break;
      }
      if (number == 0 || number > 65535)
        throw std::invalid_argument("endpoint " + quoted + ": the port must be from 1 to 65535, got "
                                    + std::string(digits));
      endpoint.port = std::to_string(number);
      endpoint.host_header += ":" + endpoint.port;
    }
    return endpoint;
  }

 private:
  // "unix://" then an absolute path, taken as it is written (no percent-decoding: a socket's path is a file
  // name); requests carry "Host: localhost", as curl and Docker's clients send.
  static http_endpoint unix_socket(std::string_view path, const std::string& quoted) {
    if (path.empty() || path.front() != '/')
      throw std::invalid_argument(
          "endpoint " + quoted
          + ": a Unix socket's path must be absolute, as in unix:///run/orchestrator.sock");
    if (path.size() > max_socket_path)
      throw std::invalid_argument("endpoint " + quoted + ": a Unix socket's path may be at most "
                                  + std::to_string(max_socket_path) + " bytes, got "
                                  + std::to_string(path.size()));
    for (const char c : path) {
      const auto byte = static_cast<unsigned char>(c);
      if (byte < 0x20 || byte == 0x7f)
        throw std::invalid_argument("endpoint " + quoted
                                    + ": a Unix socket's path holds a control character");
      if (c == '?' || c == '#')
        throw std::invalid_argument("endpoint " + quoted
                                    + ": a Unix socket's path must not have a query or fragment");
    }
    http_endpoint endpoint;
    endpoint.socket_path = std::string(path);
    endpoint.host_header = "localhost";
    return endpoint;
  }

  // The URL with any user info replaced by "***": a message must not show a password given in it.
  static std::string without_user_info(std::string_view url) {
    const auto separator = url.find("://");
    if (separator == std::string_view::npos) return std::string(url);
    const auto authority = separator + 3;
    const auto authority_end = std::min(url.find_first_of("/?#", authority), url.size());
    const auto at = url.substr(0, authority_end).rfind('@');
    if (at == std::string_view::npos || at < authority) return std::string(url);
    return std::string(url.substr(0, authority)) + "***" + std::string(url.substr(at));
  }

  static bool equals_ignoring_case(std::string_view text, std::string_view lower) noexcept {
    if (text.size() != lower.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
      const char c = text[i] >= 'A' && text[i] <= 'Z' ? static_cast<char>(text[i] - 'A' + 'a') : text[i];
      if (c != lower[i]) return false;
    }
    return true;
  }

  // A name as a resolver takes it: letters, digits, '-', '.', '_' (seen in service names), at most 253.
  static std::string host_name_problem(std::string_view name) {
    if (name.size() > 253) return "the host name is longer than 253 characters";
    for (const char raw : name) {
      const auto c = static_cast<unsigned char>(raw);
      const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                           || c == '-' || c == '.' || c == '_';
      if (!allowed)
        return "the host name may hold only letters, digits, '-', '.' and '_', got "
               + (c < 0x20 || c >= 0x7f ? "a byte " + std::to_string(c)
                                        : "'" + std::string(1, char(c)) + "'");
    }
    return {};
  }
};

}  // namespace retryhttp

#endif  // RETRYHTTP_HTTP_ENDPOINT_HPP
