#ifndef RETRYHTTP_TESTS_INTEGRATION_TLS_FIXTURE_HPP
#define RETRYHTTP_TESTS_INTEGRATION_TLS_FIXTURE_HPP

// Certificates for the TLS tests, made when a test first asks for them with the `openssl` command, so that no
// key is ever checked in and none expires in the repository. EC P-256 keys: each takes milliseconds.
//
// A test CA issues the good server certificate (localhost, 127.0.0.1 and ::1), one for another host name, one
// whose validity lies entirely in the past, and a client certificate; a second CA, which no client trusts,
// issues a certificate that is otherwise right. Every certificate is issued with `openssl ca`, the one
// command of OpenSSL 3.0 that takes a start date (`x509 -req` only has -days, counted from now), and with a
// configuration of our own, so the system's openssl.cnf adds no extensions.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "process.hpp"

namespace it {

struct tls_files {
  std::filesystem::path ca_cert;                          ///< the CA the clients trust (self-signed)
  std::filesystem::path server_cert, server_key;          ///< DNS:localhost, IP:127.0.0.1, IP:::1; serverAuth
  std::filesystem::path wrong_host_cert, wrong_host_key;  ///< DNS:wrong.example only
  std::filesystem::path expired_cert, expired_key;        ///< the right names, valid until yesterday
  std::filesystem::path untrusted_cert, untrusted_key;    ///< the right names, issued by other_ca_cert
  std::filesystem::path client_cert, client_key;          ///< CN=vmm-ctl-test; clientAuth
  std::filesystem::path other_ca_cert;                    ///< a CA no client trusts
};

namespace detail {

// The openssl program on PATH (process starts a program by its path, without searching PATH).
inline std::string openssl_program() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (std::size_t start = 0; start <= dirs.size();) {
    const auto end = std::min(dirs.find(':', start), dirs.size());
    const auto candidate = std::filesystem::path(dirs.substr(start, end - start)) / "openssl";
    if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate.string();
    start = end + 1;
  }
  throw std::runtime_error("the TLS tests need the openssl command (Debian: apt-get install openssl)");
}

// Runs `openssl ARGS...`; throws with its stderr when it fails or takes longer than 30 s.
inline void run_openssl(const std::vector<std::string>& args) {
  using namespace std::chrono_literals;
  static const std::string program = openssl_program();
  process openssl(program, args);
  const auto status = openssl.wait_for(30s);
  std::string command = "openssl";
  for (const auto& arg : args) command += " " + arg;
  if (!status) throw std::runtime_error(command + ": did not finish within 30 s");
  if (*status != 0)
    throw std::runtime_error(command + ": exit status " + std::to_string(*status) + ": " + openssl.err());
}

// `now` moved by `offset`, as `openssl ca -startdate/-enddate` take it: YYYYMMDDHHMMSSZ, in UTC.
inline std::string asn1_time(std::chrono::system_clock::duration offset) {
  const std::time_t when = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + offset);
  std::tm utc{};
  ::gmtime_r(&when, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d%H%M%SZ", &utc);
  return text;
}

inline void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream file(path);
  file << text;
  if (!file.flush()) throw std::runtime_error("cannot write " + path.string());
}

// One configuration for `req` and `ca`: an issuing policy that takes whatever subject the request has, and
// one extension section per kind of certificate.
inline std::string openssl_config(const std::filesystem::path& dir) {
  return "[ca]\n"
         "default_ca = test_ca\n"
         "[test_ca]\n"
         "database = "
         + (dir / "index.txt").string()
         + "\n"
           "new_certs_dir = "
         + (dir / "issued").string()
         + "\n"
           "serial = "
         + (dir / "serial").string()
         + "\n"
           "default_md = sha256\n"
           "policy = any_subject\n"
           "unique_subject = no\n"
           "copy_extensions = none\n"
           "email_in_dn = no\n"
           "[any_subject]\n"
           "commonName = supplied\n"
           "[req]\n"
           "distinguished_name = req_subject\n"
           "[req_subject]\n"
           "[ca_ext]\n"
           "basicConstraints = critical, CA:true\n"
           "keyUsage = critical, keyCertSign, cRLSign\n"
           "subjectKeyIdentifier = hash\n"
           "[server_ext]\n"
           "basicConstraints = critical, CA:false\n"
           "keyUsage = critical, digitalSignature\n"
           "extendedKeyUsage = serverAuth\n"
           "subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1\n"
           "subjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid:always\n"
           "[wrong_host_ext]\n"
           "basicConstraints = critical, CA:false\n"
           "keyUsage = critical, digitalSignature\n"
           "extendedKeyUsage = serverAuth\n"
           "subjectAltName = DNS:wrong.example\n"
           "subjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid:always\n"
           "[client_ext]\n"
           "basicConstraints = critical, CA:false\n"
           "keyUsage = critical, digitalSignature\n"
           "extendedKeyUsage = clientAuth\n"
           "subjectKeyIdentifier = hash\n"
           "authorityKeyIdentifier = keyid:always\n";
}

struct issuer {
  std::filesystem::path cert;
  std::filesystem::path key;
};

class tls_maker {
 public:
  explicit tls_maker(std::filesystem::path dir) : dir_(std::move(dir)) {
    std::filesystem::create_directories(dir_ / "issued");
    write_text(dir_ / "index.txt", "");
    write_text(dir_ / "serial", "1000\n");
    write_text(config_path(), openssl_config(dir_));
  }

  std::filesystem::path key(const std::string& name) const {
    const auto path = dir_ / (name + ".key");
    run_openssl(
        {"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path.string()});
    ::chmod(path.c_str(), 0600);  // as a real key would be kept; some clients warn about a readable one
    return path;
  }

  /// A certificate for `key` with the extensions of section `extensions`, issued by `by`, or self-signed
  /// when `by` is null. `from` and `to` are offsets from now.
  std::filesystem::path certificate(const std::string& name, const std::string& subject,
                                    const std::filesystem::path& key, const std::string& extensions,
                                    const issuer* by, std::chrono::hours from, std::chrono::hours to) const {
    const auto request = dir_ / (name + ".csr");
    const auto cert = dir_ / (name + ".pem");
    run_openssl({"req", "-new", "-config", config_path().string(), "-key", key.string(), "-subj", subject,
                 "-out", request.string()});
    std::vector<std::string> args{
        "ca",          "-batch",   "-notext",        "-config",       config_path().string(),
        "-extensions", extensions, "-startdate",     asn1_time(from), "-enddate",
        asn1_time(to), "-in",      request.string(), "-out",          cert.string()};
    if (by) {
      args.insert(args.end(), {"-cert", by->cert.string(), "-keyfile", by->key.string()});
    } else {
      args.insert(args.end(), {"-selfsign", "-keyfile", key.string()});
    }
    run_openssl(args);
    return cert;
  }

 private:
  std::filesystem::path config_path() const { return dir_ / "openssl.cnf"; }

  std::filesystem::path dir_;
};

inline tls_files make_tls_files_in(const std::filesystem::path& dir) {
  using namespace std::chrono_literals;
  using days = std::chrono::days;
  const auto hours = [](days d) { return std::chrono::duration_cast<std::chrono::hours>(d); };
  tls_maker maker(dir);
  tls_files files;
  // A day back: a certificate made now is valid in a test run at once, whatever the clocks' rounding.
  const auto valid_from = hours(days{-1});
  const auto valid_to = hours(days{30});

  const auto ca_key = maker.key("ca");
  files.ca_cert =
      maker.certificate("ca", "/CN=retryhttp test CA", ca_key, "ca_ext", nullptr, hours(days{-3}), valid_to);
  const issuer ca{files.ca_cert, ca_key};

  files.server_key = maker.key("server");
  files.server_cert =
      maker.certificate("server", "/CN=localhost", files.server_key, "server_ext", &ca, valid_from, valid_to);
  files.wrong_host_key = maker.key("wrong-host");
  files.wrong_host_cert = maker.certificate("wrong-host", "/CN=wrong.example", files.wrong_host_key,
                                            "wrong_host_ext", &ca, valid_from, valid_to);
  // Entirely in the past (and within the CA's validity): only "expired" is wrong with it.
  files.expired_key = maker.key("expired");
  files.expired_cert = maker.certificate("expired", "/CN=localhost", files.expired_key, "server_ext", &ca,
                                         hours(days{-2}), hours(days{-1}));
  files.client_key = maker.key("client");
  files.client_cert = maker.certificate("client", "/CN=vmm-ctl-test", files.client_key, "client_ext", &ca,
                                        valid_from, valid_to);

  const auto other_ca_key = maker.key("other-ca");
  files.other_ca_cert = maker.certificate("other-ca", "/CN=retryhttp untrusted test CA", other_ca_key,
                                          "ca_ext", nullptr, hours(days{-3}), valid_to);
  const issuer other_ca{files.other_ca_cert, other_ca_key};
  files.untrusted_key = maker.key("untrusted");
  files.untrusted_cert = maker.certificate("untrusted", "/CN=localhost", files.untrusted_key, "server_ext",
                                           &other_ca, valid_from, valid_to);
  return files;
}

}  // namespace detail

/// The test certificates, made once per process in scratch_dir()/tls. Throws std::runtime_error with
/// openssl's message when a step fails (a later call tries again).
inline const tls_files& make_tls_files() {
  static const tls_files files = detail::make_tls_files_in(scratch_dir() / "tls");
  return files;
}

}  // namespace it

#endif  // RETRYHTTP_TESTS_INTEGRATION_TLS_FIXTURE_HPP
