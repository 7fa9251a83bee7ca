#ifndef RETRYHTTP_TLS_OPTIONS_HPP
#define RETRYHTTP_TLS_OPTIONS_HPP

// What an https:// endpoint trusts and presents, the options both Beast transports take, and the errors a
// TLS connection ends with that are not transient. No OpenSSL header, so a config reader (vmm-ctl's) or code
// that tells a certificate failure from a network failure compiles without the TLS code.

#include <boost/system/error_code.hpp>

#include <string>
#include <type_traits>

namespace retryhttp {

/// TLS settings of an https:// endpoint. Certificate verification is always on: the server's chain must lead
/// to a trusted CA, be valid now, and name the endpoint's host (its DNS name, or its IP address in an
/// iPAddress entry). There is no switch to turn verification off.
struct tls_options {
  /// A PEM file of CA certificates to trust instead of the system's store (a private CA). [ca_file]
  std::string ca_file;
  /// The client's certificate chain (PEM), presented when the server asks (mutual TLS). [cert_file]
  std::string cert_file;
  /// The private key of cert_file (PEM, unencrypted). [key_file]
  std::string key_file;
};

/// The TLS failures that say the configuration, not the network, is at fault: the client does not retry them
/// (transport_failure::permanent), and transport_failure::detail names the check that failed. Both happen
/// before the server reads a request, so they are not_sent.
enum class tls_error {
  /// The server's certificate failed verification: untrusted issuer, expired or not yet valid, or not
  /// issued for the endpoint's host. detail: OpenSSL's reason and the host checked.
  certificate_rejected = 1,
  /// The server refused the client's certificate, or required one the client has not got (mutual TLS).
  client_certificate_refused,
  /// The handshake failed for another reason that will not change on a retry: no protocol version or cipher
  /// in common, or a server that does not speak TLS. detail: OpenSSL's reason.
  handshake_refused,
};

namespace detail {
class tls_error_category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "retryhttp.tls"; }
  std::string message(int value) const override {
    switch (static_cast<tls_error>(value)) {
      case tls_error::certificate_rejected:
        return "the server's TLS certificate failed verification";
      case tls_error::client_certificate_refused:
        return "the server refused the client's TLS certificate";
      case tls_error::handshake_refused:
        return "the TLS handshake was refused";
    }
    return "TLS error";
  }
};
}  // namespace detail

inline const boost::system::error_category& tls_category() noexcept {
  static const detail::tls_error_category category;
  return category;
}

inline boost::system::error_code make_error_code(tls_error e) noexcept {
  return {static_cast<int>(e), tls_category()};
}

}  // namespace retryhttp

template <>
struct boost::system::is_error_code_enum<retryhttp::tls_error> : std::true_type {};

#endif  // RETRYHTTP_TLS_OPTIONS_HPP
