#ifndef RETRYHTTP_TESTING_IMPL_FAKE_TRANSPORT_IPP
#define RETRYHTTP_TESTING_IMPL_FAKE_TRANSPORT_IPP

// fake_transport's functions (see impl/config.hpp for where they are compiled).

#include <retryhttp/testing/fake_transport.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace retryhttp::detail {

RETRYHTTP_TESTING_DECL void write_scripted_fields(fake_response& response, const scripted_fields& fields) {
  bool scripted_length = false;
  for (const auto& [name, value] : fields) {
    response.insert(name, value);
    scripted_length = scripted_length || boost::beast::iequals(name, "Content-Length");
  }
  // insert(), not set(): the response starts empty, and set() compiles Beast's erase. The name spelled out,
  // as Beast spells it, so that no test compiles the name table for this field.
  const unsigned status = response.result_int();
  if (!scripted_length && status >= 200 && status != 204 && status != 304)
    response.insert(boost::beast::http::field::content_length, "Content-Length",
                    std::to_string(response.body().size()));
}

// A length or a number, as its bytes: the record is read back only by the program that wrote it.
inline char* put_recorded_number(char* out, std::uint64_t number) {
  std::memcpy(out, &number, sizeof number);
  return out + sizeof number;
}
inline char* put_recorded_text(char* out, std::string_view text) {
  out = put_recorded_number(out, text.size());
  if (!text.empty()) std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

// Sized first, then copied into place: one allocation, and a fraction of the code that appending each part
// to a string compiles (each append inlines std::string's growth), which every test with the fakes builds.
RETRYHTTP_TESTING_DECL std::string record_request(const fake_request& request) {
  constexpr std::size_t number = sizeof(std::uint64_t);
  const std::string_view method_text = request.method_string();
  std::size_t size = 5 * number + method_text.size() + request.target().size() + request.body().size();
  for (const auto& field : request) size += 3 * number + field.name_string().size() + field.value().size();
  std::string out(size, '\0');
  char* at = out.data();
  at = put_recorded_number(at, static_cast<std::uint64_t>(request.method()));
  at = put_recorded_text(at, method_text);
  at = put_recorded_text(at, request.target());
  at = put_recorded_number(at, request.version());
  at = put_recorded_text(at, request.body());
  // The fields last, each its enum, its name as written and its value, up to the end of the text.
  for (const auto& field : request) {
    at = put_recorded_number(at, static_cast<std::uint64_t>(field.name()));
    at = put_recorded_text(at, field.name_string());
    at = put_recorded_text(at, field.value());
  }
  return out;
}

RETRYHTTP_TESTING_DECL fake_request rebuild_request(std::string_view recorded) {
  const auto number = [&recorded] {
    std::uint64_t value = 0;
    std::memcpy(&value, recorded.data(), sizeof value);
    recorded.remove_prefix(sizeof value);
    return value;
  };
  const auto text = [&recorded, &number] {
    const auto size = static_cast<std::size_t>(number());
    const std::string_view part = recorded.substr(0, size);
    recorded.remove_prefix(size);
    return part;
  };
  fake_request request;
  const auto method = static_cast<boost::beast::http::verb>(number());
  const std::string_view method_text = text();
  if (method == boost::beast::http::verb::unknown)
    request.method_string(method_text);
  else
    request.method(method);
  request.target(text());
  request.version(static_cast<unsigned>(number()));
  request.body() = std::string(text());
  while (!recorded.empty()) {
    const auto field = static_cast<boost::beast::http::field>(number());
    const std::string_view name = text();
    request.insert(field, name, text());
  }
  return request;
}

RETRYHTTP_TESTING_DECL void throw_script_used_up(std::size_t attempt, std::size_t script_size) {
  throw std::logic_error("fake_transport: attempt " + std::to_string(attempt)
                         + " has no scripted outcome (script has " + std::to_string(script_size)
                         + "); script more outcomes or set otherwise()");
}

}  // namespace retryhttp::detail

namespace retryhttp::testing {

RETRYHTTP_TESTING_DECL scripted_outcome respond(unsigned status) {
  scripted_outcome outcome;
  outcome.kind_ = scripted_outcome::kind::respond;
  outcome.status_ = status;
  return outcome;
}

RETRYHTTP_TESTING_DECL scripted_outcome respond(unsigned status, std::string body) {
  scripted_outcome outcome = respond(status);
  outcome.body(std::move(body));
  return outcome;
}

RETRYHTTP_TESTING_DECL scripted_outcome fail(failure_kind kind, boost::system::error_code code) {
  scripted_outcome outcome;
  outcome.kind_ = scripted_outcome::kind::fail;
  outcome.failure_ = kind;
  if (!code)
    code = make_error_code(kind == failure_kind::not_sent ? boost::system::errc::connection_refused
                                                          : boost::system::errc::connection_reset);
  outcome.code_ = code;
  return outcome;
}

RETRYHTTP_TESTING_DECL scripted_outcome hang() {
  scripted_outcome outcome;
  outcome.kind_ = scripted_outcome::kind::hang;
  outcome.failure_ = failure_kind::ambiguous;
  return outcome;
}

RETRYHTTP_TESTING_DECL fake_transport::fake_transport(fake_clock clock)
    : state_(new state(std::move(clock))) {}  // not make_shared: see fake_clock::make_state

RETRYHTTP_TESTING_DECL fake_transport& fake_transport::then(scripted_outcome outcome) {
  std::lock_guard lock(state_->mutex);
  state_->script.push_back(std::shared_ptr<const scripted_outcome>(new scripted_outcome(std::move(outcome))));
  return *this;
}

RETRYHTTP_TESTING_DECL fake_transport& fake_transport::otherwise(scripted_outcome outcome) {
  std::lock_guard lock(state_->mutex);
  state_->fallback.reset(new scripted_outcome(std::move(outcome)));
  return *this;
}

RETRYHTTP_TESTING_DECL fake_transport& fake_transport::repeat_script(bool repeat) {
  std::lock_guard lock(state_->mutex);
  state_->repeat = repeat;
  return *this;
}

RETRYHTTP_TESTING_DECL fake_transport& fake_transport::record_requests(bool keep) {
  std::lock_guard lock(state_->mutex);
  state_->keep_requests = keep;
  return *this;
}

RETRYHTTP_TESTING_DECL void fake_transport::clear_record() {
  std::lock_guard lock(state_->mutex);
  state_->record.clear();
  state_->attempt_count = 0;
}

RETRYHTTP_TESTING_DECL attempt_outcome<fake_transport::response_type> fake_transport::attempt(
    const request_type& request, const attempt_context& context) {
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

RETRYHTTP_TESTING_DECL scripted_outcome fake_transport::take_next_step() {
  return *next_step();
}

RETRYHTTP_TESTING_DECL attempt_outcome<fake_transport::response_type> fake_transport::scripted_result(
    const scripted_outcome& step) {
  if (step.what() == scripted_outcome::kind::fail)
    return transport_failure{step.failure(), step.code(), {}, step.is_permanent()};
  response_type response;
  response.version(11);
  response.result(step.status());
  response.body() = step.body_text();
  if (step.write_fields_) step.write_fields_(response, step.headers());
  return response;
}

RETRYHTTP_TESTING_DECL void fake_transport::record_attempt(const request_type& request,
                                                           const attempt_context& context,
                                                           fake_clock::time_point started,
                                                           const attempt_outcome<response_type>& outcome) {
  const auto ended = state_->clock.now();
  std::lock_guard lock(state_->mutex);
  ++state_->attempt_count;
  if (state_->keep_requests)
    state_->record.push_back({detail::record_request(request), context.attempt, context.timeout, started,
                              ended, outcome.observe()});
}

RETRYHTTP_TESTING_DECL std::size_t fake_transport::attempt_count() const {
  std::lock_guard lock(state_->mutex);
  return state_->attempt_count;
}

RETRYHTTP_TESTING_DECL std::vector<fake_transport::recorded_attempt> fake_transport::attempts() const {
  std::lock_guard lock(state_->mutex);
  std::vector<recorded_attempt> made;
  made.reserve(state_->record.size());
  for (const auto& entry : state_->record)
    made.push_back({detail::rebuild_request(entry.request), entry.attempt, entry.timeout, entry.started,
                    entry.ended, entry.result});
  return made;
}

RETRYHTTP_TESTING_DECL std::vector<fake_transport::request_type> fake_transport::requests() const {
  std::lock_guard lock(state_->mutex);
  std::vector<request_type> sent;
  sent.reserve(state_->record.size());
  for (const auto& entry : state_->record) sent.push_back(detail::rebuild_request(entry.request));
  return sent;
}

RETRYHTTP_TESTING_DECL std::size_t fake_transport::remaining() const {
  std::lock_guard lock(state_->mutex);
  return state_->script.size() - state_->position;
}

RETRYHTTP_TESTING_DECL std::shared_ptr<const scripted_outcome> fake_transport::next_step() {
  std::lock_guard lock(state_->mutex);
  if (state_->repeat && state_->position == state_->script.size()) state_->position = 0;
  if (state_->position < state_->script.size()) return state_->script[state_->position++];
  if (state_->fallback) return state_->fallback;
  detail::throw_script_used_up(state_->attempt_count + 1, state_->script.size());
}

RETRYHTTP_TESTING_DECL attempt_outcome<fake_transport::response_type> fake_transport::play(
    const scripted_outcome& step, const attempt_context& context, fake_clock& clock) {
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

}  // namespace retryhttp::testing

#endif  // RETRYHTTP_TESTING_IMPL_FAKE_TRANSPORT_IPP
