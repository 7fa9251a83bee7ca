#ifndef RETRYHTTP_TESTING_FAKE_TRANSPORT_HPP
#define RETRYHTTP_TESTING_FAKE_TRANSPORT_HPP

// A Transport that plays a script instead of talking to a network: each attempt takes the next scripted
// outcome (a response, a failure of a given kind, a hang until the attempt's timeout), optionally after a
// latency spent on the fake_clock. It records every request it was handed, so a test asserts exactly what was
// sent and how often. Copies share one script and one record, like fake_clock's copies share one timeline.

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/impl/config.hpp>
#include <retryhttp/transport.hpp>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/system/errc.hpp>

#include <chrono>
#include <cstddef>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace retryhttp::detail {
using fake_request = boost::beast::http::request<boost::beast::http::string_body>;
using fake_response = boost::beast::http::response<boost::beast::http::string_body>;
using scripted_fields = std::vector<std::pair<std::string, std::string>>;

// Adding a field to a Beast message (basic_fields::insert: an allocation, a case-insensitive ordered tree) is
// about a third of the code a test with the fakes compiles, and copying a message adds every field again.
// So only a test that asks for fields compiles it: a scripted_outcome points at write_scripted_fields once a
// field or a body is scripted (none for a bare respond(status)), and the record keeps each request as text
// (record_request) that attempts() and requests() turn back into Beast's type (rebuild_request).

// Writes the scripted fields in their order (by name: Beast finds the field's enum in its table of all field
// names), then the Content-Length that prepare_payload() would set for the body, unless one was scripted.
RETRYHTTP_TESTING_DECL void write_scripted_fields(fake_response& response, const scripted_fields& fields);

// The request's method (its enum and its text), target, version and body, then its fields in order (each its
// enum, its name as written and its value); each text preceded by its length.
RETRYHTTP_TESTING_DECL std::string record_request(const fake_request& request);
// The recorded request as Beast's type again: the same parts, fields in the same order, repeats kept.
RETRYHTTP_TESTING_DECL fake_request rebuild_request(std::string_view recorded);

// The std::logic_error of an attempt past the script: out of line and cold, as a test that passes never
// throws it.
[[noreturn, gnu::cold]] RETRYHTTP_TESTING_DECL void throw_script_used_up(std::size_t attempt,
                                                                         std::size_t script_size);
}  // namespace retryhttp::detail

namespace retryhttp::testing {

/// One step of a fake_transport script. Build it with respond(), fail(), refuse_connection(),
/// reset_connection() or hang(), then refine it with header(), body() and after().
class scripted_outcome {
 public:
  enum class kind { respond, fail, hang };

  /// Adds a field to the response; a name given twice gives two fields, as a server sending it twice would.
  /// A Content-Length given here replaces the one the fake would compute from the body.
  scripted_outcome& header(std::string name, std::string value) {
    headers_.emplace_back(std::move(name), std::move(value));
    write_fields_ = &detail::write_scripted_fields;
    return *this;
  }
  /// The response's body; the response then carries its Content-Length, as prepare_payload() sets it.
  scripted_outcome& body(std::string text) {
    body_ = std::move(text);
    write_fields_ = &detail::write_scripted_fields;
    return *this;
  }
  /// Virtual time the attempt takes before its outcome; an attempt timeout or a stop can cut it short.
  scripted_outcome& after(std::chrono::nanoseconds latency) {
    latency_ = latency;
    return *this;
  }

  /// Marks a failure as permanent (transport_failure::permanent): one the client never retries, as a
  /// response over a size limit.
  scripted_outcome& permanent(bool value = true) {
    permanent_ = value;
    return *this;
  }

  kind what() const noexcept { return kind_; }
  unsigned status() const noexcept { return status_; }
  failure_kind failure() const noexcept { return failure_; }
  const boost::system::error_code& code() const noexcept { return code_; }
  std::chrono::nanoseconds latency() const noexcept { return latency_; }
  const detail::scripted_fields& headers() const noexcept { return headers_; }
  const std::string& body_text() const noexcept { return body_; }
  bool is_permanent() const noexcept { return permanent_; }

 private:
  friend scripted_outcome respond(unsigned status);
  friend scripted_outcome fail(failure_kind kind, boost::system::error_code code);
  friend scripted_outcome hang();
  friend class fake_transport;

  kind kind_ = kind::respond;
  unsigned status_ = 200;
  failure_kind failure_ = failure_kind::ambiguous;
  boost::system::error_code code_;
  std::chrono::nanoseconds latency_{0};
  bool permanent_ = false;
  detail::scripted_fields headers_;
  std::string body_;
  // Set once a field or a body is scripted; null for a response with neither, which gets no fields at all.
  void (*write_fields_)(detail::fake_response&, const detail::scripted_fields&) = nullptr;
};

/// A response with this status, no body and no fields (not even Content-Length: 0).
RETRYHTTP_TESTING_DECL scripted_outcome respond(unsigned status);
/// A response with this status and body, and the Content-Length that prepare_payload() would set (none for
/// 1xx, 204 and 304).
RETRYHTTP_TESTING_DECL scripted_outcome respond(unsigned status, std::string body);

/// A transport failure of this kind. Without a code: connection_refused for not_sent, connection_reset for
/// ambiguous.
RETRYHTTP_TESTING_DECL scripted_outcome fail(failure_kind kind, boost::system::error_code code = {});
inline scripted_outcome refuse_connection() {
  return fail(failure_kind::not_sent);
}
inline scripted_outcome reset_connection() {
  return fail(failure_kind::ambiguous);
}

/// The server accepted the request and never answered: the attempt ends at its timeout (an ambiguous
/// timed_out failure) or at a stop (ambiguous operation_canceled). Needs one of the two, else the test is
/// wrong and the attempt throws std::logic_error.
RETRYHTTP_TESTING_DECL scripted_outcome hang();

class fake_transport {
 public:
  using request_type = boost::beast::http::request<boost::beast::http::string_body>;
  using response_type = boost::beast::http::response<boost::beast::http::string_body>;

  /// What one attempt was handed and what it returned.
  struct recorded_attempt {
    request_type request;  ///< a copy of the request the attempt was handed
    unsigned attempt;      ///< the attempt number the client passed
    std::optional<std::chrono::nanoseconds> timeout;
    fake_clock::time_point started;
    fake_clock::time_point ended;
    observed_outcome result;
  };

  explicit fake_transport(fake_clock clock);

  /// Appends one outcome to the script.
  fake_transport& then(scripted_outcome outcome);
  /// Appends outcomes to the script, one per attempt, in order.
  fake_transport& script(std::initializer_list<scripted_outcome> outcomes) {
    for (const auto& outcome : outcomes) then(outcome);
    return *this;
  }
  /// The outcome of every attempt after the script is used up (without it, such an attempt throws).
  fake_transport& otherwise(scripted_outcome outcome);
  /// Plays the script again from its start when it is used up (for benchmarks and soak loops).
  fake_transport& repeat_script(bool repeat = true);
  /// Whether to copy each request into the record (on by default). Off, only the count is kept, and an
  /// attempt allocates only its response, as a real transport would.
  fake_transport& record_requests(bool keep);
  /// Forgets the record (not the script).
  void clear_record();

  /// The Transport requirement. Throws std::logic_error when the script has no outcome for this attempt.
  /// An attempt handed a stopped token sends nothing and leaves the script where it is (it is recorded).
  attempt_outcome<response_type> attempt(const request_type& request, const attempt_context& context);

  // ---- For a driver of its own (fake_async_transport plays the same script in virtual time) ----
  /// The script's next step. Throws std::logic_error when there is none.
  scripted_outcome take_next_step();
  /// What a step produces once its latency has passed: the scripted response or failure.
  static attempt_outcome<response_type> scripted_result(const scripted_outcome& step);
  /// Counts an attempt and records it (when recording), as attempt() does.
  // Cold: bookkeeping for the test's assertions, compiled for size in every test.
  [[gnu::cold]] void record_attempt(const request_type& request, const attempt_context& context,
                                    fake_clock::time_point started,
                                    const attempt_outcome<response_type>& outcome);

  std::size_t attempt_count() const;
  std::vector<recorded_attempt> attempts() const;
  std::vector<request_type> requests() const;
  /// Scripted outcomes not yet played (not counting otherwise()).
  std::size_t remaining() const;
  fake_clock& clock() noexcept { return state_->clock; }

 private:
  struct state {
    explicit state(fake_clock c) : clock(std::move(c)) {}
    std::mutex mutex;
    fake_clock clock;
    // Steps are shared, not copied, when played: a copy of a step (its fields and body) was compiled, and
    // run, on every attempt.
    std::vector<std::shared_ptr<const scripted_outcome>> script;
    std::size_t position = 0;
    std::shared_ptr<const scripted_outcome> fallback;
    bool repeat = false;
    bool keep_requests = true;
    std::size_t attempt_count = 0;
    // A recorded_attempt, its request kept as detail::record_request's text.
    struct entry {
      std::string request;
      unsigned attempt;
      std::optional<std::chrono::nanoseconds> timeout;
      fake_clock::time_point started;
      fake_clock::time_point ended;
      observed_outcome result;
    };
    std::vector<entry> record;
  };

  std::shared_ptr<const scripted_outcome> next_step();

  static attempt_outcome<response_type> failure(failure_kind kind, boost::system::errc::errc_t code) {
    return transport_failure{kind, make_error_code(code), {}};
  }

  static attempt_outcome<response_type> play(const scripted_outcome& step, const attempt_context& context,
                                             fake_clock& clock);

  std::shared_ptr<state> state_;
};

}  // namespace retryhttp::testing

#if defined(RETRYHTTP_SEPARATE_COMPILATION)
namespace retryhttp {
// The client most tests build, compiled once by <retryhttp/testing/src.hpp>.
extern template class basic_client<testing::fake_transport, exponential_backoff, testing::fake_clock>;
}  // namespace retryhttp
#else
#include <retryhttp/testing/impl/fake_transport.ipp>
#endif

#endif  // RETRYHTTP_TESTING_FAKE_TRANSPORT_HPP
