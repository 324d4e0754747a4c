// Conformance: certfleet's own ACME server (issue #16, store/acme_server.h): EAB keys, ACME
// accounts, orders, authorizations and challenges.
#include <string>
#include <vector>

#include "store/conformance_test.h"

namespace certfleet::store::testing {
namespace {

const std::string kAcc1 = TestId(model::kAccountPrefix, 1);
const std::string kAcc2 = TestId(model::kAccountPrefix, 2);
const std::string kUnknownAccount = TestId(model::kAccountPrefix, 9);

std::string Eab(int n) { return TestId("eab", n); }
std::string Acct(int n) { return TestId("acct", n); }
std::string Ord(int n) { return TestId("ord", n); }
std::string Az(int n) { return TestId("az", n); }
std::string Ch(int n) { return TestId("ch", n); }

AcmeEabKey MakeEab(int n, const std::string& account_id) {
  return {.kid = Eab(n),
          .account_id = account_id,
          .principal_id = TestId(model::kPrincipalPrefix, n),
          .hmac_blob_id = TestId(model::kBlobPrefix, n),
          .tags = {{"env", "prod"}, {"team", "web-" + std::to_string(n)}},
          .created_by = TestId(model::kPrincipalPrefix, 100),
          .created_at = T(n),
          .expires_at = std::nullopt};
}

AcmeServerAccount MakeAcmeAccount(int n, const std::string& account_id) {
  return {.id = Acct(n),
          .account_id = account_id,
          .principal_id = TestId(model::kPrincipalPrefix, n),
          .eab_kid = Eab(n),
          .jwk_thumbprint = "thumb-" + std::to_string(n),
          .jwk = R"({"crv":"P-256","kty":"EC","x":"x)" + std::to_string(n) + R"(","y":"y"})",
          .status = "valid",
          .contact = {"mailto:ops" + std::to_string(n) + "@example.test"},
          .tags = {{"env", "prod"}},
          .created_at = T(n),
          .updated_at = T(n)};
}

AcmeServerOrder MakeOrder(int n, const std::string& acme_account_id, const std::string& account_id,
                          TimePoint created_at) {
  return {.id = Ord(n),
          .acme_account_id = acme_account_id,
          .account_id = account_id,
          .status = "pending",
          .identifiers = {{.type = "dns", .value = "www" + std::to_string(n) + ".example.test"},
                          {.type = "ip", .value = "192.0.2." + std::to_string(n)}},
          .profile = "tls-server",
          .replaces = "",
          .expires_at = created_at + std::chrono::hours(24 * 7),
          .created_at = created_at,
          .updated_at = created_at};
}

AcmeServerAuthz MakeAuthz(int n, const AcmeServerOrder& order, TimePoint expires_at) {
  return {.id = Az(n),
          .order_id = order.id,
          .acme_account_id = order.acme_account_id,
          .account_id = order.account_id,
          .identifier = {.type = "dns", .value = "a" + std::to_string(n) + ".example.test"},
          .wildcard = false,
          .status = "pending",
          .expires_at = expires_at,
          .created_at = T(n),
          .updated_at = T(n)};
}

AcmeServerChallenge MakeChallenge(int n, const AcmeServerAuthz& authz, TimePoint updated_at) {
  return {.id = Ch(n),
          .authz_id = authz.id,
          .account_id = authz.account_id,
          .type = "http-01",
          .token = "token-" + std::to_string(n),
          .status = "pending",
          .validated_at = std::nullopt,
          .error_json = "",
          .updated_at = updated_at};
}

template <typename T>
std::vector<std::string> Ids(const std::vector<T>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.id);
  return out;
}

// ---- EAB keys

TEST_P(StoreConformanceTest, AcmeServerEabKeysRoundTripAndListByKid) {
  SeedAccounts();
  AcmeEabKey k1 = MakeEab(1, kAcc1);
  k1.expires_at = T(5000);
  const AcmeEabKey k2 = MakeEab(2, kAcc2);
  AcmeEabKey k3 = MakeEab(3, kAcc1);
  k3.tags = {};
  Commit([&](Tx& tx) {
    // Inserted out of kid order: the list is ordered by kid, not by insertion.
    ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(k3)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(k1)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(k2)));
  });
  auto tx = Begin();
  auto& repo = tx->acme_server();
  auto got = repo.GetEabKey(k1.kid);
  ASSERT_TRUE(IsOk(got));
  ASSERT_TRUE(got->has_value());
  const AcmeEabKey& g = **got;
  EXPECT_EQ(g.kid, k1.kid);
  EXPECT_EQ(g.account_id, kAcc1);
  EXPECT_EQ(g.principal_id, k1.principal_id);
  EXPECT_EQ(g.hmac_blob_id, k1.hmac_blob_id);
  EXPECT_EQ(g.tags, k1.tags);
  EXPECT_EQ(g.created_by, k1.created_by);
  EXPECT_EQ(g.created_at, T(1));
  ASSERT_TRUE(g.expires_at.has_value());
  EXPECT_EQ(*g.expires_at, T(5000));
  EXPECT_EQ(g.bound_to, "");
  EXPECT_FALSE(g.bound_at.has_value());

  auto no_expiry = repo.GetEabKey(k3.kid);
  ASSERT_TRUE(IsOk(no_expiry));
  ASSERT_TRUE(no_expiry->has_value());
  EXPECT_FALSE((*no_expiry)->expires_at.has_value());
  EXPECT_TRUE((*no_expiry)->tags.empty());

  auto absent = repo.GetEabKey(Eab(9));
  ASSERT_TRUE(IsOk(absent));
  EXPECT_FALSE(absent->has_value());

  auto mine = repo.ListEabKeys(kAcc1);
  ASSERT_TRUE(IsOk(mine));
  ASSERT_EQ(mine->size(), 2u);
  EXPECT_EQ((*mine)[0].kid, k1.kid);
  EXPECT_EQ((*mine)[1].kid, k3.kid);
  EXPECT_EQ((*mine)[0].tags, k1.tags);
  auto theirs = repo.ListEabKeys(kAcc2);
  ASSERT_TRUE(IsOk(theirs));
  ASSERT_EQ(theirs->size(), 1u);
  EXPECT_EQ((*theirs)[0].kid, k2.kid);
  auto nobody = repo.ListEabKeys(kUnknownAccount);
  ASSERT_TRUE(IsOk(nobody));
  EXPECT_TRUE(nobody->empty());
}

TEST_P(StoreConformanceTest, AcmeServerEabKeyConflictsAndUnknownAccounts) {
  SeedAccounts();
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(MakeEab(1, kAcc1)))); });
  auto tx = Begin();
  AcmeEabKey dup = MakeEab(1, kAcc2);
  EXPECT_TRUE(HasCode(tx->acme_server().InsertEabKey(dup), ErrorCode::kConflict));
  EXPECT_TRUE(HasCode(tx->acme_server().InsertEabKey(MakeEab(2, kUnknownAccount)),
                      ErrorCode::kFailedPrecondition));
  AcmeEabKey bad = MakeEab(3, kAcc1);
  bad.tags = {{"env", std::string("\xff\xfe", 2)}};
  EXPECT_TRUE(HasCode(tx->acme_server().InsertEabKey(bad), ErrorCode::kInvalidArgument));
  // The failures changed nothing and left the Tx usable.
  ASSERT_TRUE(IsOk(tx->acme_server().InsertEabKey(MakeEab(4, kAcc1))));
  auto keys = tx->acme_server().ListEabKeys(kAcc1);
  ASSERT_TRUE(IsOk(keys));
  ASSERT_EQ(keys->size(), 2u);
  EXPECT_EQ((*keys)[0].kid, Eab(1));
  EXPECT_EQ((*keys)[0].tags, MakeEab(1, kAcc1).tags);
  EXPECT_EQ((*keys)[1].kid, Eab(4));
  ASSERT_TRUE(IsOk(tx->Commit()));
}

TEST_P(StoreConformanceTest, AcmeServerEabKeyBindsOnce) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(MakeEab(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(MakeEab(2, kAcc1))));
  });
  Commit([&](Tx& tx) {
    auto first = tx.acme_server().BindEabKey(Eab(1), Acct(1), T(100));
    ASSERT_TRUE(IsOk(first));
    EXPECT_TRUE(*first);
  });
  {
    // A later transaction (another newAccount) finds it bound: false, and nothing changes.
    auto tx = Begin();
    auto again = tx->acme_server().BindEabKey(Eab(1), Acct(2), T(200));
    ASSERT_TRUE(IsOk(again));
    EXPECT_FALSE(*again);
    auto same = tx->acme_server().BindEabKey(Eab(1), Acct(1), T(300));
    ASSERT_TRUE(IsOk(same));
    EXPECT_FALSE(*same);
    EXPECT_TRUE(HasCode(tx->acme_server().BindEabKey(Eab(9), Acct(1), T(1)), ErrorCode::kNotFound));
    EXPECT_TRUE(
        HasCode(tx->acme_server().BindEabKey(Eab(2), "", T(1)), ErrorCode::kInvalidArgument));
    ASSERT_TRUE(IsOk(tx->Commit()));
  }
  auto tx = Begin();
  auto k1 = tx->acme_server().GetEabKey(Eab(1));
  ASSERT_TRUE(IsOk(k1));
  ASSERT_TRUE(k1->has_value());
  EXPECT_EQ((*k1)->bound_to, Acct(1));
  ASSERT_TRUE((*k1)->bound_at.has_value());
  EXPECT_EQ(*(*k1)->bound_at, T(100));
  // The refused empty binding left key 2 unused.
  auto k2 = tx->acme_server().GetEabKey(Eab(2));
  ASSERT_TRUE(IsOk(k2));
  ASSERT_TRUE(k2->has_value());
  EXPECT_EQ((*k2)->bound_to, "");
  EXPECT_FALSE((*k2)->bound_at.has_value());
  auto bind2 = tx->acme_server().BindEabKey(Eab(2), Acct(2), T(400));
  ASSERT_TRUE(IsOk(bind2));
  EXPECT_TRUE(*bind2);
  // A binding rolled back with its Tx leaves the key unused.
  tx.reset();
  auto check = Begin();
  auto k2_after = check->acme_server().GetEabKey(Eab(2));
  ASSERT_TRUE(IsOk(k2_after));
  EXPECT_EQ((*k2_after)->bound_to, "");
}

TEST_P(StoreConformanceTest, AcmeServerEabKeyInsertedBoundKeepsItsBinding) {
  SeedAccounts();
  AcmeEabKey k = MakeEab(1, kAcc1);
  k.bound_to = Acct(1);
  k.bound_at = T(50);
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(k))); });
  auto tx = Begin();
  auto got = tx->acme_server().GetEabKey(k.kid);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ((*got)->bound_to, Acct(1));
  EXPECT_EQ((*got)->bound_at, std::optional<TimePoint>(T(50)));
  auto bind = tx->acme_server().BindEabKey(k.kid, Acct(2), T(60));
  ASSERT_TRUE(IsOk(bind));
  EXPECT_FALSE(*bind);
}

TEST_P(StoreConformanceTest, AcmeServerEabKeysAreDeleted) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(MakeEab(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertEabKey(MakeEab(2, kAcc1))));
    // A key bound to an ACME account may be deleted too: the account keeps its eab_kid.
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(2, kAcc1))));
    ASSERT_TRUE(*tx.acme_server().BindEabKey(Eab(2), Acct(2), T(10)));
  });
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().DeleteEabKey(Eab(1))));
    ASSERT_TRUE(IsOk(tx.acme_server().DeleteEabKey(Eab(2))));
    EXPECT_TRUE(HasCode(tx.acme_server().DeleteEabKey(Eab(1)), ErrorCode::kNotFound));
    EXPECT_TRUE(HasCode(tx.acme_server().DeleteEabKey(Eab(9)), ErrorCode::kNotFound));
  });
  auto tx = Begin();
  EXPECT_FALSE(tx->acme_server().GetEabKey(Eab(1))->has_value());
  EXPECT_TRUE(tx->acme_server().ListEabKeys(kAcc1)->empty());
  EXPECT_TRUE(HasCode(tx->acme_server().BindEabKey(Eab(1), Acct(1), T(1)), ErrorCode::kNotFound));
  EXPECT_EQ((*tx->acme_server().GetAccount(Acct(2)))->eab_kid, Eab(2));
  // A deleted kid may be created again.
  EXPECT_TRUE(IsOk(tx->acme_server().InsertEabKey(MakeEab(1, kAcc1))));
}

// ---- accounts

TEST_P(StoreConformanceTest, AcmeServerAccountsRoundTripAndAreFoundByThumbprint) {
  SeedAccounts();
  AcmeServerAccount a1 = MakeAcmeAccount(1, kAcc1);
  a1.contact = {"mailto:a@example.test", "mailto:b@example.test", "tel:+15551234"};
  a1.tags = {{"env", "prod"}, {"ünïcode", "välue"}};
  AcmeServerAccount a2 = MakeAcmeAccount(2, kAcc2);
  a2.eab_kid = "";
  a2.contact = {};
  a2.tags = {};
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(a1)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(a2)));
  });
  auto tx = Begin();
  auto got = tx->acme_server().GetAccount(a1.id);
  ASSERT_TRUE(IsOk(got));
  ASSERT_TRUE(got->has_value());
  const AcmeServerAccount& g = **got;
  EXPECT_EQ(g.id, a1.id);
  EXPECT_EQ(g.account_id, kAcc1);
  EXPECT_EQ(g.principal_id, a1.principal_id);
  EXPECT_EQ(g.eab_kid, Eab(1));
  EXPECT_EQ(g.jwk_thumbprint, "thumb-1");
  EXPECT_EQ(g.jwk, a1.jwk);
  EXPECT_EQ(g.status, "valid");
  EXPECT_EQ(g.contact, a1.contact);  // order kept
  EXPECT_EQ(g.tags, a1.tags);
  EXPECT_EQ(g.created_at, T(1));
  EXPECT_EQ(g.updated_at, T(1));

  auto empty = tx->acme_server().GetAccount(a2.id);
  ASSERT_TRUE(IsOk(empty));
  ASSERT_TRUE(empty->has_value());
  EXPECT_EQ((*empty)->eab_kid, "");
  EXPECT_TRUE((*empty)->contact.empty());
  EXPECT_TRUE((*empty)->tags.empty());

  auto by_thumb = tx->acme_server().FindAccountByThumbprint("thumb-2");
  ASSERT_TRUE(IsOk(by_thumb));
  ASSERT_TRUE(by_thumb->has_value());
  EXPECT_EQ((*by_thumb)->id, a2.id);
  auto no_thumb = tx->acme_server().FindAccountByThumbprint("thumb-9");
  ASSERT_TRUE(IsOk(no_thumb));
  EXPECT_FALSE(no_thumb->has_value());
  auto absent = tx->acme_server().GetAccount(Acct(9));
  ASSERT_TRUE(IsOk(absent));
  EXPECT_FALSE(absent->has_value());
}

TEST_P(StoreConformanceTest, AcmeServerAccountIdsAndThumbprintsAreUnique) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
  });
  auto tx = Begin();
  AcmeServerAccount same_id = MakeAcmeAccount(1, kAcc2);
  same_id.jwk_thumbprint = "thumb-other";
  EXPECT_TRUE(HasCode(tx->acme_server().InsertAccount(same_id), ErrorCode::kConflict));
  // The same key under another id (even in another certfleet account) is refused.
  AcmeServerAccount same_key = MakeAcmeAccount(2, kAcc2);
  same_key.jwk_thumbprint = "thumb-1";
  EXPECT_TRUE(HasCode(tx->acme_server().InsertAccount(same_key), ErrorCode::kConflict));
  EXPECT_TRUE(HasCode(tx->acme_server().InsertAccount(MakeAcmeAccount(3, kUnknownAccount)),
                      ErrorCode::kFailedPrecondition));
  AcmeServerAccount bad = MakeAcmeAccount(4, kAcc1);
  bad.contact = {std::string("mailto:\xc3", 8)};
  EXPECT_TRUE(HasCode(tx->acme_server().InsertAccount(bad), ErrorCode::kInvalidArgument));
  // Nothing was written; the Tx goes on.
  EXPECT_FALSE(tx->acme_server().GetAccount(Acct(2))->has_value());
  EXPECT_EQ((*tx->acme_server().FindAccountByThumbprint("thumb-1"))->id, Acct(1));
  ASSERT_TRUE(IsOk(tx->acme_server().InsertAccount(MakeAcmeAccount(2, kAcc2))));
  ASSERT_TRUE(IsOk(tx->Commit()));
}

TEST_P(StoreConformanceTest, AcmeServerAccountUpdateReplacesOnlyItsFields) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(2, kAcc1))));
  });
  AcmeServerAccount rolled = MakeAcmeAccount(1, kAcc1);
  // Key rollover and a contact update; the fields the update may not touch are changed here too,
  // and must come back unchanged.
  rolled.jwk = R"({"crv":"P-256","kty":"EC","x":"new","y":"y"})";
  rolled.jwk_thumbprint = "thumb-new";
  rolled.status = "deactivated";
  rolled.contact = {"mailto:new@example.test", "mailto:second@example.test"};
  rolled.tags = {{"env", "staging"}, {"owner", "team-b"}};
  rolled.updated_at = T(500);
  rolled.account_id = kAcc2;
  rolled.principal_id = "prn_other";
  rolled.eab_kid = "eab_other";
  rolled.created_at = T(400);
  Commit([&](Tx& tx) { ASSERT_TRUE(IsOk(tx.acme_server().UpdateAccount(rolled))); });
  auto tx = Begin();
  auto got = tx->acme_server().GetAccount(Acct(1));
  ASSERT_TRUE(IsOk(got));
  const AcmeServerAccount& g = **got;
  EXPECT_EQ(g.jwk, rolled.jwk);
  EXPECT_EQ(g.jwk_thumbprint, "thumb-new");
  EXPECT_EQ(g.status, "deactivated");
  EXPECT_EQ(g.contact, rolled.contact);
  EXPECT_EQ(g.tags, rolled.tags);
  EXPECT_EQ(g.updated_at, T(500));
  EXPECT_EQ(g.account_id, kAcc1);
  EXPECT_EQ(g.principal_id, MakeAcmeAccount(1, kAcc1).principal_id);
  EXPECT_EQ(g.eab_kid, Eab(1));
  EXPECT_EQ(g.created_at, T(1));
  // The old thumbprint finds nobody now, the new one this account.
  EXPECT_FALSE(tx->acme_server().FindAccountByThumbprint("thumb-1")->has_value());
  EXPECT_EQ((*tx->acme_server().FindAccountByThumbprint("thumb-new"))->id, Acct(1));
  // Updating with its own thumbprint unchanged is fine.
  rolled.status = "valid";
  ASSERT_TRUE(IsOk(tx->acme_server().UpdateAccount(rolled)));
  // Another account's thumbprint: Conflict, and nothing changes.
  AcmeServerAccount steal = *tx->acme_server().GetAccount(Acct(2)).value();
  steal.jwk_thumbprint = "thumb-new";
  steal.status = "revoked";
  EXPECT_TRUE(HasCode(tx->acme_server().UpdateAccount(steal), ErrorCode::kConflict));
  auto a2 = tx->acme_server().GetAccount(Acct(2));
  ASSERT_TRUE(IsOk(a2));
  EXPECT_EQ((*a2)->jwk_thumbprint, "thumb-2");
  EXPECT_EQ((*a2)->status, "valid");
  // The old, now free, thumbprint may be taken by another account.
  steal.jwk_thumbprint = "thumb-1";
  ASSERT_TRUE(IsOk(tx->acme_server().UpdateAccount(steal)));
  EXPECT_EQ((*tx->acme_server().FindAccountByThumbprint("thumb-1"))->id, Acct(2));
  EXPECT_TRUE(
      HasCode(tx->acme_server().UpdateAccount(MakeAcmeAccount(9, kAcc1)), ErrorCode::kNotFound));
  // Absent and holding a taken thumbprint: NotFound (there is nothing to update).
  AcmeServerAccount ghost = MakeAcmeAccount(8, kAcc1);
  ghost.jwk_thumbprint = "thumb-new";
  EXPECT_TRUE(HasCode(tx->acme_server().UpdateAccount(ghost), ErrorCode::kNotFound));
  ASSERT_TRUE(IsOk(tx->Commit()));
}

// ---- orders

TEST_P(StoreConformanceTest, AcmeServerOrdersRoundTripAndUpdate) {
  SeedAccounts();
  AcmeServerOrder o = MakeOrder(1, Acct(1), kAcc1, T(100));
  o.replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
  AcmeServerOrder single = MakeOrder(2, Acct(1), kAcc1, T(101));
  single.identifiers = {{.type = "dns", .value = "*.example.test"}};
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(single)));
  });
  {
    auto tx = Begin();
    auto got = tx->acme_server().GetOrder(o.id);
    ASSERT_TRUE(IsOk(got));
    ASSERT_TRUE(got->has_value());
    const AcmeServerOrder& g = **got;
    EXPECT_EQ(g.id, o.id);
    EXPECT_EQ(g.acme_account_id, Acct(1));
    EXPECT_EQ(g.account_id, kAcc1);
    EXPECT_EQ(g.status, "pending");
    EXPECT_EQ(g.identifiers, o.identifiers);  // order kept
    EXPECT_EQ(g.profile, "tls-server");
    EXPECT_EQ(g.replaces, o.replaces);
    EXPECT_EQ(g.expires_at, o.expires_at);
    EXPECT_EQ(g.error_json, "");
    EXPECT_EQ(g.certificate_id, "");
    EXPECT_EQ(g.version_id, "");
    EXPECT_EQ(g.created_at, T(100));
    EXPECT_EQ(g.updated_at, T(100));
    EXPECT_EQ((*tx->acme_server().GetOrder(single.id))->identifiers, single.identifiers);
    auto absent = tx->acme_server().GetOrder(Ord(9));
    ASSERT_TRUE(IsOk(absent));
    EXPECT_FALSE(absent->has_value());
  }
  AcmeServerOrder done = o;
  done.status = "valid";
  done.certificate_id = TestId(model::kCertificatePrefix, 1);
  done.version_id = TestId(model::kVersionPrefix, 1);
  done.updated_at = T(900);
  // Not the update's to change:
  done.identifiers = {{.type = "dns", .value = "other.example.test"}};
  done.profile = "other";
  done.replaces = "";
  done.expires_at = T(1);
  done.created_at = T(2);
  done.account_id = kAcc2;
  done.acme_account_id = Acct(2);
  AcmeServerOrder failed = single;
  failed.status = "invalid";
  failed.error_json = R"({"type":"urn:ietf:params:acme:error:unauthorized","status":403})";
  failed.updated_at = T(901);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateOrder(done)));
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateOrder(failed)));
    EXPECT_TRUE(HasCode(tx.acme_server().UpdateOrder(MakeOrder(9, Acct(1), kAcc1, T(1))),
                        ErrorCode::kNotFound));
  });
  auto tx = Begin();
  auto got = tx->acme_server().GetOrder(o.id);
  ASSERT_TRUE(IsOk(got));
  const AcmeServerOrder& g = **got;
  EXPECT_EQ(g.status, "valid");
  EXPECT_EQ(g.certificate_id, done.certificate_id);
  EXPECT_EQ(g.version_id, done.version_id);
  EXPECT_EQ(g.updated_at, T(900));
  EXPECT_EQ(g.identifiers, o.identifiers);
  EXPECT_EQ(g.profile, "tls-server");
  EXPECT_EQ(g.replaces, o.replaces);
  EXPECT_EQ(g.expires_at, o.expires_at);
  EXPECT_EQ(g.created_at, T(100));
  EXPECT_EQ(g.account_id, kAcc1);
  EXPECT_EQ(g.acme_account_id, Acct(1));
  auto f = tx->acme_server().GetOrder(single.id);
  ASSERT_TRUE(IsOk(f));
  EXPECT_EQ((*f)->status, "invalid");
  EXPECT_EQ((*f)->error_json, failed.error_json);
}

TEST_P(StoreConformanceTest, AcmeServerOrderConflictsAndUnknownAcmeAccounts) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(MakeOrder(1, Acct(1), kAcc1, T(10)))));
  });
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->acme_server().InsertOrder(MakeOrder(1, Acct(1), kAcc1, T(20))),
                      ErrorCode::kConflict));
  EXPECT_TRUE(HasCode(tx->acme_server().InsertOrder(MakeOrder(2, Acct(9), kAcc1, T(20))),
                      ErrorCode::kFailedPrecondition));
  AcmeServerOrder bad = MakeOrder(3, Acct(1), kAcc1, T(20));
  bad.identifiers = {{.type = "dns", .value = std::string("\x80.example", 9)}};
  EXPECT_TRUE(HasCode(tx->acme_server().InsertOrder(bad), ErrorCode::kInvalidArgument));
  EXPECT_EQ((*tx->acme_server().GetOrder(Ord(1)))->created_at, T(10));
  auto count = tx->acme_server().CountOrdersSince(kAcc1, T(0));
  ASSERT_TRUE(IsOk(count));
  EXPECT_EQ(*count, 1);
}

TEST_P(StoreConformanceTest, AcmeServerOrdersAreListedInPagesByAcmeAccount) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(2, kAcc1))));
    // Out of id order, interleaved with another ACME account's orders.
    for (int n : {5, 1, 4, 2, 3}) {
      ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(MakeOrder(n, Acct(1), kAcc1, T(n)))));
    }
    for (int n : {6, 7}) {
      ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(MakeOrder(n, Acct(2), kAcc1, T(n)))));
    }
  });
  auto tx = Begin();
  auto& repo = tx->acme_server();
  auto page1 = repo.ListOrders(Acct(1), "", 2);
  ASSERT_TRUE(IsOk(page1));
  EXPECT_EQ(Ids(*page1), (std::vector<std::string>{Ord(1), Ord(2)}));
  EXPECT_EQ((*page1)[0].identifiers, MakeOrder(1, Acct(1), kAcc1, T(1)).identifiers);
  auto page2 = repo.ListOrders(Acct(1), page1->back().id, 2);
  ASSERT_TRUE(IsOk(page2));
  EXPECT_EQ(Ids(*page2), (std::vector<std::string>{Ord(3), Ord(4)}));
  auto page3 = repo.ListOrders(Acct(1), page2->back().id, 2);
  ASSERT_TRUE(IsOk(page3));
  EXPECT_EQ(Ids(*page3), (std::vector<std::string>{Ord(5)}));
  auto page4 = repo.ListOrders(Acct(1), page3->back().id, 2);
  ASSERT_TRUE(IsOk(page4));
  EXPECT_TRUE(page4->empty());
  auto all = repo.ListOrders(Acct(1), "", 100);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(all->size(), 5u);
  // after_id need not be an existing order's id.
  auto after_gap = repo.ListOrders(Acct(1), Ord(2) + "~", 100);
  ASSERT_TRUE(IsOk(after_gap));
  EXPECT_EQ(Ids(*after_gap), (std::vector<std::string>{Ord(3), Ord(4), Ord(5)}));
  auto none = repo.ListOrders(Acct(1), "", 0);
  ASSERT_TRUE(IsOk(none));
  EXPECT_TRUE(none->empty());
  auto other = repo.ListOrders(Acct(2), "", 100);
  ASSERT_TRUE(IsOk(other));
  EXPECT_EQ(Ids(*other), (std::vector<std::string>{Ord(6), Ord(7)}));
  auto unknown = repo.ListOrders(Acct(9), "", 100);
  ASSERT_TRUE(IsOk(unknown));
  EXPECT_TRUE(unknown->empty());
}

// Ids compare bytewise on every backend (PostgreSQL's cf_text is COLLATE "C"): upper case
// before '_' before lower case, whatever the database's locale.
TEST_P(StoreConformanceTest, AcmeServerOrderIdsSortBytewise) {
  SeedAccounts();
  const std::vector<std::string> ids = {"ord_b", "ord_B", "ord_a", "ord__", "ord_A", "ord_0"};
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    for (const std::string& id : ids) {
      AcmeServerOrder o = MakeOrder(1, Acct(1), kAcc1, T(1));
      o.id = id;
      ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o)));
    }
  });
  auto tx = Begin();
  auto all = tx->acme_server().ListOrders(Acct(1), "", 100);
  ASSERT_TRUE(IsOk(all));
  EXPECT_EQ(Ids(*all),
            (std::vector<std::string>{"ord_0", "ord_A", "ord_B", "ord__", "ord_a", "ord_b"}));
  auto after = tx->acme_server().ListOrders(Acct(1), "ord_Z", 100);
  ASSERT_TRUE(IsOk(after));
  EXPECT_EQ(Ids(*after), (std::vector<std::string>{"ord__", "ord_a", "ord_b"}));
}

TEST_P(StoreConformanceTest, AcmeServerOrdersAreCountedFromASinceInclusive) {
  SeedAccounts();
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(2, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(3, kAcc2))));
    // Two ACME accounts of account 1 share its limit; account 2 has its own.
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(MakeOrder(1, Acct(1), kAcc1, T(100)))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(MakeOrder(2, Acct(2), kAcc1, T(200)))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(MakeOrder(3, Acct(1), kAcc1, T(300)))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(MakeOrder(4, Acct(3), kAcc2, T(250)))));
  });
  auto tx = Begin();
  auto count = [&](const std::string& account, TimePoint since) {
    auto n = tx->acme_server().CountOrdersSince(account, since);
    EXPECT_TRUE(IsOk(n));
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(count(kAcc1, T(0)), 3);
  EXPECT_EQ(count(kAcc1, T(100)), 3);
  EXPECT_EQ(count(kAcc1, T(101)), 2);
  EXPECT_EQ(count(kAcc1, T(200)), 2);
  EXPECT_EQ(count(kAcc1, T(300)), 1);
  EXPECT_EQ(count(kAcc1, T(301)), 0);
  EXPECT_EQ(count(kAcc2, T(250)), 1);
  EXPECT_EQ(count(kAcc2, T(251)), 0);
  EXPECT_EQ(count(kUnknownAccount, T(0)), 0);
  // Updating an order does not move it in time.
  AcmeServerOrder o = MakeOrder(1, Acct(1), kAcc1, T(100));
  o.status = "ready";
  o.updated_at = T(1000);
  ASSERT_TRUE(IsOk(tx->acme_server().UpdateOrder(o)));
  EXPECT_EQ(count(kAcc1, T(301)), 0);
}

// ---- authorizations

TEST_P(StoreConformanceTest, AcmeServerAuthzsRoundTripUpdateAndListByOrder) {
  SeedAccounts();
  const AcmeServerOrder o1 = MakeOrder(1, Acct(1), kAcc1, T(10));
  const AcmeServerOrder o2 = MakeOrder(2, Acct(1), kAcc1, T(11));
  AcmeServerAuthz wild = MakeAuthz(3, o1, T(5000));
  wild.wildcard = true;
  wild.identifier = {.type = "dns", .value = "example.test"};
  AcmeServerAuthz ip = MakeAuthz(1, o1, T(5000));
  ip.identifier = {.type = "ip", .value = "2001:db8::1"};
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o1)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o2)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(wild)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(MakeAuthz(2, o2, T(5000)))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(ip)));
  });
  {
    auto tx = Begin();
    auto got = tx->acme_server().GetAuthz(wild.id);
    ASSERT_TRUE(IsOk(got));
    ASSERT_TRUE(got->has_value());
    const AcmeServerAuthz& g = **got;
    EXPECT_EQ(g.order_id, o1.id);
    EXPECT_EQ(g.acme_account_id, Acct(1));
    EXPECT_EQ(g.account_id, kAcc1);
    EXPECT_EQ(g.identifier, wild.identifier);
    EXPECT_TRUE(g.wildcard);
    EXPECT_EQ(g.status, "pending");
    EXPECT_EQ(g.expires_at, T(5000));
    EXPECT_EQ(g.created_at, T(3));
    EXPECT_EQ(g.updated_at, T(3));
    auto plain = tx->acme_server().GetAuthz(ip.id);
    ASSERT_TRUE(IsOk(plain));
    EXPECT_FALSE((*plain)->wildcard);
    EXPECT_EQ((*plain)->identifier, ip.identifier);
    auto absent = tx->acme_server().GetAuthz(Az(9));
    ASSERT_TRUE(IsOk(absent));
    EXPECT_FALSE(absent->has_value());
    auto by_order = tx->acme_server().ListAuthzsByOrder(o1.id);
    ASSERT_TRUE(IsOk(by_order));
    EXPECT_EQ(Ids(*by_order), (std::vector<std::string>{Az(1), Az(3)}));
    EXPECT_TRUE((*by_order)[1].wildcard);
    EXPECT_EQ(Ids(*tx->acme_server().ListAuthzsByOrder(o2.id)), std::vector<std::string>{Az(2)});
    EXPECT_TRUE(tx->acme_server().ListAuthzsByOrder(Ord(9))->empty());
  }
  AcmeServerAuthz valid = wild;
  valid.status = "valid";
  valid.updated_at = T(700);
  // Not the update's to change:
  valid.expires_at = T(1);
  valid.wildcard = false;
  valid.identifier = {.type = "dns", .value = "changed.example.test"};
  valid.order_id = o2.id;
  valid.created_at = T(2);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateAuthz(valid)));
    EXPECT_TRUE(
        HasCode(tx.acme_server().UpdateAuthz(MakeAuthz(9, o1, T(1))), ErrorCode::kNotFound));
  });
  auto tx = Begin();
  auto got = tx->acme_server().GetAuthz(wild.id);
  ASSERT_TRUE(IsOk(got));
  EXPECT_EQ((*got)->status, "valid");
  EXPECT_EQ((*got)->updated_at, T(700));
  EXPECT_EQ((*got)->expires_at, T(5000));
  EXPECT_TRUE((*got)->wildcard);
  EXPECT_EQ((*got)->identifier, wild.identifier);
  EXPECT_EQ((*got)->order_id, o1.id);
  EXPECT_EQ((*got)->created_at, T(3));
}

TEST_P(StoreConformanceTest, AcmeServerAuthzConflictsAndUnknownOrders) {
  SeedAccounts();
  const AcmeServerOrder o = MakeOrder(1, Acct(1), kAcc1, T(10));
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(MakeAuthz(1, o, T(100)))));
  });
  auto tx = Begin();
  EXPECT_TRUE(
      HasCode(tx->acme_server().InsertAuthz(MakeAuthz(1, o, T(200))), ErrorCode::kConflict));
  AcmeServerAuthz orphan = MakeAuthz(2, o, T(100));
  orphan.order_id = Ord(9);
  EXPECT_TRUE(HasCode(tx->acme_server().InsertAuthz(orphan), ErrorCode::kFailedPrecondition));
  EXPECT_EQ((*tx->acme_server().GetAuthz(Az(1)))->expires_at, T(100));
  EXPECT_FALSE(tx->acme_server().GetAuthz(Az(2))->has_value());
}

TEST_P(StoreConformanceTest, AcmeServerPendingAuthzsAreCountedUntilTheyExpire) {
  SeedAccounts();
  const AcmeServerOrder o1 = MakeOrder(1, Acct(1), kAcc1, T(10));
  const AcmeServerOrder o2 = MakeOrder(2, Acct(2), kAcc2, T(10));
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(2, kAcc2))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o1)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o2)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(MakeAuthz(1, o1, T(100)))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(MakeAuthz(2, o1, T(200)))));
    AcmeServerAuthz valid = MakeAuthz(3, o1, T(300));
    valid.status = "valid";
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(valid)));
    AcmeServerAuthz invalid = MakeAuthz(4, o1, T(300));
    invalid.status = "invalid";
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(invalid)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(MakeAuthz(5, o2, T(300)))));
  });
  auto tx = Begin();
  auto count = [&](const std::string& account, TimePoint now) {
    auto n = tx->acme_server().CountPendingAuthzs(account, now);
    EXPECT_TRUE(IsOk(n));
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(count(kAcc1, T(0)), 2);
  EXPECT_EQ(count(kAcc1, T(99)), 2);
  // Expiring at `now` is expired: strictly after.
  EXPECT_EQ(count(kAcc1, T(100)), 1);
  EXPECT_EQ(count(kAcc1, T(199)), 1);
  EXPECT_EQ(count(kAcc1, T(200)), 0);
  EXPECT_EQ(count(kAcc2, T(299)), 1);
  EXPECT_EQ(count(kAcc2, T(300)), 0);
  EXPECT_EQ(count(kUnknownAccount, T(0)), 0);
  // A pending authorization that becomes valid stops counting; one that goes back (not a real
  // ACME transition, but the store counts what it holds) counts again.
  AcmeServerAuthz a2 = MakeAuthz(2, o1, T(200));
  a2.status = "valid";
  a2.updated_at = T(50);
  ASSERT_TRUE(IsOk(tx->acme_server().UpdateAuthz(a2)));
  EXPECT_EQ(count(kAcc1, T(0)), 1);
  AcmeServerAuthz a3 = MakeAuthz(3, o1, T(300));
  ASSERT_TRUE(IsOk(tx->acme_server().UpdateAuthz(a3)));
  EXPECT_EQ(count(kAcc1, T(0)), 2);
  EXPECT_EQ(count(kAcc1, T(200)), 1);
}

// ---- challenges

TEST_P(StoreConformanceTest, AcmeServerChallengesRoundTripUpdateAndListByAuthz) {
  SeedAccounts();
  const AcmeServerOrder o = MakeOrder(1, Acct(1), kAcc1, T(10));
  const AcmeServerAuthz az1 = MakeAuthz(1, o, T(5000));
  const AcmeServerAuthz az2 = MakeAuthz(2, o, T(5000));
  AcmeServerChallenge dns = MakeChallenge(2, az1, T(20));
  dns.type = "dns-01";
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(az1)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(az2)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertChallenge(MakeChallenge(3, az1, T(20)))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertChallenge(dns)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertChallenge(MakeChallenge(1, az2, T(20)))));
  });
  {
    auto tx = Begin();
    auto got = tx->acme_server().GetChallenge(dns.id);
    ASSERT_TRUE(IsOk(got));
    ASSERT_TRUE(got->has_value());
    const AcmeServerChallenge& g = **got;
    EXPECT_EQ(g.authz_id, az1.id);
    EXPECT_EQ(g.account_id, kAcc1);
    EXPECT_EQ(g.type, "dns-01");
    EXPECT_EQ(g.token, "token-2");
    EXPECT_EQ(g.status, "pending");
    EXPECT_FALSE(g.validated_at.has_value());
    EXPECT_EQ(g.error_json, "");
    EXPECT_EQ(g.updated_at, T(20));
    auto absent = tx->acme_server().GetChallenge(Ch(9));
    ASSERT_TRUE(IsOk(absent));
    EXPECT_FALSE(absent->has_value());
    auto list = tx->acme_server().ListChallengesByAuthz(az1.id);
    ASSERT_TRUE(IsOk(list));
    EXPECT_EQ(Ids(*list), (std::vector<std::string>{Ch(2), Ch(3)}));
    EXPECT_EQ((*list)[0].type, "dns-01");
    EXPECT_EQ(Ids(*tx->acme_server().ListChallengesByAuthz(az2.id)),
              std::vector<std::string>{Ch(1)});
    EXPECT_TRUE(tx->acme_server().ListChallengesByAuthz(Az(9))->empty());
  }
  AcmeServerChallenge valid = dns;
  valid.status = "valid";
  valid.validated_at = T(30);
  valid.updated_at = T(30);
  // Not the update's to change:
  valid.type = "http-01";
  valid.token = "other";
  valid.authz_id = az2.id;
  valid.account_id = kAcc2;
  AcmeServerChallenge invalid = MakeChallenge(3, az1, T(40));
  invalid.status = "invalid";
  invalid.error_json = R"({"type":"urn:ietf:params:acme:error:connection","status":400})";
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateChallenge(valid)));
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateChallenge(invalid)));
    EXPECT_TRUE(HasCode(tx.acme_server().UpdateChallenge(MakeChallenge(9, az1, T(1))),
                        ErrorCode::kNotFound));
  });
  {
    auto tx = Begin();
    auto got = tx->acme_server().GetChallenge(dns.id);
    ASSERT_TRUE(IsOk(got));
    const AcmeServerChallenge& g = **got;
    EXPECT_EQ(g.status, "valid");
    ASSERT_TRUE(g.validated_at.has_value());
    EXPECT_EQ(*g.validated_at, T(30));
    EXPECT_EQ(g.updated_at, T(30));
    EXPECT_EQ(g.type, "dns-01");
    EXPECT_EQ(g.token, "token-2");
    EXPECT_EQ(g.authz_id, az1.id);
    EXPECT_EQ(g.account_id, kAcc1);
    auto bad = tx->acme_server().GetChallenge(Ch(3));
    ASSERT_TRUE(IsOk(bad));
    EXPECT_EQ((*bad)->status, "invalid");
    EXPECT_EQ((*bad)->error_json, invalid.error_json);
    EXPECT_FALSE((*bad)->validated_at.has_value());
    // validated_at is replaced too, so an update can clear it.
    valid.validated_at = std::nullopt;
    ASSERT_TRUE(IsOk(tx->acme_server().UpdateChallenge(valid)));
    EXPECT_FALSE((*tx->acme_server().GetChallenge(dns.id))->validated_at.has_value());
  }
}

TEST_P(StoreConformanceTest, AcmeServerChallengeConflictsAndUnknownAuthzs) {
  SeedAccounts();
  const AcmeServerOrder o = MakeOrder(1, Acct(1), kAcc1, T(10));
  const AcmeServerAuthz az = MakeAuthz(1, o, T(5000));
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(az)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertChallenge(MakeChallenge(1, az, T(20)))));
  });
  auto tx = Begin();
  EXPECT_TRUE(HasCode(tx->acme_server().InsertChallenge(MakeChallenge(1, az, T(30))),
                      ErrorCode::kConflict));
  AcmeServerChallenge orphan = MakeChallenge(2, az, T(20));
  orphan.authz_id = Az(9);
  EXPECT_TRUE(HasCode(tx->acme_server().InsertChallenge(orphan), ErrorCode::kFailedPrecondition));
  EXPECT_EQ((*tx->acme_server().GetChallenge(Ch(1)))->updated_at, T(20));
  EXPECT_FALSE(tx->acme_server().GetChallenge(Ch(2))->has_value());
}

TEST_P(StoreConformanceTest, AcmeServerFailedChallengesAreCountedFromASinceInclusive) {
  SeedAccounts();
  const AcmeServerOrder o1 = MakeOrder(1, Acct(1), kAcc1, T(10));
  const AcmeServerOrder o2 = MakeOrder(2, Acct(2), kAcc2, T(10));
  const AcmeServerAuthz az1 = MakeAuthz(1, o1, T(5000));
  const AcmeServerAuthz az2 = MakeAuthz(2, o2, T(5000));
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAccount(MakeAcmeAccount(2, kAcc2))));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o1)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertOrder(o2)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(az1)));
    ASSERT_TRUE(IsOk(tx.acme_server().InsertAuthz(az2)));
    for (int n = 1; n <= 5; ++n) {
      ASSERT_TRUE(IsOk(tx.acme_server().InsertChallenge(MakeChallenge(n, az1, T(10)))));
    }
    ASSERT_TRUE(IsOk(tx.acme_server().InsertChallenge(MakeChallenge(6, az2, T(10)))));
  });
  // Account 1's challenges 1 and 2 fail at 100 and 200, 3 succeeds at 150, 4 and 5 stay
  // pending; account 2's challenge 6 fails at 250.
  auto fail = [](AcmeServerChallenge c, TimePoint at) {
    c.status = "invalid";
    c.error_json = R"({"type":"urn:ietf:params:acme:error:incorrectResponse"})";
    c.updated_at = at;
    return c;
  };
  AcmeServerChallenge ok3 = MakeChallenge(3, az1, T(150));
  ok3.status = "valid";
  ok3.validated_at = T(150);
  Commit([&](Tx& tx) {
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateChallenge(fail(MakeChallenge(1, az1, T(0)), T(100)))));
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateChallenge(fail(MakeChallenge(2, az1, T(0)), T(200)))));
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateChallenge(ok3)));
    ASSERT_TRUE(IsOk(tx.acme_server().UpdateChallenge(fail(MakeChallenge(6, az2, T(0)), T(250)))));
  });
  auto tx = Begin();
  auto count = [&](const std::string& account, TimePoint since) {
    auto n = tx->acme_server().CountFailedChallengesSince(account, since);
    EXPECT_TRUE(IsOk(n));
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(count(kAcc1, T(0)), 2);
  EXPECT_EQ(count(kAcc1, T(100)), 2);
  EXPECT_EQ(count(kAcc1, T(101)), 1);
  EXPECT_EQ(count(kAcc1, T(200)), 1);
  EXPECT_EQ(count(kAcc1, T(201)), 0);
  EXPECT_EQ(count(kAcc2, T(250)), 1);
  EXPECT_EQ(count(kAcc2, T(251)), 0);
  EXPECT_EQ(count(kUnknownAccount, T(0)), 0);
  // An invalid challenge inserted as such counts from its updated_at as well.
  AcmeServerChallenge born_invalid = fail(MakeChallenge(7, az1, T(0)), T(300));
  ASSERT_TRUE(IsOk(tx->acme_server().InsertChallenge(born_invalid)));
  EXPECT_EQ(count(kAcc1, T(300)), 1);
  EXPECT_EQ(count(kAcc1, T(0)), 3);
}

// The whole chain in one transaction, as newOrder writes it, then rolled back: nothing remains.
TEST_P(StoreConformanceTest, AcmeServerRowsRollBackWithTheirTx) {
  SeedAccounts();
  {
    auto tx = Begin();
    auto& repo = tx->acme_server();
    const AcmeServerOrder o = MakeOrder(1, Acct(1), kAcc1, T(10));
    const AcmeServerAuthz az = MakeAuthz(1, o, T(5000));
    ASSERT_TRUE(IsOk(repo.InsertEabKey(MakeEab(1, kAcc1))));
    ASSERT_TRUE(IsOk(repo.InsertAccount(MakeAcmeAccount(1, kAcc1))));
    ASSERT_TRUE(*repo.BindEabKey(Eab(1), Acct(1), T(10)));
    ASSERT_TRUE(IsOk(repo.InsertOrder(o)));
    ASSERT_TRUE(IsOk(repo.InsertAuthz(az)));
    ASSERT_TRUE(IsOk(repo.InsertChallenge(MakeChallenge(1, az, T(10)))));
    EXPECT_EQ(*repo.CountOrdersSince(kAcc1, T(0)), 1);
    EXPECT_EQ(*repo.CountPendingAuthzs(kAcc1, T(0)), 1);
  }
  auto tx = Begin();
  auto& repo = tx->acme_server();
  EXPECT_FALSE(repo.GetEabKey(Eab(1))->has_value());
  EXPECT_FALSE(repo.GetAccount(Acct(1))->has_value());
  EXPECT_FALSE(repo.FindAccountByThumbprint("thumb-1")->has_value());
  EXPECT_FALSE(repo.GetOrder(Ord(1))->has_value());
  EXPECT_FALSE(repo.GetAuthz(Az(1))->has_value());
  EXPECT_FALSE(repo.GetChallenge(Ch(1))->has_value());
  EXPECT_EQ(*repo.CountOrdersSince(kAcc1, T(0)), 0);
  EXPECT_EQ(*repo.CountPendingAuthzs(kAcc1, T(0)), 0);
}

}  // namespace
}  // namespace certfleet::store::testing
