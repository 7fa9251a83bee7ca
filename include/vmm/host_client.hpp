#ifndef VMM_HOST_CLIENT_HPP
#define VMM_HOST_CLIENT_HPP

// vmm::host_client: the typed API of the VM orchestrator over any retryhttp client. VM names are validated
// and percent-encoded into the path, so no name can reach another route; bodies are parsed with Boost.JSON
// and a malformed or unexpected body is a clear error, never a crash.
//
// Templated on the client, so the same code runs over beast_transport in vmm-ctl and over the fakes in tests.

#include <retryhttp/detail/printable.hpp>
#include <retryhttp/error.hpp>
#include <retryhttp/idempotency_key.hpp>
#include <retryhttp/send_result.hpp>

#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace vmm {

struct vm {
  std::string name;
  std::string state;  // "running" | "stopped"
  std::int64_t cpus = 0;
  std::int64_t memory_mib = 0;
  std::string image;

  friend bool operator==(const vm&, const vm&) = default;
};

/// What create_vm sends.
struct vm_spec {
  std::string name;
  std::int64_t cpus = 1;
  std::int64_t memory_mib = 512;
  std::string image = "debian-12";
  /// Sent as the Idempotency-Key header when set: the caller's own key, reusable across program runs. (A
  /// client whose Idempotency policy issues keys adds one per call when this is empty.)
  std::optional<std::string> idempotency_key{};
};

/// How a host_client call ended. vmm-ctl maps each to its exit code.
enum class call_outcome {
  ok,                     ///< 2xx with a body of the expected shape
  http_error,             ///< the server's final answer was an error status (4xx, 500, or a 5xx not retried)
  network_error,          ///< transport failure, or retries exhausted
  may_have_been_applied,  ///< a non-idempotent request may have been applied: its answer lost, or a 503
  canceled,               ///< the stop token fired
  bad_response,           ///< 2xx with a body that is not what the API promises
  bad_argument,           ///< rejected before anything was sent (an invalid VM name)
};

template <class T>
struct call_result {
  call_outcome outcome = call_outcome::ok;
  std::optional<T> value;  ///< when outcome == ok
  unsigned status = 0;     ///< the last HTTP status, 0 when there was no response
  std::string body;        ///< the last response body, as the server sent it
  std::string message;     ///< for an error: what happened, in words
  unsigned attempts = 0;
  /// The last attempt's transport error when the call ended on one (no response), else empty. Tells a
  /// certificate failure (retryhttp::tls_category()) from a network one.
  boost::system::error_code transport_error;

  bool ok() const noexcept { return outcome == call_outcome::ok; }
};

namespace detail {

using retryhttp::detail::printable;

/// A JSON text as it may be printed on a terminal and still read as the same JSON: re-serialized, with the
/// characters retryhttp::detail::safe_utf8_length refuses (C1 controls, line separators, bidirectional
/// overrides) written as \uXXXX escapes. Boost.JSON accepts them raw inside strings, where a terminal would
/// act on them. Control characters below 0x20 are escaped by the serializer itself.
inline std::string terminal_safe_json(const boost::json::value& value) {
  static constexpr char hex[] = "0123456789abcdef";
  const std::string text = boost::json::serialize(value);
  std::string out;
  out.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const auto lead = static_cast<unsigned char>(text[at]);
    if (lead < 0x80) {
      out += text[at++];
      continue;
    }
    if (const auto length = retryhttp::detail::safe_utf8_length(text, at); length != 0) {
      out.append(text, at, length);
      at += length;
      continue;
    }
    // The serializer's output is well-formed UTF-8, so a refused sequence is one of the two- or three-byte
    // ones named above: decode it and write it as an escape.
    const std::size_t length = lead < 0xe0 ? 2 : 3;
    unsigned code = lead & (length == 2 ? 0x1fU : 0x0fU);
    for (std::size_t i = 1; i < length && at + i < text.size(); ++i)
      code = (code << 6) | (static_cast<unsigned char>(text[at + i]) & 0x3fU);
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += hex[(code >> shift) & 15];
    at += length;
  }
  return out;
}

/// Why a name is not acceptable, or empty. Names are 1..63 characters, not "." or "..", without '/' or
/// control characters; anything else is percent-encoded into the path.
inline std::string name_problem(std::string_view name) {
  if (name.empty()) return "a VM name must not be empty";
  if (name.size() > 63) return "a VM name has at most 63 characters";
  if (name == "." || name == "..") return "a VM name must not be \".\" or \"..\"";
  for (const char raw : name) {
    const auto c = static_cast<unsigned char>(raw);
    if (c == '/') return "a VM name must not contain '/'";
    if (c < 0x20 || c == 0x7f) return "a VM name must not contain control characters";
  }
  return {};
}

/// RFC 3986 path-segment encoding: unreserved characters stay, every other byte becomes %XX.
inline std::string encode_segment(std::string_view segment) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const char raw : segment) {
    const auto c = static_cast<unsigned char>(raw);
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                            || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// Reads a VM object; throws std::invalid_argument naming the field that is missing or wrong.
inline vm parse_vm(const boost::json::value& value, std::string_view where) {
  const std::string at(where);
  if (!value.is_object()) throw std::invalid_argument(at + ": expected a VM object");
  const auto& object = value.get_object();
  auto text = [&](const char* key) {
    const auto* field = object.if_contains(key);
    if (!field || !field->is_string()) throw std::invalid_argument(at + "." + key + ": expected a string");
    return std::string(field->get_string());
  };
  auto integer = [&](const char* key) {
    const auto* field = object.if_contains(key);
    if (!field || !field->is_int64()) throw std::invalid_argument(at + "." + key + ": expected an integer");
    return field->get_int64();
  };
  vm result{text("name"), text("state"), integer("cpus"), integer("memory_mib"), text("image")};
  if (result.state != "running" && result.state != "stopped")
    throw std::invalid_argument(at + ".state: expected \"running\" or \"stopped\", got \""
                                + printable(result.state) + "\"");
  return result;
}

/// Reads a VM object that must be the VM named `expected`: an answer about another VM is not the answer to
/// this call (a reply meant for another request, or a server bug).
inline vm parse_vm_named(const boost::json::value& value, std::string_view expected) {
  vm result = parse_vm(value, "vm");
  if (result.name != expected)
    throw std::invalid_argument("the answer is about VM \"" + printable(result.name) + "\", not \""
                                + printable(expected) + "\"");
  return result;
}

inline boost::json::value parse_body(const std::string& body) {
  boost::json::error_code ec;
  auto value = boost::json::parse(body, ec);
  if (ec) throw std::invalid_argument("the body is not JSON (" + ec.message() + ")");
  return value;
}

/// The server's {"error": "..."} message, or the body when it has none, made printable.
inline std::string server_error_text(const std::string& body) {
  boost::json::error_code ec;
  const auto value = boost::json::parse(body, ec);
  if (!ec && value.is_object())
    if (const auto* error = value.get_object().if_contains("error"); error && error->is_string())
      return printable(error->get_string());
  return printable(body);
}

}  // namespace detail

namespace detail {
/// The asynchronous driver of a host_client type, defined by <vmm/async_host_client.hpp>.
template <class Host>
struct async_host_driver {
  static_assert(sizeof(Host) == 0,
                "host_client's async_ calls need #include <vmm/async_host_client.hpp> and a client whose "
                "Transport models retryhttp::AsyncTransport");
};
}  // namespace detail

template <class Client>
class host_client {
 public:
  using request_type = typename Client::request_type;

  /// One call, prepared: the request and how its answer is read, or the result when it was refused before
  /// anything could be sent. The synchronous and the asynchronous calls run the same plans.
  template <class T>
  struct plan {
    std::optional<call_result<T>> refused;
    request_type request;
    std::function<T(const std::string&)> parse;
    std::function<void(call_result<T>&)> finish;  // adjusts the result (create's rules), may be empty
  };

  explicit host_client(Client client) : client_(std::move(client)) {}

  call_result<std::vector<vm>> list_vms(std::stop_token stop = {}) { return run(list_plan(), stop); }
  call_result<vm> get_vm(std::string_view name, std::stop_token stop = {}) {
    return run(vm_plan(boost::beast::http::verb::get, name, ""), stop);
  }
  call_result<vm> start_vm(std::string_view name, std::stop_token stop = {}) {
    return run(vm_plan(boost::beast::http::verb::post, name, "/start"), stop);
  }
  call_result<vm> stop_vm(std::string_view name, std::stop_token stop = {}) {
    return run(vm_plan(boost::beast::http::verb::post, name, "/stop"), stop);
  }
  call_result<vm> create_vm(const vm_spec& spec, std::stop_token stop = {}) {
    return run(create_plan(spec), stop);
  }
  call_result<std::monostate> delete_vm(std::string_view name, std::stop_token stop = {}) {
    return run(delete_plan(name), stop);
  }

  /// The same calls, asynchronous, for any Asio completion token: each completes with void(call_result<T>)
  /// on the client's transport executor, with the same rules (a create is never re-sent after an ambiguous
  /// failure; keys and reconciliation as in the synchronous calls). Needs <vmm/async_host_client.hpp>.
  /// Arguments are copied: nothing the caller passes needs to outlive the call.
  template <class Token, class Self = host_client>
  auto async_list_vms(Token&& token) {
    return detail::async_host_driver<Self>::initiate(*this, list_plan(), std::forward<Token>(token));
  }
  template <class Token, class Self = host_client>
  auto async_get_vm(std::string_view name, Token&& token) {
    return detail::async_host_driver<Self>::initiate(*this, vm_plan(boost::beast::http::verb::get, name, ""),
                                                     std::forward<Token>(token));
  }
  template <class Token, class Self = host_client>
  auto async_start_vm(std::string_view name, Token&& token) {
    return detail::async_host_driver<Self>::initiate(
        *this, vm_plan(boost::beast::http::verb::post, name, "/start"), std::forward<Token>(token));
  }
  template <class Token, class Self = host_client>
  auto async_stop_vm(std::string_view name, Token&& token) {
    return detail::async_host_driver<Self>::initiate(
        *this, vm_plan(boost::beast::http::verb::post, name, "/stop"), std::forward<Token>(token));
  }
  template <class Token, class Self = host_client>
  auto async_create_vm(const vm_spec& spec, Token&& token) {
    return detail::async_host_driver<Self>::initiate(*this, create_plan(spec), std::forward<Token>(token));
  }
  template <class Token, class Self = host_client>
  auto async_delete_vm(std::string_view name, Token&& token) {
    return detail::async_host_driver<Self>::initiate(*this, delete_plan(name), std::forward<Token>(token));
  }

  Client& client() noexcept { return client_; }

  /// What a finished send means for a plan: the call's result, as both kinds of calls report it.
  template <class T, class Sent>
  static call_result<T> result_of(const plan<T>& planned, const Sent& sent) {
    const request_type& request = planned.request;
    call_result<T> result;
    result.attempts = sent.attempts();
    if (sent.has_response()) {
      result.status = sent.response().result_int();
      result.body = sent.response().body();
    }
    const std::string what = std::string(request.method_string()) + " " + std::string(request.target());
    if (!sent.ok()) {
      const auto reason = static_cast<retryhttp::error>(sent.error().value());
      result.message = sent.message();
      if (const auto* failed = sent.failure()) result.transport_error = failed->code;
      if (reason == retryhttp::error::canceled) {
        result.outcome = call_outcome::canceled;
      } else if (reason == retryhttp::error::may_have_been_applied) {
        // A lost answer, or a retryable status (502, 503, 504: a gateway may answer so after it passed the
        // request on): either way the request may have been applied, and the caller needs to check.
        result.outcome = call_outcome::may_have_been_applied;
      } else {
        result.outcome = call_outcome::network_error;
      }
    } else if (result.status < 200 || result.status > 299) {
      result.outcome = call_outcome::http_error;
      result.message = what + ": the server answered " + std::to_string(result.status) + ": "
                       + detail::server_error_text(result.body);
    } else {
      try {
        result.value = planned.parse(result.body);
      } catch (const std::exception& error) {
        result.outcome = call_outcome::bad_response;
        result.message =
            what + ": unexpected response body from the server: " + detail::printable(error.what(), 400);
      }
    }
    if (planned.finish) planned.finish(result);
    return result;
  }

 private:
  template <class T>
  call_result<T> run(const plan<T>& planned, std::stop_token stop) {
    if (planned.refused) return *planned.refused;
    return result_of(planned, client_.send(planned.request, stop));
  }

  static request_type make(boost::beast::http::verb method, const std::string& target) {
    request_type request{method, target, 11};
    request.set(boost::beast::http::field::accept, "application/json");
    request.prepare_payload();
    return request;
  }

  template <class T>
  static plan<T> refused_plan(std::string message) {
    plan<T> refused;
    refused.refused.emplace();
    refused.refused->outcome = call_outcome::bad_argument;
    refused.refused->message = std::move(message);
    return refused;
  }
  template <class T>
  static plan<T> refused_name(std::string_view name, const std::string& problem) {
    return refused_plan<T>("invalid VM name \"" + detail::printable(name) + "\": " + problem);
  }

  static plan<std::vector<vm>> list_plan() {
    plan<std::vector<vm>> planned;
    planned.request = make(boost::beast::http::verb::get, "/v1/vms");
    planned.parse = [](const std::string& body) {
      const auto value = detail::parse_body(body);
      const auto* list = value.is_object() ? value.get_object().if_contains("vms") : nullptr;
      if (!list || !list->is_array()) throw std::invalid_argument("expected {\"vms\": [...]}");
      std::vector<vm> vms;
      std::size_t index = 0;
      for (const auto& element : list->get_array())
        vms.push_back(detail::parse_vm(element, "vms[" + std::to_string(index++) + "]"));
      return vms;
    };
    return planned;
  }

  static plan<vm> vm_plan(boost::beast::http::verb method, std::string_view name, std::string_view action) {
    if (auto problem = detail::name_problem(name); !problem.empty()) return refused_name<vm>(name, problem);
    std::string target = "/v1/vms/" + detail::encode_segment(name);
    target += action;
    plan<vm> planned;
    planned.request = make(method, target);
    planned.parse = [expected = std::string(name)](const std::string& body) {
      return detail::parse_vm_named(detail::parse_body(body), expected);
    };
    return planned;
  }

  static plan<vm> create_plan(const vm_spec& spec) {
    if (auto problem = detail::name_problem(spec.name); !problem.empty())
      return refused_name<vm>(spec.name, problem);
    // A blank key is no key to a server: a create re-sent with it could create twice.
    if (spec.idempotency_key && !retryhttp::is_usable_key(*spec.idempotency_key))
      return refused_plan<vm>(
          "invalid idempotency key: expected 1 to 255 printable ASCII characters, not starting or ending "
          "with a "
          "space");
    plan<vm> planned;
    planned.request = make(boost::beast::http::verb::post, "/v1/vms");
    planned.request.set(boost::beast::http::field::content_type, "application/json");
    if (spec.idempotency_key) planned.request.set("Idempotency-Key", *spec.idempotency_key);
    planned.request.body() = boost::json::serialize(boost::json::object{
        {"name", spec.name}, {"cpus", spec.cpus}, {"memory_mib", spec.memory_mib}, {"image", spec.image}});
    planned.request.prepare_payload();
    planned.parse = [](const std::string& body) { return detail::parse_vm(detail::parse_body(body), "vm"); };
    planned.finish = [name = spec.name](call_result<vm>& result) {
      // A 2xx answer that cannot be read still means the VM was created: say so, since the operator's next
      // step (not creating it again) depends on it.
      if (result.outcome == call_outcome::bad_response)
        result.message = "the VM \"" + name + "\" was created (the server answered "
                         + std::to_string(result.status) + "), but " + result.message;
      // An answer about another VM may be a reply meant for another request: whether this create was
      // applied is unknown, which is what may_have_been_applied says (vmm-ctl then checks, and exits 4).
      if (result.ok() && result.value->name != name) {
        result.outcome = call_outcome::may_have_been_applied;
        result.message = "POST /v1/vms: the answer (" + std::to_string(result.status) + ") is about VM \""
                         + detail::printable(result.value->name) + "\", not \"" + name
                         + "\": whether it was created is unknown";
        result.value.reset();
      }
    };
    return planned;
  }

  static plan<std::monostate> delete_plan(std::string_view name) {
    if (auto problem = detail::name_problem(name); !problem.empty())
      return refused_name<std::monostate>(name, problem);
    plan<std::monostate> planned;
    planned.request = make(boost::beast::http::verb::delete_, "/v1/vms/" + detail::encode_segment(name));
    planned.parse = [](const std::string&) { return std::monostate{}; };
    return planned;
  }

  Client client_;
};

}  // namespace vmm

#endif  // VMM_HOST_CLIENT_HPP
