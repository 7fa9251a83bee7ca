#include <retryhttp/idempotency_key.hpp>

#include <retryhttp/client.hpp>
#include <retryhttp/testing/fake_clock.hpp>
#include <retryhttp/testing/fake_transport.hpp>
#include <vmm/orchestrator_idempotency.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <catch2/catch.hpp>

#include <random>
#include <regex>
#include <set>
#include <string>

// This file's code in a namespace of its own, so that a test program may compile it in one unit with others
// (a unity build, tests/meson.build).
namespace test_idempotency_key {

namespace t = retryhttp::testing;
namespace http = boost::beast::http;
using retryhttp::idempotency_keys;
using retryhttp::keyed_route;

namespace {
using orchestrator_client = retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff,
                                                    t::fake_clock, vmm::orchestrator_idempotency>;
/// A client of the orchestrator's rules with keyed creates, reproducible keys and delays.
orchestrator_client keyed_client(const t::fake_clock& clock) {
  return orchestrator_client{{},
                             t::fake_transport{clock},
                             retryhttp::exponential_backoff{1},
                             clock,
                             vmm::orchestrator_idempotency{true, 99}};
}
}  // namespace

TEST_CASE("keys are UUID v4: version 4, variant 10xx, all different", "[idempotency_key]") {
  retryhttp::detail::splitmix64 random{1};
  const std::regex shape("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const auto key = retryhttp::make_uuid_v4(random);
    CAPTURE(key);
    REQUIRE(std::regex_match(key, shape));
    seen.insert(key);
  }
  CHECK(seen.size() == 1000);
  std::mt19937_64 standard{7};  // a standard generator works as well
  CHECK(std::regex_match(retryhttp::make_uuid_v4(standard), shape));
}

TEST_CASE("a keyed route gets a key and becomes safe with it; other routes are the inner policy's",
          "[idempotency_key]") {
  const idempotency_keys<> policy{{{http::verb::post, "/v1/orders"}}, {}, 7};
  const http::request<http::empty_body> order{http::verb::post, "/v1/orders", 11};
  const http::request<http::empty_body> other{http::verb::post, "/v1/other", 11};
  CHECK_FALSE(policy.is_idempotent(order));  // no key yet
  const auto key = policy.key_for(order);
  REQUIRE(key);
  auto keyed = order;
  keyed.set("Idempotency-Key", *key);
  CHECK(policy.is_idempotent(keyed));
  CHECK_FALSE(policy.key_for(keyed));  // a caller's key is kept
  CHECK_FALSE(policy.key_for(other));
  CHECK_FALSE(policy.is_idempotent(other));
  CHECK(policy.is_idempotent(http::request<http::empty_body>{http::verb::get, "/v1/orders", 11}));
  // Seeded policies give reproducible keys; each call a new one.
  const idempotency_keys<> same_seed{{{http::verb::post, "/v1/orders"}}, {}, 7};
  CHECK(same_seed.key_for(order) == key);
  CHECK(same_seed.key_for(order) != key);
}

TEST_CASE("a keyed create whose response is lost is retried with the same key, once per call",
          "[idempotency_key][client]") {
  t::fake_clock clock;
  auto client = keyed_client(clock);
  client.transport().script({t::reset_connection(), t::respond(503), t::respond(201), t::respond(201)});
  const t::fake_transport::request_type create{http::verb::post, "/v1/vms", 11, R"({"name":"a"})"};
  REQUIRE(client.send(create).ok());
  REQUIRE(client.send(create).ok());
  const auto sent = client.transport().requests();
  REQUIRE(sent.size() == 4);
  const std::string first_key(sent[0]["Idempotency-Key"]);
  CHECK(first_key.size() == 36);
  CHECK(sent[1]["Idempotency-Key"] == first_key);
  CHECK(sent[2]["Idempotency-Key"] == first_key);
  CHECK(sent[3]["Idempotency-Key"] != first_key);  // a new logical call, a new key
  CHECK(create.count("Idempotency-Key") == 0);     // the caller's request is untouched
}

TEST_CASE("without keys, the orchestrator policy sends no header and never retries create",
          "[idempotency_key][client]") {
  t::fake_clock clock;
  retryhttp::basic_client<t::fake_transport, retryhttp::exponential_backoff, t::fake_clock,
                          vmm::orchestrator_idempotency>
      client{{}, t::fake_transport{clock}, retryhttp::exponential_backoff{1}, clock};
  client.transport().script({t::reset_connection(), t::respond(201)});
  CHECK(client.send({http::verb::post, "/v1/vms", 11}).error() == retryhttp::error::may_have_been_applied);
  CHECK(client.transport().requests().at(0).count("Idempotency-Key") == 0);
  CHECK(client.transport().attempt_count() == 1);
}

TEST_CASE("a blank key is no key: the policy replaces it, and never calls a request with it safe",
          "[idempotency_key]") {
  const idempotency_keys<> policy{{{http::verb::post, "/v1/orders"}}, {}, 7};
  const std::string blank = GENERATE(as<std::string>{}, "", " ", "\t", "  \t ");
  CAPTURE(blank);
  http::request<http::empty_body> order{http::verb::post, "/v1/orders", 11};
  order.set("Idempotency-Key", blank);
  CHECK_FALSE(policy.is_idempotent(order));
  const auto key = policy.key_for(order);
  REQUIRE(key);
  CHECK(retryhttp::is_usable_key(*key));
}

TEST_CASE("only a usable key makes a keyed route safe", "[idempotency_key]") {
  const idempotency_keys<> policy{{{http::verb::post, "/v1/orders"}}, {}, 7};
  using row = std::tuple<std::string, bool>;
  const auto [key, usable] = GENERATE(table<std::string, bool>({
      row{"8e03978e-40d5-43e8-bc93-6894a57f9324", true},
      row{"\"quoted key\"", true},
      row{"k", true},
      row{std::string(255, 'k'), true},
      row{std::string(256, 'k'), false},
      row{" k", false},
      row{"k ", false},
      row{"a\r\nX-Injected: 1", false},
      row{std::string("a\0b", 3), false},
      row{"caf\xc3\xa9", false},
  }));
  CAPTURE(key);
  CHECK(retryhttp::is_usable_key(key) == usable);
  http::request<http::empty_body> order{http::verb::post, "/v1/orders", 11};
  order.set("Idempotency-Key", key);
  // Beast trims the spaces around a field's value when it is set, as they are not part of it on the wire:
  // " k" is stored, and sent, as the usable key "k".
  const bool trimmed_by_beast = key == " k" || key == "k ";
  CHECK(policy.is_idempotent(order) == (usable || trimmed_by_beast));
  CHECK_FALSE(policy.key_for(order));  // present and not blank: the caller's, kept as it is
}

TEST_CASE("a keyed create with a blank key is sent with a fresh key, so its retry cannot create twice",
          "[idempotency_key][client]") {
  t::fake_clock clock;
  auto client = keyed_client(clock);
  client.transport().script({t::reset_connection(), t::respond(201)});
  t::fake_transport::request_type create{http::verb::post, "/v1/vms", 11, R"({"name":"a"})"};
  create.set("Idempotency-Key", " ");
  REQUIRE(client.send(create).ok());
  const auto sent = client.transport().requests();
  REQUIRE(sent.size() == 2);
  const std::string key(sent[0]["Idempotency-Key"]);
  CHECK(key.size() == 36);
  CHECK(sent[0].count("Idempotency-Key") == 1);
  CHECK(sent[1]["Idempotency-Key"] == key);
}

TEST_CASE("a create carrying an unusable key keeps it, is judged unsafe, and is never re-sent",
          "[idempotency_key][client]") {
  t::fake_clock clock;
  auto client = keyed_client(clock);
  client.transport().script({t::reset_connection(), t::respond(201)});
  t::fake_transport::request_type create{http::verb::post, "/v1/vms", 11, R"({"name":"a"})"};
  create.set("Idempotency-Key", "a\r\nb");  // present, not blank, unusable: kept, and the create is unsafe
  CHECK(client.send(create).error() == retryhttp::error::may_have_been_applied);
  CHECK(client.transport().attempt_count() == 1);
}

namespace {
struct key_as_a_view {  // key_for of the wrong type: a compile error in basic_client, not a key never sent
  bool is_idempotent(const retryhttp::request_header&) const { return true; }
  std::optional<std::string_view> key_for(const retryhttp::request_header&) const { return "k"; }
  std::string_view key_header() const { return "Idempotency-Key"; }
};
struct key_without_its_header {
  bool is_idempotent(const retryhttp::request_header&) const { return true; }
  std::optional<std::string> key_for(const retryhttp::request_header&) const { return "k"; }
};
struct fitting_keys {
  bool is_idempotent(const retryhttp::request_header&) const { return true; }
  std::optional<std::string> key_for(const retryhttp::request_header&) const { return "k"; }
  std::string_view key_header() const { return "Idempotency-Key"; }
};
}  // namespace

TEST_CASE("a policy with a key_for that does not fit is detected: the condition basic_client static_asserts",
          "[idempotency_key]") {
  namespace d = retryhttp::detail;
  STATIC_REQUIRE(d::names_key_for<key_as_a_view>());
  STATIC_REQUIRE_FALSE(d::key_for_is_usable<key_as_a_view>);
  STATIC_REQUIRE_FALSE(d::key_for_is_usable<key_without_its_header>);
  STATIC_REQUIRE(d::key_for_is_usable<fitting_keys>);
  STATIC_REQUIRE(d::issues_idempotency_keys<fitting_keys>);
  STATIC_REQUIRE(d::key_for_is_usable<retryhttp::method_idempotency>);  // no key_for: no keys, fine
  STATIC_REQUIRE_FALSE(d::names_key_for<retryhttp::method_idempotency>());
  STATIC_REQUIRE(d::key_for_is_usable<retryhttp::idempotency_keys<retryhttp::method_idempotency>>);
}

}  // namespace test_idempotency_key
