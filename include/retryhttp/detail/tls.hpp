#ifndef RETRYHTTP_DETAIL_TLS_HPP
#define RETRYHTTP_DETAIL_TLS_HPP

// TLS for the Beast transports, over OpenSSL (the asynchronous transport through Asio's ssl::stream, the
// synchronous one through detail::blocking_tls_stream): the client context (what is trusted, the client
// certificate), the per-connection settings (SNI, the host the certificate must name, the session offered for
// resumption), and the classification of TLS failures.
//
// Why these choices:
// - Verification is always on, with OpenSSL's own host check (X509_VERIFY_PARAM_set1_host, or
//   set1_ip_asc for an address), so that a failed check leaves its reason in SSL_get_verify_result and
//   the failure can say which check failed ("hostname mismatch", "certificate has expired").
// - A session is resumed per endpoint: the client keeps the last session the server issued (TLS 1.3
//   sends its tickets after the handshake, so the new-session callback is the only reliable moment) and
//   offers it on the next connection. A reconnect after the server closed a kept-alive connection then
//   costs one round trip and no certificate checks.
// - Failure kinds: every handshake failure is not_sent (the server reads no request before the handshake
//   ends). One the TLS protocol refuses (verification, an alert, no common version) is permanent; one the
//   network cuts short (EOF, reset, time-out) is transient like any connect failure. In TLS 1.3 a server
//   refuses a client certificate after the client's handshake has ended, so the refusal arrives as the
//   answer to the first request: a certificate alert there is also not_sent and permanent, because the
//   server aborts the handshake before it reads application data.

#include <retryhttp/http_endpoint.hpp>
#include <retryhttp/tls_options.hpp>
#include <retryhttp/transport.hpp>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace retryhttp::detail {

/// The reason of the oldest error in OpenSSL's queue of this thread, which is then cleared.
inline std::string take_openssl_reason() {
  const unsigned long code = ::ERR_get_error();
  ::ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* reason = ::ERR_reason_error_string(code);
  return reason ? reason : "OpenSSL error " + std::to_string(code);
}

/// The last session a server issued for one endpoint, offered on the next connection to it. Each connection
/// points at its cache (SSL ex_data), where the context's new-session callback stores what the server sends.
/// Used by one connection at a time, or by the connections of one pool under its executor.
class tls_session_cache {
 public:
  tls_session_cache() = default;
  tls_session_cache(const tls_session_cache&) = delete;
  tls_session_cache& operator=(const tls_session_cache&) = delete;
  ~tls_session_cache() {
    if (session_) ::SSL_SESSION_free(session_);
  }

  /// Before the handshake: offer the last session, and be where the next ones are stored.
  void attach(SSL* ssl) {
    if (session_) ::SSL_set_session(ssl, session_);
    ::SSL_set_ex_data(ssl, index(), this);
  }

  /// The context's new-session callback: takes the reference OpenSSL hands over.
  static int store(SSL* ssl, SSL_SESSION* session) {
    auto* cache = static_cast<tls_session_cache*>(::SSL_get_ex_data(ssl, index()));
    if (!cache) return 0;  // not ours: OpenSSL keeps its reference
    if (cache->session_) ::SSL_SESSION_free(cache->session_);
    cache->session_ = session;
    return 1;
  }

  /// Forgets the session, after a failed handshake that offered it.
  void clear() {
    if (session_) ::SSL_SESSION_free(session_);
    session_ = nullptr;
  }

 private:
  static int index() {
    static const int allocated = ::SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return allocated;
  }
  SSL_SESSION* session_ = nullptr;
};

/// The client context of an https:// endpoint. Throws std::invalid_argument naming the option and OpenSSL's
/// reason for a CA, certificate or key file that cannot be used. Built once per transport; its copies share
/// it.
inline std::shared_ptr<boost::asio::ssl::context> make_tls_context(const tls_options& options) {
  namespace ssl = boost::asio::ssl;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  ::SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  auto fail = [](const std::string& what) {
    throw std::invalid_argument(what + ": " + take_openssl_reason());
  };
  if (options.ca_file.empty()) {
    if (::SSL_CTX_set_default_verify_paths(native) != 1) fail("tls: the system's CA store cannot be loaded");
  } else if (::SSL_CTX_load_verify_locations(native, options.ca_file.c_str(), nullptr) != 1) {
    fail("tls ca_file \"" + options.ca_file + "\" cannot be used as PEM CA certificates");
  }
  if (options.cert_file.empty() != options.key_file.empty())
    throw std::invalid_argument("tls: cert_file and key_file go together (mutual TLS needs both)");
  if (!options.cert_file.empty()) {
    if (::SSL_CTX_use_certificate_chain_file(native, options.cert_file.c_str()) != 1)
      fail("tls cert_file \"" + options.cert_file + "\" cannot be used as a PEM certificate chain");
    if (::SSL_CTX_use_PrivateKey_file(native, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      fail("tls key_file \"" + options.key_file + "\" cannot be used as a PEM private key");
    if (::SSL_CTX_check_private_key(native) != 1)
      fail("tls key_file \"" + options.key_file + "\" is not the key of cert_file \"" + options.cert_file
           + "\"");
  }
  ::SSL_CTX_set_verify(native, SSL_VERIFY_PEER, nullptr);
  // Sessions live in each endpoint's cache, not in the context's (which would need locking and eviction).
  ::SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  ::SSL_CTX_sess_set_new_cb(native, &tls_session_cache::store);
  return context;
}

/// Per connection, before the handshake: SNI for a name (RFC 6066 has none for addresses), the host or
/// address the certificate must name, and the session to resume. False if OpenSSL refuses the settings.
inline bool prepare_tls_connection(SSL* ssl, const http_endpoint& endpoint, tls_session_cache& sessions) {
  X509_VERIFY_PARAM* param = ::SSL_get0_param(ssl);
  ::X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  if (endpoint.host_is_address) {
    if (::X509_VERIFY_PARAM_set1_ip_asc(param, endpoint.host.c_str()) != 1) return false;
  } else {
    if (::SSL_set_tlsext_host_name(ssl, endpoint.host.c_str()) != 1) return false;
    if (::X509_VERIFY_PARAM_set1_host(param, endpoint.host.c_str(), endpoint.host.size()) != 1) return false;
  }
  sessions.attach(ssl);
  return true;
}

/// Before a connection's SSL object is freed without a TLS shutdown (the HTTP exchange is framed, so the
/// client closes the socket without a close_notify, as most HTTP clients do): OpenSSL would otherwise take
/// the connection as broken and mark its session not resumable.
inline void forget_connection_keeping_session(SSL* ssl) {
  ::SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN);
}

/// An alert a server sends about the client's certificate (bad_certificate, unsupported_certificate,
/// certificate_revoked/expired/unknown, unknown_ca, access_denied, certificate_required).
inline bool is_client_certificate_alert(const boost::system::error_code& ec) {
  if (ec.category() != boost::asio::error::get_ssl_category()) return false;
  const int reason = ERR_GET_REASON(static_cast<unsigned long>(ec.value()));
  switch (reason - SSL_AD_REASON_OFFSET) {
    case SSL_AD_BAD_CERTIFICATE:
    case SSL_AD_UNSUPPORTED_CERTIFICATE:
    case SSL_AD_CERTIFICATE_REVOKED:
    case SSL_AD_CERTIFICATE_EXPIRED:
    case SSL_AD_CERTIFICATE_UNKNOWN:
    case SSL_AD_UNKNOWN_CA:
    case SSL_AD_ACCESS_DENIED:
    case SSL_AD_CERTIFICATE_REQUIRED:
      return true;
    default:
      return false;
  }
}

/// OpenSSL's reason for an error of Asio's ssl category, without the library name Asio's message adds.
inline std::string ssl_reason(const boost::system::error_code& ec) {
  const char* reason = ::ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
  return reason ? reason : ec.message();
}

inline transport_failure client_certificate_refused(const boost::system::error_code& ec,
                                                    const tls_options& options) {
  std::string detail = "TLS alert: " + ssl_reason(ec);
  if (options.cert_file.empty()) detail += "; no client certificate is configured (cert_file, key_file)";
  transport_failure refused{failure_kind::not_sent, tls_error::client_certificate_refused, std::move(detail)};
  refused.permanent = true;
  return refused;
}

/// The failure of a handshake with `endpoint` that ended with `ec` (nothing of the request was written).
inline transport_failure handshake_failure(SSL* ssl, const boost::system::error_code& ec,
                                           const http_endpoint& endpoint, const tls_options& options) {
  if (ec.category() != boost::asio::error::get_ssl_category())  // EOF, reset, time-out, stop: transient
    return {failure_kind::not_sent, ec, "TLS handshake with " + endpoint.name()};
  if (const long verified = ::SSL_get_verify_result(ssl); verified != X509_V_OK) {
    transport_failure rejected{failure_kind::not_sent, tls_error::certificate_rejected,
                               std::string(::X509_verify_cert_error_string(verified)) + "; checked for "
                                   + (endpoint.host_is_address ? "address " : "host ") + endpoint.host};
    rejected.permanent = true;
    return rejected;
  }
  if (is_client_certificate_alert(ec)) return client_certificate_refused(ec, options);
  transport_failure refused{failure_kind::not_sent, tls_error::handshake_refused,
                            ssl_reason(ec) + "; TLS handshake with " + endpoint.name()};
  refused.permanent = true;
  return refused;
}

}  // namespace retryhttp::detail

#endif  // RETRYHTTP_DETAIL_TLS_HPP
