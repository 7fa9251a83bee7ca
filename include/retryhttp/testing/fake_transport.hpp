#ifndef RETRYHTTP_TESTING_FAKE_TRANSPORT_HPP
#define RETRYHTTP_TESTING_FAKE_TRANSPORT_HPP

// A Transport that plays a script instead of talking to a network: each attempt takes the next scripted
// outcome (a response, a failure of a given kind, a hang until the attempt's timeout), optionally after a
// latency spent on the fake_clock. It records every request it was handed, so a test asserts exactly what was
// sent and how often. Copies share one script and one record, like fake_clock's copies share one timeline.

#include <retryhttp/testing/fake_clock.hpp>
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
using fake_response = boost::beast::http::response<boost::beast::http::string_body>;
using scripted_fields = std::vector<std::pair<std::string, std::string>>;

// Fields scripted by name: Beast finds a name's field enum in its table of all field names, which is as much
// code to compile as the rest of a small test. scripted_outcome::header() hands this function to the step, so
// only a program that scripts a field compiles it. Returns whether the fields give a Content-Length.
inline bool insert_scripted_fields(fake_response& response, const scripted_fields& fields) {
  bool scripted_length = false;
  for (const auto& [name, value] : fields) {
    response.insert(name, value);
    scripted_length = scripted_length || boost::beast::iequals(name, "Content-Length");
  }
  return scripted_length;
}
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
    insert_fields_ = &detail::insert_scripted_fields;
    return *this;
  }
  scripted_outcome& body(std::string text) {
    body_ = std::move(text);
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
  friend scripted_outcome respond(unsigned status, std::string body);
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
  // Set by header(): null while no field is scripted (see detail::insert_scripted_fields).
  bool (*insert_fields_)(detail::fake_response&, const detail::scripted_fields&) = nullptr;
};

/// A response with this status (and body).
inline scripted_outcome respond(unsigned status, std::string body = {}) {
  scripted_outcome outcome;
  outcome.kind_ = scripted_outcome::kind::respond;
  outcome.status_ = status;
  outcome.body_ = std::move(body);
  return outcome;
}

/// A transport failure of this kind. Without a code: connection_refused for not_sent, connection_reset for
/// ambiguous.
inline scripted_outcome fail(failure_kind kind, boost::system::error_code code = {}) {
  scripted_outcome outcome;
  outcome.kind_ = scripted_outcome::kind::fail;
  outcome.failure_ = kind;
  if (!code)
    code = make_error_code(kind == failure_kind::not_sent ? boost::system::errc::connection_refused
                                                          : boost::system::errc::connection_reset);
  outcome.code_ = code;
  return outcome;
}
inline scripted_outcome refuse_connection() {
  return fail(failure_kind::not_sent);
}
inline scripted_outcome reset_connection() {
  return fail(failure_kind::ambiguous);
}

/// The server accepted the request and never answered: the attempt ends at its timeout (an ambiguous
/// timed_out failure) or at a stop (ambiguous operation_canceled). Needs one of the two, else the test is
/// wrong and the attempt throws std::logic_error.
inline scripted_outcome hang() {
  scripted_outcome outcome;
  outcome.kind_ = scripted_outcome::kind::hang;
  outcome.failure_ = failure_kind::ambiguous;
  return outcome;
}

class fake_transport {
 public:
  using request_type = boost::beast::http::request<boost::beast::http::string_body>;
  using response_type = boost::beast::http::response<boost::beast::http::string_body>;

  /// What one attempt was handed and what it returned.
  struct recorded_attempt {
    request_type request;  ///< a copy (empty when record_requests(false))
    unsigned attempt;      ///< the attempt number the client passed
    std::optional<std::chrono::nanoseconds> timeout;
    fake_clock::time_point started;
    fake_clock::time_point ended;
    observed_outcome result;
  };

  explicit fake_transport(fake_clock clock) : state_(std::make_shared<state>(std::move(clock))) {}

  /// Appends one outcome to the script.
  fake_transport& then(scripted_outcome outcome) {
    std::lock_guard lock(state_->mutex);
    state_->script.push_back(std::make_shared<const scripted_outcome>(std::move(outcome)));
    return *this;
  }
  /// Appends outcomes to the script, one per attempt, in order.
  fake_transport& script(std::initializer_list<scripted_outcome> outcomes) {
    for (const auto& outcome : outcomes) then(outcome);
    return *this;
  }
  /// The outcome of every attempt after the script is used up (without it, such an attempt throws).
  fake_transport& otherwise(scripted_outcome outcome) {
    std::lock_guard lock(state_->mutex);
    state_->fallback = std::make_shared<const scripted_outcome>(std::move(outcome));
    return *this;
  }
  /// Plays the script again from its start when it is used up (for benchmarks and soak loops).
  fake_transport& repeat_script(bool repeat = true) {
    std::lock_guard lock(state_->mutex);
    state_->repeat = repeat;
    return *this;
  }
  /// Whether to copy each request into the record (on by default). Off, only the count is kept, and an
  /// attempt allocates only its response, as a real transport would.
  fake_transport& record_requests(bool keep) {
    std::lock_guard lock(state_->mutex);
    state_->keep_requests = keep;
    return *this;
  }
  /// Forgets the record (not the script).
  void clear_record() {
    std::lock_guard lock(state_->mutex);
    state_->record.clear();
    state_->attempt_count = 0;
  }

  /// The Transport requirement. Throws std::logic_error when the script has no outcome for this attempt.
  /// An attempt handed a stopped token sends nothing and leaves the script where it is (it is recorded).
  attempt_outcome<response_type> attempt(const request_type& request, const attempt_context& context) {
    fake_clock& clock = state_->clock;
    const auto started = clock.now();
    if (context.stop.stop_requested()) {
      auto outcome = failure(failure_kind::not_sent, boost::system::errc::operation_canceled);
      record_attempt(request, context, started, outcome);
      return outcome;
    }
    const auto step = next_step();
    auto outcome = play(*step, context, clock);
    record_attempt(request, context, started, outcome);
    return outcome;
  }

  // ---- For a driver of its own (fake_async_transport plays the same script in virtual time) ----
  /// The script's next step. Throws std::logic_error when there is none.
  scripted_outcome take_next_step() { return *next_step(); }
  /// What a step produces once its latency has passed: the scripted response or failure.
  static attempt_outcome<response_type> scripted_result(const scripted_outcome& step) {
    if (step.what() == scripted_outcome::kind::fail)
      return transport_failure{step.failure(), step.code(), {}, step.is_permanent()};
    response_type response;
    response.version(11);
    response.result(step.status());
    // insert(), never set() or content_length(): the response starts empty, so nothing needs replacing, and
    // every test that uses the fakes compiles this (set() and content_length() bring in Beast's code for
    // erasing and for Transfer-Encoding lists, about a tenth of such a test's code).
    const bool scripted_length = step.insert_fields_ && step.insert_fields_(response, step.headers());
    response.body() = step.body_text();
    // What prepare_payload() would set for a string body, unless the script set a length of its own. With
    // the name spelled out, as Beast spells it: insert(field, value) would look the name up in Beast's field
    // table, which every test would compile.
    const unsigned status = step.status();
    if (!scripted_length && status >= 200 && status != 204 && status != 304)
      response.insert(boost::beast::http::field::content_length, "Content-Length",
                      std::to_string(response.body().size()));
    return response;
  }
  /// Counts an attempt and records it (when recording), as attempt() does.
  // Cold: bookkeeping for the test's assertions, compiled for size (it copies the request) in every test.
  [[gnu::cold]] void record_attempt(const request_type& request, const attempt_context& context,
                                    fake_clock::time_point started,
                                    const attempt_outcome<response_type>& outcome) {
    const auto ended = state_->clock.now();
    std::lock_guard lock(state_->mutex);
    ++state_->attempt_count;
    if (state_->keep_requests)
      state_->record.push_back(
          {request, context.attempt, context.timeout, started, ended, outcome.observe()});
  }

  std::size_t attempt_count() const {
    std::lock_guard lock(state_->mutex);
    return state_->attempt_count;
  }
  std::vector<recorded_attempt> attempts() const {
    std::lock_guard lock(state_->mutex);
    return state_->record;
  }
  std::vector<request_type> requests() const {
    std::vector<request_type> sent;
    for (auto& entry : attempts()) sent.push_back(std::move(entry.request));
    return sent;
  }
  /// Scripted outcomes not yet played (not counting otherwise()).
  std::size_t remaining() const {
    std::lock_guard lock(state_->mutex);
    return state_->script.size() - state_->position;
  }
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
    std::vector<recorded_attempt> record;
  };

  std::shared_ptr<const scripted_outcome> next_step() {
    std::lock_guard lock(state_->mutex);
    if (state_->repeat && state_->position == state_->script.size()) state_->position = 0;
    if (state_->position < state_->script.size()) return state_->script[state_->position++];
    if (state_->fallback) return state_->fallback;
    throw std::logic_error("fake_transport: attempt " + std::to_string(state_->attempt_count + 1)
                           + " has no scripted outcome (script has " + std::to_string(state_->script.size())
                           + "); script more outcomes or set otherwise()");
  }

  static attempt_outcome<response_type> failure(failure_kind kind, boost::system::errc::errc_t code) {
    return transport_failure{kind, make_error_code(code), {}};
  }

  static attempt_outcome<response_type> play(const scripted_outcome& step, const attempt_context& context,
                                             fake_clock& clock) {
    using kind = scripted_outcome::kind;
    // A failure scripted as not_sent stays not_sent even when cut short (a connect that timed out); a
    // response or a hang means the request was written, so cutting it short is ambiguous.
    const failure_kind cut_kind = step.what() == kind::fail ? step.failure() : failure_kind::ambiguous;

    const auto now = clock.now();
    const auto deadline = context.timeout ? now + *context.timeout : fake_clock::time_point::max();
    const auto finish = step.what() == kind::hang ? fake_clock::time_point::max() : now + step.latency();
    if (finish > now) {
      // A hang with no timeout ends only at a scheduled stop; fake_clock throws when there is none.
      const auto end = std::min(finish, deadline);
      if (!clock.elapse_until(end, context.stop))
        return failure(cut_kind, boost::system::errc::operation_canceled);
      if (finish > deadline) return failure(cut_kind, boost::system::errc::timed_out);
    }
    return scripted_result(step);
  }

  std::shared_ptr<state> state_;
};

}  // namespace retryhttp::testing

#endif  // RETRYHTTP_TESTING_FAKE_TRANSPORT_HPP
