// What the sidecar's revocation (sidecar/sync/revocation_runner.h) relies on Vault to do, pinned
// against the emulator core. Each case names the Vault source it follows (hashicorp/vault):
//   (a) a token's policies are fixed at login; role changes and renewal keep them
//   (b) auth/token/revoke-accessor really kills the token; an unknown accessor is not an error
//   (c) LIST auth/token/accessors is root-protected (sudo)
//   (d) auth/token/lookup-accessor: meta.role_name (lowercase), policies, creation_time (Unix s)
//   (e) secret-id-accessor/lookup and /destroy: RFC 3339 times, the unknown-accessor answers,
//       and a destroyed secret ID no longer logs in
//   (f) deleting a role: 204 even when missing, issued tokens live on; listing a missing role's
//       secret IDs is a 400
#include <boost/test/unit_test.hpp>

#include "tests/vault/emulator/emulator_fixture.h"

using namespace ps::vault::emulator;
using namespace ps::vault::emulator::testing;
using namespace std::chrono_literals;

namespace {

const std::string kRole = "/v1/auth/approle/role/";
const std::string kLogin = "/v1/auth/approle/login";
const std::string kLookupSelf = "/v1/auth/token/lookup-self";
const std::string kRenewSelf = "/v1/auth/token/renew-self";
const std::string kLookupAccessor = "/v1/auth/token/lookup-accessor";
const std::string kRevokeAccessor = "/v1/auth/token/revoke-accessor";
const std::string kAccessors = "/v1/auth/token/accessors";

// The simulated clock starts at Unix second 1,800,000,000.
constexpr std::int64_t kStart = 1'800'000'000;

json token_policies(const std::string& list) { return {{"token_policies", list}}; }

}  // namespace

BOOST_AUTO_TEST_SUITE(emulator_revocation_pins)

// ---- (a) ---------------------------------------------------------------------------------------
// builtin/credential/approle/path_login.go: pathLogin copies role.TokenPolicies into the Auth
// once (role.PopulateTokenAuth); pathLoginRenew answers with req.Auth (the original auth)
// updating only TTL, MaxTTL and Period. vault/token_store.go stores TokenEntry.Policies at
// creation and nothing rewrites them.
BOOST_AUTO_TEST_CASE(a_tokens_policies_are_fixed_at_login_whatever_the_role_says_later) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("agent-1", token_policies("t2-observer,db-readonly"));
  json old = v.login(role_id, secret);
  const json issued = {"db-readonly", "default", "t2-observer"};
  BOOST_TEST(old["policies"] == issued);

  // The sidecar's demotion: the per-field endpoint; then a full role write for good measure.
  BOOST_TEST(v.post(kRole + "agent-1/policies", token_policies("t0-observer,db-readonly")).status == 204);
  BOOST_TEST(v.post(kRole + "agent-1", token_policies("t0-observer")).status == 204);

  BOOST_TEST(v.get(kLookupSelf, old["client_token"]).body["data"]["policies"] == issued);
  BOOST_TEST(v.post(kLookupAccessor, {{"accessor", old["accessor"]}}).body["data"]["policies"] == issued);

  // Renewal keeps them, in the answer and in the token.
  v.clock.advance(60s);
  auto renewed = v.post(kRenewSelf, json::object(), old["client_token"]);
  BOOST_TEST(renewed.status == 200);
  BOOST_TEST(renewed.body["auth"]["policies"] == issued);
  BOOST_TEST(renewed.body["auth"]["token_policies"] == issued);
  BOOST_TEST(v.get(kLookupSelf, old["client_token"]).body["data"]["policies"] == issued);

  // Only a new login sees the role's current list.
  std::string secret2 = v.post(kRole + "agent-1/secret-id", json::object()).body["data"]["secret_id"];
  BOOST_TEST(v.login(role_id, secret2)["policies"] == json({"default", "t0-observer"}));
}

BOOST_AUTO_TEST_CASE(a_periodic_token_keeps_its_login_policies_across_many_renewals) {
  Vault v;
  auto [role_id, secret] =
      v.role_with_secret("agent-2", {{"token_policies", "t3-observer"}, {"token_period", "1h"}});
  json a = v.login(role_id, secret);
  v.post(kRole + "agent-2/policies", token_policies("t0-observer"));
  for (int i = 0; i < 5; ++i) {
    v.clock.advance(50min);
    auto r = v.post(kRenewSelf, json::object(), a["client_token"]);
    BOOST_REQUIRE(r.status == 200);
    BOOST_TEST(r.body["auth"]["lease_duration"] == 3600);
    BOOST_TEST(r.body["auth"]["policies"] == json({"default", "t3-observer"}));
  }
  // Still alive after longer than any single TTL: only revocation ends it.
  BOOST_TEST(v.get(kLookupSelf, a["client_token"]).status == 200);
}

// ---- (b) ---------------------------------------------------------------------------------------
// vault/token_store.go handleUpdateRevokeAccessor: looks the accessor up and revokes the token
// through the expiration manager (the token and its children; vault/expiration.go Revoke ->
// revokeEntry -> tokenStore.revokeTree), answering nil (204). A dead token then fails
// vault/request_handling.go's token check on every authenticated path with
// ErrPermissionDenied + ErrInvalidToken (Vault 1.17+ TestCore_HandleRequest_TokenErrInvalidToken).
BOOST_AUTO_TEST_CASE(b_revoke_accessor_kills_the_token_on_every_authenticated_path) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("agent-3", token_policies("reader"));
  v.put_policy("reader", {{"path", {{"auth/approle/role/agent-3", {{"capabilities", {"read"}}}}}}});
  json a = v.login(role_id, secret);
  const std::string token = a["client_token"];
  BOOST_REQUIRE(v.get(kRole + "agent-3", token).status == 200);

  auto r = v.post(kRevokeAccessor, {{"accessor", a["accessor"]}});
  BOOST_TEST(r.status == 204);
  BOOST_TEST(r.raw.empty());

  for (const auto& reply : {v.get(kLookupSelf, token), v.post(kLookupSelf, json::object(), token),
                            v.post(kRenewSelf, json::object(), token), v.get(kRole + "agent-3", token),
                            v.get("/v1/sys/capabilities-self", token)}) {
    BOOST_TEST(reply.status == 403);
    BOOST_TEST(reply.error() == kInvalidToken);  // "permission denied" and "invalid token"
  }
  // Gone from the accessor index too.
  auto listed = v.list(kAccessors);
  BOOST_TEST(listed.body["data"]["keys"].dump().find(a["accessor"].get<std::string>()) == std::string::npos);
  auto look = v.post(kLookupAccessor, {{"accessor", a["accessor"]}});
  BOOST_TEST(look.status == 400);
  BOOST_TEST(look.error() == "1 error occurred:\n\t* invalid accessor\n\n");
}

BOOST_AUTO_TEST_CASE(b_revoke_accessor_also_revokes_the_tokens_children) {
  Vault v;
  v.put_policy("creator", {{"path", {{"auth/token/create", {{"capabilities", {"update"}}}}}}});
  json parent = v.post("/v1/auth/token/create", {{"policies", {"creator"}}, {"ttl", "1h"}}).body["auth"];
  json child = v.post("/v1/auth/token/create", {{"policies", {"creator"}}}, parent["client_token"]).body["auth"];
  BOOST_REQUIRE(child.is_object());
  BOOST_TEST(v.post(kRevokeAccessor, {{"accessor", parent["accessor"]}}).status == 204);
  BOOST_TEST(v.get(kLookupSelf, parent["client_token"]).error() == kInvalidToken);
  BOOST_TEST(v.get(kLookupSelf, child["client_token"]).error() == kInvalidToken);
}

// vault/token_store.go handleUpdateRevokeAccessor since Vault 1.10 (hashicorp/vault#13661,
// "auth/token/revoke-accessor is now idempotent"): lookupByAccessor finds no entry and the
// handler answers a response carrying only the warning "No token found with this accessor",
// which http/logical.go respondLogical sends as a 200 envelope. Before 1.10 it was 400
// "invalid accessor" (lookupByAccessor's StatusBadRequest). A missing accessor parameter is still
// a StatusBadRequest Go error: 400 in go-multierror form.
BOOST_AUTO_TEST_CASE(b_revoking_an_unknown_or_already_revoked_accessor_is_a_200_with_a_warning) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("agent-4");
  json a = v.login(role_id, secret);
  BOOST_TEST(v.post(kRevokeAccessor, {{"accessor", a["accessor"]}}).status == 204);
  for (const std::string& accessor : {a["accessor"].get<std::string>(), std::string("no-such-accessor")}) {
    auto again = v.post(kRevokeAccessor, {{"accessor", accessor}});
    BOOST_TEST(again.status == 200);
    BOOST_TEST(again.body["data"].is_null());
    BOOST_TEST(again.body["warnings"] == json({"No token found with this accessor"}));
  }
  auto missing = v.post(kRevokeAccessor, json::object());
  BOOST_TEST(missing.status == 400);
  BOOST_TEST(missing.error() == "1 error occurred:\n\t* missing accessor\n\n");
}

// An expired token's lease has been revoked by vault/expiration.go by the time anyone asks, so
// its accessor is unknown: revoke-accessor answers like (b) above, lookup-accessor 400.
BOOST_AUTO_TEST_CASE(b_an_expired_tokens_accessor_is_already_gone) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("agent-5", {{"token_ttl", 60}});
  json a = v.login(role_id, secret);
  v.clock.advance(61s);
  BOOST_TEST(v.post(kLookupAccessor, {{"accessor", a["accessor"]}}).status == 400);
  auto r = v.post(kRevokeAccessor, {{"accessor", a["accessor"]}});
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body["warnings"] == json({"No token found with this accessor"}));
  BOOST_TEST(v.get(kLookupSelf, a["client_token"]).error() == kInvalidToken);
}

// ---- (c) ---------------------------------------------------------------------------------------
// vault/token_store.go: PathsSpecial.Root = {"revoke-orphan/*", "accessors*"}; vault/acl.go
// AllowOperation requires the sudo capability on root paths, and vault/request_handling.go
// answers a denied request with ErrPermissionDenied (403, no "invalid token": the token is fine).
BOOST_AUTO_TEST_CASE(c_listing_token_accessors_needs_sudo_not_just_list) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("agent-6", token_policies("lister"));
  v.put_policy("lister", {{"path", {{"auth/token/accessors", {{"capabilities", {"list"}}}}}}});
  std::string token = v.login(role_id, secret)["client_token"];
  for (const auto& denied : {v.list(kAccessors, token),
                             v.call("GET", kAccessors, nullptr, token, {}, "list=true")}) {
    BOOST_TEST(denied.status == 403);
    BOOST_TEST(denied.error() == kPermissionDenied);
  }
  v.put_policy("lister", {{"path", {{"auth/token/accessors", {{"capabilities", {"list", "sudo"}}}}}}});
  auto allowed = v.call("GET", kAccessors, nullptr, token, {}, "list=true");
  BOOST_TEST(allowed.status == 200);
  BOOST_TEST(allowed.body["data"]["keys"].size() == 2u);  // the root token's and this one's
  BOOST_TEST(v.list(kAccessors).status == 200);            // root has every capability
}

// ---- (d) ---------------------------------------------------------------------------------------
// vault/token_store.go handleUpdateLookupAccessor -> handleLookup: data.id blanked, meta,
// policies, creation_time = int64(TokenEntry.CreationTime) (Unix seconds, set at creation).
// builtin/credential/approle/path_login.go puts metadata role_name = role.name, and
// path_role.go stores new roles with LowerCaseRoleName, so the name is the lowercased one.
BOOST_AUTO_TEST_CASE(d_lookup_accessor_shows_the_lowercase_role_name_policies_and_unix_creation_time) {
  Vault v;
  v.clock.advance(1500ms);
  auto [role_id, secret] = v.role_with_secret("Agent-7", token_policies("T1-Observer"));
  json a = v.login(role_id, secret);
  v.clock.advance(10min);
  auto r = v.post(kLookupAccessor, {{"accessor", a["accessor"]}});
  BOOST_TEST(r.status == 200);
  json d = r.body["data"];
  BOOST_TEST(d["id"] == "");
  BOOST_TEST(d["accessor"] == a["accessor"]);
  BOOST_TEST(d["meta"] == json({{"role_name", "agent-7"}}));
  BOOST_TEST(d["policies"] == json({"default", "t1-observer"}));
  BOOST_TEST(d["creation_time"].is_number_integer());
  BOOST_TEST(d["creation_time"] == kStart + 1);  // whole seconds, not the lookup's time
  BOOST_TEST(d["path"] == "auth/approle/login");
  // lookup-accessor is an update operation.
  BOOST_TEST(v.get(kLookupAccessor).status == 405);
}

// ---- (e) ---------------------------------------------------------------------------------------
// builtin/credential/approle/path_role.go: pathRoleSecretIDAccessorLookupUpdate answers
// secretIDStorageEntry.ToResponseData (creation_time a Go time.Time, so RFC 3339 with
// nanoseconds, trailing zeros trimmed) and, for an unknown accessor, an ErrorResponse with
// status 404 "failed to find accessor entry for secret_id_accessor: %q";
// pathRoleSecretIDAccessorDestroyUpdateDelete deletes the accessor and the secret ID (nil: 204)
// and returns a plain Go error (500) for an unknown accessor. path_login.go then finds no
// secret ID: 400 "invalid role or secret ID".
BOOST_AUTO_TEST_CASE(e_secret_id_accessor_lookup_gives_rfc3339_times_and_404_when_unknown) {
  Vault v;
  v.clock.advance(2500ms);
  v.post(kRole + "agent-8", json::object());
  json created = v.post(kRole + "agent-8/secret-id", json::object()).body["data"];
  v.clock.advance(1h);
  auto r = v.post(kRole + "agent-8/secret-id-accessor/lookup",
                  {{"secret_id_accessor", created["secret_id_accessor"]}});
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.body["data"]["creation_time"] == "2027-01-15T08:00:02.5Z");
  BOOST_TEST(r.body["data"]["last_updated_time"] == "2027-01-15T08:00:02.5Z");
  BOOST_TEST(r.body["data"]["secret_id_accessor"] == created["secret_id_accessor"]);
  BOOST_TEST(!r.body["data"].contains("secret_id"));

  auto unknown = v.post(kRole + "agent-8/secret-id-accessor/lookup", {{"secret_id_accessor", "nope"}});
  BOOST_TEST(unknown.status == 404);
  BOOST_TEST(unknown.error() == "failed to find accessor entry for secret_id_accessor: \"nope\"");
}

BOOST_AUTO_TEST_CASE(e_a_destroyed_secret_id_no_longer_logs_in_and_an_unknown_accessor_is_a_500) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("agent-9");
  std::string accessor =
      v.post(kRole + "agent-9/secret-id/lookup", {{"secret_id", secret}}).body["data"]["secret_id_accessor"];
  json a = v.login(role_id, secret);  // a token issued before the destroy

  auto d = v.post(kRole + "agent-9/secret-id-accessor/destroy", {{"secret_id_accessor", accessor}});
  BOOST_TEST(d.status == 204);
  BOOST_TEST(d.raw.empty());
  auto login = v.post(kLogin, {{"role_id", role_id}, {"secret_id", secret}}, "");
  BOOST_TEST(login.status == 400);
  BOOST_TEST(login.error() == "invalid role or secret ID");
  BOOST_TEST(v.list(kRole + "agent-9/secret-id").status == 404);  // no accessors left
  BOOST_TEST(v.post(kRole + "agent-9/secret-id-accessor/lookup", {{"secret_id_accessor", accessor}}).status == 404);

  auto again = v.post(kRole + "agent-9/secret-id-accessor/destroy", {{"secret_id_accessor", accessor}});
  BOOST_TEST(again.status == 500);
  BOOST_TEST(again.error() ==
             "1 error occurred:\n\t* failed to find accessor entry for secret_id_accessor: \"" + accessor +
                 "\"\n\n");
  // AppRole does not link tokens to secret IDs: the earlier token is untouched.
  BOOST_TEST(v.get(kLookupSelf, a["client_token"]).status == 200);
}

// ---- (f) ---------------------------------------------------------------------------------------
// builtin/credential/approle/path_role.go pathRoleDelete: a missing role returns nil (204);
// otherwise it flushes the role's secret IDs and role_id index and deletes the role; it never
// touches the token store. pathRoleSecretIDList: a missing role is
// logical.ErrorResponse("role %q does not exist") with a nil error, so 400 with the bare text
// (sdk/logical/response_util.go RespondErrorCommon).
BOOST_AUTO_TEST_CASE(f_deleting_a_role_answers_204_even_when_missing_and_revokes_nothing) {
  Vault v;
  auto [role_id, secret] = v.role_with_secret("agent-10", token_policies("t2-observer"));
  json a = v.login(role_id, secret);

  auto gone = v.del(kRole + "agent-10");
  BOOST_TEST(gone.status == 204);
  BOOST_TEST(gone.raw.empty());
  auto missing = v.del(kRole + "never-existed");
  BOOST_TEST(missing.status == 204);
  BOOST_TEST(missing.raw.empty());
  BOOST_TEST(v.del(kRole + "agent-10").status == 204);  // twice

  // The token lives on with its policies and still names its role, so it can be found and
  // revoked by accessor.
  auto self = v.get(kLookupSelf, a["client_token"]);
  BOOST_TEST(self.status == 200);
  BOOST_TEST(self.body["data"]["policies"] == json({"default", "t2-observer"}));
  auto look = v.post(kLookupAccessor, {{"accessor", a["accessor"]}});
  BOOST_TEST(look.body["data"]["meta"]["role_name"] == "agent-10");
  BOOST_TEST(v.post(kRevokeAccessor, {{"accessor", a["accessor"]}}).status == 204);
  BOOST_TEST(v.get(kLookupSelf, a["client_token"]).error() == kInvalidToken);
}

BOOST_AUTO_TEST_CASE(f_listing_the_secret_ids_of_a_missing_role_is_a_400) {
  Vault v;
  for (const char* name : {"ghost", "Ghost"}) {
    auto r = v.list(kRole + name + "/secret-id");
    BOOST_TEST(r.status == 400);
    BOOST_TEST(r.error() == std::string("role \"") + name + "\" does not exist");
    auto g = v.call("GET", kRole + name + "/secret-id", nullptr, "\x01root", {}, "list=true");
    BOOST_TEST(g.status == 400);
  }
  // A role that exists but has no secret ID: the empty-list 404.
  v.post(kRole + "empty", json::object());
  auto none = v.list(kRole + "empty/secret-id");
  BOOST_TEST(none.status == 404);
  BOOST_TEST(none.body == json({{"errors", json::array()}}));
}

BOOST_AUTO_TEST_SUITE_END()
