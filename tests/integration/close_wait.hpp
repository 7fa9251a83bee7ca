#ifndef RETRYHTTP_TESTS_INTEGRATION_CLOSE_WAIT_HPP
#define RETRYHTTP_TESTS_INTEGRATION_CLOSE_WAIT_HPP

// Waiting, in a test, until a server's close of a kept-alive connection has reached this host. A server that
// answers and then closes without "Connection: close" races the client's next request: written before the
// FIN arrives, the request goes out on the dying connection and fails (a retry, or an ambiguous create),
// which is not what such a test is about. Reading /proc/net/tcp tells when the FIN is in, with no guessed
// sleep.

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace it {

/// Whether this machine has a TCP connection to 127.0.0.1 on the port of `url` ("http://127.0.0.1:PORT" or
/// "https://..."), in CLOSE_WAIT: the server's FIN has arrived and our end is still open.
inline bool closed_by_server(const std::string& url) {
  const auto port = std::stoul(url.substr(url.rfind(':') + 1));
  char remote[32];
  std::snprintf(remote, sizeof remote, "0100007F:%04lX", port);
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, peer, state;
    fields >> slot >> local >> peer >> state;
    if (peer == remote && state == "08") return true;  // 08: TCP_CLOSE_WAIT
  }
  return false;
}

/// Waits (up to 10 s, then fails the test) until closed_by_server(url).
inline void wait_until_closed_by_server(const std::string& url) {
  using namespace std::chrono_literals;
  const auto until = std::chrono::steady_clock::now() + 10s;
  while (!closed_by_server(url) && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(2ms);
  REQUIRE(closed_by_server(url));
}

}  // namespace it

#endif
