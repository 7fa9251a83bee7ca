#include <retryhttp/transport.hpp>

#include <boost/beast/http/string_body.hpp>
#include <boost/system/errc.hpp>
#include <catch2/catch.hpp>

#include <string>
#include <utility>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_transport {

namespace http = boost::beast::http;
using retryhttp::attempt_outcome;
using retryhttp::failure_kind;
using retryhttp::observed_outcome;
using retryhttp::transport_failure;
using response = http::response<http::string_body>;

TEST_CASE("an attempt_outcome holds a response or a failure and observes it for the decision",
          "[transport]") {
  attempt_outcome<response> answered{response{http::status::service_unavailable, 11}};
  REQUIRE(answered.has_response());
  CHECK(answered.response().result_int() == 503);
  CHECK(answered.observe() == observed_outcome::response(503));

  attempt_outcome<response> refused{transport_failure{
      failure_kind::not_sent, make_error_code(boost::system::errc::connection_refused), {}}};
  REQUIRE_FALSE(refused.has_response());
  CHECK(refused.failure().kind == failure_kind::not_sent);
  CHECK(refused.observe() == observed_outcome::not_sent());

  attempt_outcome<response> reset{
      transport_failure{failure_kind::ambiguous, make_error_code(boost::system::errc::connection_reset), {}}};
  CHECK(reset.observe() == observed_outcome::ambiguous());
}

TEST_CASE("a transport_failure's message is its error's, with the detail after it", "[transport]") {
  transport_failure failure{failure_kind::ambiguous, make_error_code(boost::system::errc::bad_message),
                            "the reply is not HTTP"};
  CHECK(failure.message()
        == make_error_code(boost::system::errc::bad_message).message() + " (the reply is not HTTP)");
  CHECK(transport_failure{}.message() == "failed");
  CHECK(std::string(retryhttp::to_string(failure_kind::not_sent)) == "not sent");
  CHECK(std::string(retryhttp::to_string(failure_kind::ambiguous)) == "ambiguous");
}

namespace {
struct copy_counts {
  int copies = 0;
  int moves = 0;
};

/// A body whose value counts how often it is copied and moved, and leaves nothing behind when moved from.
struct counted_body {
  struct value_type {
    copy_counts* counts = nullptr;
    std::string text;

    value_type() = default;
    value_type(copy_counts* c, std::string t) : counts(c), text(std::move(t)) {}
    value_type(const value_type& other) : counts(other.counts), text(other.text) {
      count(&copy_counts::copies);
    }
    value_type(value_type&& other) noexcept : counts(other.counts), text(std::exchange(other.text, {})) {
      count(&copy_counts::moves);
    }
    value_type& operator=(const value_type& other) {
      counts = other.counts;
      text = other.text;
      count(&copy_counts::copies);
      return *this;
    }
    value_type& operator=(value_type&& other) noexcept {
      counts = other.counts;
      text = std::exchange(other.text, {});
      count(&copy_counts::moves);
      return *this;
    }
    void count(int copy_counts::*which) const noexcept {
      if (counts != nullptr) ++(counts->*which);
    }
    ~value_type() = default;
  };
};
}  // namespace

TEST_CASE("moving the response out of an outcome leaves no copy behind", "[transport]") {
  SECTION("the body's storage itself moves: the taken response holds the very bytes the outcome held") {
    attempt_outcome<response> outcome{response{http::status::ok, 11, std::string(1000, 'x')}};
    const void* const bytes = outcome.response().body().data();
    response taken = std::move(outcome).response();
    CHECK(taken.body().size() == 1000);
    // Not a copy: a copy of 1,000 bytes would be in a new allocation.
    CHECK(static_cast<const void*>(taken.body().data()) == bytes);
    CHECK(outcome.response().body().empty());  // NOLINT(bugprone-use-after-move): nothing left behind
  }
  SECTION("not one copy of the body, and one move, the one out of the outcome") {
    using counted_response = http::response<counted_body>;
    copy_counts counts;
    counted_response made{http::status::ok, 11};
    made.body() = counted_body::value_type(&counts, std::string(1000, 'x'));
    attempt_outcome<counted_response> outcome{std::move(made)};
    counts = {};  // only what taking the response out costs
    counted_response taken = std::move(outcome).response();
    CHECK(counts.copies == 0);
    CHECK(counts.moves == 1);
    CHECK(taken.body().text == std::string(1000, 'x'));
    CHECK(outcome.response().body().text.empty());  // NOLINT(bugprone-use-after-move)
  }
}

}  // namespace test_transport
