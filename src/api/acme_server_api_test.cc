// certfleet's ACME server (issue #16) in process, through ApiService::Handle as certfleetd wires
// it: a real store, CA, inventory and validator; a hand-rolled client built on the project's own
// JWS signer, so each test can break exactly one rule. The hostile-client cases of the issue get
// the RFC 8555 problem type they deserve, and nothing changes in the store. Real ACME clients
// (certbot, lego) run in test/e2e/test_acme_server.py.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "acme/protocol/jws.h"
#include "acme/server/server.h"
#include "acme/server/validator.h"
#include "api/api_service.h"
#include "api/api_test_env.h"
#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/jws.h"
#include "lifecycle/acme_server_issuance.h"
#include "x509/csr.h"

namespace certfleet::api {
namespace {

using nlohmann::json;

constexpr char kHost[] = "certfleet.test:8443";
constexpr char kBase[] = "https://certfleet.test:8443";

class AcmeServerApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    validator_ = acme::server::NewNetValidator({.timeout = std::chrono::milliseconds(500)});
    issuance_ = std::make_unique<lifecycle::AcmeServerIssuance>(
        *stack_.env.store, stack_.env.clock, SystemRandomSource(), stack_.env.Ca(), *stack_.certs,
        *stack_.engine, *stack_.audit,
        lifecycle::AcmeServerIssuanceOptions{.authorize_claimed_without_challenge = true});
    acme::server::ServerOptions options;
    options.limits.pending_authorizations = 5;
    server_ = std::make_unique<acme::server::AcmeServer>(
        *stack_.env.store, *stack_.env.secret_store, stack_.env.clock, SystemRandomSource(),
        *validator_, *issuance_, options);
    lifecycle::RegisterAcmeValidationJob(*stack_.engine, *server_);
    ApiDeps deps{*stack_.env.store, stack_.env.clock, SystemRandomSource(),
                 *stack_.certs,     *stack_.exports,  *stack_.governance,
                 *stack_.secrets,   *stack_.audit,    *stack_.deployments,
                 *stack_.agents,    nullptr,          stack_.webhooks.get()};
    deps.acme_server = server_.get();
    stack_.api = std::make_unique<ApiService>(deps);

    account_ = *stack_.governance->CreateAccount("team");
    stack_.env.ClaimDomain(account_.id, "team.test");
    auto p = stack_.governance->CreatePrincipal(
        {account_.id, "ops", model::PrincipalKind::kUser, model::Role::kOperator, {}});
    ASSERT_TRUE(p.ok());
    principal_ = *p;
    auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
    ASSERT_TRUE(key.ok());
    account_key_ = std::make_unique<crypto::PrivateKey>(std::move(*key));
  }

  net::HttpResponse Raw(const std::string& method, const std::string& path,
                        const std::string& body = "",
                        const std::string& content_type = "application/jose+json") {
    net::HttpRequest r;
    r.method = method;
    r.target = path;
    r.body = body;
    r.remote_address = "127.0.0.1:1";
    r.headers["host"] = kHost;
    if (!body.empty()) r.headers["content-type"] = content_type;
    return stack_.api->Handle(r);
  }

  std::string Nonce() {
    net::HttpResponse r = Raw("HEAD", "/acme/new-nonce");
    EXPECT_EQ(r.status, 200);
    return r.headers["Replay-Nonce"];
  }

  // A signed POST to `path` with `payload` ("" = POST-as-GET), as the account (kid) once it
  // exists, with the JWK before.
  net::HttpResponse Post(const std::string& path, const std::string& payload,
                         const crypto::PrivateKey* key = nullptr, std::string nonce = "",
                         std::string url = "") {
    if (nonce.empty()) nonce = Nonce();
    if (url.empty()) url = kBase + path;
    auto jws =
        acme::SignJws(key ? *key : *account_key_, {.kid = key ? "" : kid_}, nonce, url, payload);
    EXPECT_TRUE(jws.ok());
    return Raw("POST", path, *jws);
  }

  json Eab() {
    auto key = server_->CreateEabKey(account_.id, principal_.id, {{"team", "web"}}, std::nullopt,
                                     principal_.id);
    EXPECT_TRUE(key.ok());
    eab_kid_ = key->kid;
    auto raw = Base64UrlDecode(key->hmac_key);
    EXPECT_TRUE(raw.ok());
    auto binding = acme::ExternalAccountBinding(account_key_->public_key(), key->kid,
                                                SecretBytes::FromView(*raw),
                                                std::string(kBase) + "/acme/new-account");
    EXPECT_TRUE(binding.ok());
    return json::parse(*binding);
  }

  // Claimed names are authorized at once unless a test calls this: then they get challenges.
  void UseChallenges() {
    issuance_ = std::make_unique<lifecycle::AcmeServerIssuance>(
        *stack_.env.store, stack_.env.clock, SystemRandomSource(), stack_.env.Ca(), *stack_.certs,
        *stack_.engine, *stack_.audit, lifecycle::AcmeServerIssuanceOptions{});
    acme::server::ServerOptions options;
    options.limits.pending_authorizations = 5;
    server_ = std::make_unique<acme::server::AcmeServer>(
        *stack_.env.store, *stack_.env.secret_store, stack_.env.clock, SystemRandomSource(),
        *validator_, *issuance_, options);
    ApiDeps deps{*stack_.env.store, stack_.env.clock, SystemRandomSource(),
                 *stack_.certs,     *stack_.exports,  *stack_.governance,
                 *stack_.secrets,   *stack_.audit,    *stack_.deployments,
                 *stack_.agents,    nullptr,          stack_.webhooks.get()};
    deps.acme_server = server_.get();
    stack_.api = std::make_unique<ApiService>(deps);
  }

  // Registers the account with a fresh EAB key; sets kid_.
  void Register() {
    json payload = {{"termsOfServiceAgreed", true}, {"externalAccountBinding", Eab()}};
    net::HttpResponse r = Post("/acme/new-account", payload.dump(), account_key_.get());
    ASSERT_EQ(r.status, 201) << r.body;
    kid_ = r.headers["Location"];
    ASSERT_EQ(kid_.rfind(std::string(kBase) + "/acme/acct/", 0), 0u) << kid_;
  }

  static std::string TypeOf(const net::HttpResponse& r) {
    json p = json::parse(r.body, nullptr, false);
    if (!p.is_object()) return "";
    return p.value("type", "");
  }

  int64_t Orders() {
    if (kid_.empty()) return 0;
    auto tx = stack_.env.store->BeginRead();
    EXPECT_TRUE(tx.ok());
    const std::string id = kid_.substr(kid_.rfind('/') + 1);
    auto list = (*tx)->acme_server().ListOrders(id, "", 10000);
    EXPECT_TRUE(list.ok());
    return static_cast<int64_t>(list->size());
  }

  // An order for `names` (claimed, so authorized at once: ready).
  json ReadyOrder(const std::vector<std::string>& names, std::string* url) {
    json ids = json::array();
    for (const auto& n : names) ids.push_back({{"type", "dns"}, {"value", n}});
    net::HttpResponse r = Post("/acme/new-order", json{{"identifiers", ids}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    *url = r.headers["Location"];
    json order = json::parse(r.body);
    EXPECT_EQ(order["status"], "ready") << r.body;
    return order;
  }

  std::string CsrFor(const crypto::PrivateKey& key, const std::vector<std::string>& names) {
    auto csr = x509::Csr::Build(key, names.front(), names);
    EXPECT_TRUE(csr.ok());
    return Base64UrlEncode(csr->der());
  }

  static std::string PathOf(const std::string& url) {
    return url.substr(std::string(kBase).size());
  }

  ApiStack stack_;
  std::unique_ptr<acme::server::Validator> validator_;
  std::unique_ptr<lifecycle::AcmeServerIssuance> issuance_;
  std::unique_ptr<acme::server::AcmeServer> server_;
  model::Account account_;
  model::Principal principal_;
  std::unique_ptr<crypto::PrivateKey> account_key_;
  std::string kid_;
  std::string eab_kid_;
};

TEST_F(AcmeServerApiTest, DirectoryNamesEveryResourceAndRequiresEab) {
  net::HttpResponse r = Raw("GET", "/acme/directory");
  ASSERT_EQ(r.status, 200);
  json d = json::parse(r.body);
  EXPECT_EQ(d["newAccount"], std::string(kBase) + "/acme/new-account");
  EXPECT_EQ(d["renewalInfo"], std::string(kBase) + "/acme/renewal-info");
  EXPECT_TRUE(d["meta"]["externalAccountRequired"].get<bool>());
  EXPECT_EQ(Raw("POST", "/acme/directory").status, 405);
  EXPECT_EQ(Raw("GET", "/acme/nothing").status, 404);
}

TEST_F(AcmeServerApiTest, NewAccountWithoutEabIsRefused) {
  net::HttpResponse r =
      Post("/acme/new-account", json{{"termsOfServiceAgreed", true}}.dump(), account_key_.get());
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:externalAccountRequired");
  EXPECT_FALSE(r.headers["Replay-Nonce"].empty());
}

TEST_F(AcmeServerApiTest, EabKeysBindOnce) {
  json eab = Eab();
  json payload = {{"termsOfServiceAgreed", true}, {"externalAccountBinding", eab}};
  ASSERT_EQ(Post("/acme/new-account", payload.dump(), account_key_.get()).status, 201);
  // Another key with the same binding: refused.
  auto other = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(other.ok());
  net::HttpResponse r = Post("/acme/new-account", payload.dump(), &*other);
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:unauthorized") << r.body;
}

TEST_F(AcmeServerApiTest, ReplayedNonceIsBadNonceWithAFreshOne) {
  Register();
  const std::string nonce = Nonce();
  json ids = json::array({{{"type", "dns"}, {"value", "a.team.test"}}});
  ASSERT_EQ(Post("/acme/new-order", json{{"identifiers", ids}}.dump(), nullptr, nonce).status, 201);
  net::HttpResponse r = Post("/acme/new-order", json{{"identifiers", ids}}.dump(), nullptr, nonce);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:badNonce");
  EXPECT_FALSE(r.headers["Replay-Nonce"].empty());
  EXPECT_NE(r.headers["Replay-Nonce"], nonce);
  EXPECT_EQ(Orders(), 1);
}

TEST_F(AcmeServerApiTest, WrongUrlInTheProtectedHeaderIsUnauthorized) {
  Register();
  json ids = json::array({{{"type", "dns"}, {"value", "a.team.test"}}});
  net::HttpResponse r = Post("/acme/new-order", json{{"identifiers", ids}}.dump(), nullptr, "",
                             std::string(kBase) + "/acme/new-account");
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:unauthorized") << r.body;
  EXPECT_EQ(Orders(), 0);
}

TEST_F(AcmeServerApiTest, AlgNoneAndMacsAreBadSignatureAlgorithm) {
  Register();
  for (const char* alg : {"none", "HS256"}) {
    json header = {{"alg", alg},
                   {"kid", kid_},
                   {"nonce", Nonce()},
                   {"url", std::string(kBase) + "/acme/new-order"}};
    json ids = json::array({{{"type", "dns"}, {"value", "a.team.test"}}});
    json jws = {{"protected", Base64UrlEncode(header.dump())},
                {"payload", Base64UrlEncode(json{{"identifiers", ids}}.dump())},
                {"signature", std::string(alg) == "none" ? "" : Base64UrlEncode("x")}};
    net::HttpResponse r = Raw("POST", "/acme/new-order", jws.dump());
    EXPECT_EQ(r.status, 400);
    EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:badSignatureAlgorithm") << alg << r.body;
    // RFC 8555 section 6.2: the problem MUST list the supported "alg" values.
    EXPECT_EQ(json::parse(r.body)["algorithms"], json::array({"ES256", "ES384", "RS256", "EdDSA"}))
        << r.body;
  }
  EXPECT_EQ(Orders(), 0);
}

TEST_F(AcmeServerApiTest, TooSmallRsaKeyIsBadPublicKey) {
  // A 1024-bit modulus (odd, top bit set): refused before any signature is looked at.
  std::string n(128, '\xa5');
  n.back() = '\x01';
  json jwk = {{"e", "AQAB"}, {"kty", "RSA"}, {"n", Base64UrlEncode(n)}};
  json header = {{"alg", "RS256"},
                 {"jwk", jwk},
                 {"nonce", Nonce()},
                 {"url", std::string(kBase) + "/acme/new-account"}};
  json jws = {{"protected", Base64UrlEncode(header.dump())},
              {"payload", Base64UrlEncode("{}")},
              {"signature", Base64UrlEncode(std::string(128, 'x'))}};
  net::HttpResponse r = Raw("POST", "/acme/new-account", jws.dump());
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:badPublicKey") << r.body;
}

TEST_F(AcmeServerApiTest, OversizedJwsIsRefusedUnread) {
  net::HttpResponse r = Raw("POST", "/acme/new-account", std::string(200 * 1024, '{'));
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:malformed");
  EXPECT_EQ(json::parse(r.body)["status"], 413) << r.body;
}

TEST_F(AcmeServerApiTest, AnotherMediaTypeIs415) {
  // RFC 8555 section 6.2: a body that is not application/jose+json gets 415 (Unsupported Media
  // Type), whatever the JWS holds; the problem document says the same status.
  Register();
  json ids = json::array({{{"type", "dns"}, {"value", "a.team.test"}}});
  auto jws =
      acme::SignJws(*account_key_, {.kid = kid_}, Nonce(), std::string(kBase) + "/acme/new-order",
                    json{{"identifiers", ids}}.dump());
  ASSERT_TRUE(jws.ok());
  net::HttpResponse r = Raw("POST", "/acme/new-order", *jws, "application/json");
  EXPECT_EQ(r.status, 415) << r.body;
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:malformed");
  EXPECT_EQ(json::parse(r.body)["status"], 415) << r.body;
  EXPECT_FALSE(r.headers["Replay-Nonce"].empty());
  EXPECT_EQ(Orders(), 0);
  // The same request as application/jose+json (with a fresh nonce) is taken.
  EXPECT_EQ(Post("/acme/new-order", json{{"identifiers", ids}}.dump()).status, 201);
  net::HttpResponse get = Raw("POST", "/acme/directory");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(json::parse(get.body)["status"], 405) << get.body;
}

TEST_F(AcmeServerApiTest, KeyChangeToAKeyInUseIs409WithThatAccount) {
  // Account B, with its own key and EAB key.
  auto other = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(other.ok());
  auto eab = server_->CreateEabKey(account_.id, principal_.id, {}, std::nullopt, principal_.id);
  ASSERT_TRUE(eab.ok());
  auto raw = Base64UrlDecode(eab->hmac_key);
  ASSERT_TRUE(raw.ok());
  auto binding =
      acme::ExternalAccountBinding(other->public_key(), eab->kid, SecretBytes::FromView(*raw),
                                   std::string(kBase) + "/acme/new-account");
  ASSERT_TRUE(binding.ok());
  json payload = {{"termsOfServiceAgreed", true},
                  {"externalAccountBinding", json::parse(*binding)}};
  net::HttpResponse b = Post("/acme/new-account", payload.dump(), &*other);
  ASSERT_EQ(b.status, 201) << b.body;
  Register();  // account A

  const std::string url = std::string(kBase) + "/acme/key-change";
  auto old_jwk = crypto::PublicJwk(account_key_->public_key());
  ASSERT_TRUE(old_jwk.ok());
  const std::string change = json{{"account", kid_}, {"oldKey", json::parse(*old_jwk)}}.dump();
  auto rollover_to = [&](const crypto::PrivateKey& key) {
    auto inner = acme::SignJws(key, {}, "", url, change);  // jwk, no nonce (section 7.3.5)
    EXPECT_TRUE(inner.ok());
    return Post("/acme/key-change", *inner);
  };
  // To B's key: RFC 8555 section 7.3.5, 409 with B's URL in Location; A keeps its key.
  net::HttpResponse r = rollover_to(*other);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:malformed");
  EXPECT_EQ(json::parse(r.body)["status"], 409) << r.body;
  EXPECT_EQ(r.headers["Location"], b.headers["Location"]);
  EXPECT_FALSE(r.headers["Replay-Nonce"].empty());
  EXPECT_EQ(Post(PathOf(kid_), "").status, 200);

  // To a fresh key: 200, and from then on only the new key acts for A.
  auto fresh = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(rollover_to(*fresh).status, 200);
  EXPECT_EQ(TypeOf(Post(PathOf(kid_), "")), "urn:ietf:params:acme:error:unauthorized");
  *account_key_ = std::move(*fresh);
  EXPECT_EQ(Post(PathOf(kid_), "").status, 200);
}

TEST_F(AcmeServerApiTest, AnUnclaimedNameIsRejectedAndNoOrderIsStored) {
  Register();
  json ids = json::array({{{"type", "dns"}, {"value", "a.team.test"}},
                          {{"type", "dns"}, {"value", "www.other.test"}}});
  net::HttpResponse r = Post("/acme/new-order", json{{"identifiers", ids}}.dump());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:rejectedIdentifier");
  json p = json::parse(r.body);
  ASSERT_EQ(p["subproblems"].size(), 1u) << r.body;
  EXPECT_EQ(p["subproblems"][0]["identifier"]["value"], "www.other.test");
  EXPECT_EQ(Orders(), 0);
}

TEST_F(AcmeServerApiTest, FinalizeIssuesIntoTheInventoryAndRefusesBadCsrs) {
  Register();
  std::string order_url;
  json order = ReadyOrder({"a.team.test", "b.team.test"}, &order_url);
  const std::string finalize = PathOf(order["finalize"].get<std::string>());
  auto cert_key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(cert_key.ok());

  // A CSR with a name the order does not hold.
  net::HttpResponse extra =
      Post(finalize,
           json{{"csr", CsrFor(*cert_key, {"a.team.test", "b.team.test", "c.team.test"})}}.dump());
  EXPECT_EQ(TypeOf(extra), "urn:ietf:params:acme:error:badCSR") << extra.body;
  // A CSR whose key is the account key.
  net::HttpResponse same =
      Post(finalize, json{{"csr", CsrFor(*account_key_, {"a.team.test", "b.team.test"})}}.dump());
  EXPECT_EQ(TypeOf(same), "urn:ietf:params:acme:error:badCSR") << same.body;
  EXPECT_NE(same.body.find("account key"), std::string::npos) << same.body;
  // Neither changed the order.
  net::HttpResponse still = Post(PathOf(order_url), "");
  EXPECT_EQ(json::parse(still.body)["status"], "ready") << still.body;

  net::HttpResponse done =
      Post(finalize, json{{"csr", CsrFor(*cert_key, {"b.team.test", "a.team.test"})}}.dump());
  ASSERT_EQ(done.status, 200) << done.body;
  json valid = json::parse(done.body);
  ASSERT_EQ(valid["status"], "valid");
  net::HttpResponse pem = Post(PathOf(valid["certificate"].get<std::string>()), "");
  ASSERT_EQ(pem.status, 200);
  EXPECT_EQ(pem.headers["Content-Type"], "application/pem-certificate-chain");
  auto chain = x509::Certificate::ParsePemChain(pem.body);
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_TRUE((*chain)[0].MatchesKey(*cert_key));

  // The inventory: an acme-server certificate of the account, not exportable, tagged by the EAB.
  auto listed = stack_.certs->List(lifecycle::SystemCaller(account_.id, "test"), {});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->items.size(), 1u);
  const model::Certificate& c = listed->items[0].certificate;
  EXPECT_EQ(c.issuer, "acme-server");
  EXPECT_FALSE(c.exportable);
  EXPECT_EQ(c.tags.at("team"), "web");
  EXPECT_EQ(c.domains, (std::vector<std::string>{"a.team.test", "b.team.test"}));
  EXPECT_TRUE(listed->items[0].version->key_blob_id.empty());

  // A second order for the same names joins the same record as version 2.
  std::string url2;
  json order2 = ReadyOrder({"a.team.test", "b.team.test"}, &url2);
  auto key2 = crypto::PrivateKey::Generate(crypto::KeyType::kP384);
  ASSERT_TRUE(key2.ok());
  ASSERT_EQ(Post(PathOf(order2["finalize"].get<std::string>()),
                 json{{"csr", CsrFor(*key2, {"a.team.test", "b.team.test"})}}.dump())
                .status,
            200);
  auto again = stack_.certs->List(lifecycle::SystemCaller(account_.id, "test"), {});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->items.size(), 1u);
  EXPECT_EQ(again->items[0].version->version, 2);

  // Revoked by the certificate's own key (jwk), once.
  json revoke = {{"certificate", Base64UrlEncode((*chain)[0].der())}, {"reason", 4}};
  net::HttpResponse r = Post("/acme/revoke-cert", revoke.dump(), &*cert_key);
  EXPECT_EQ(r.status, 200) << r.body;
  r = Post("/acme/revoke-cert", revoke.dump(), &*cert_key);
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:alreadyRevoked") << r.body;
  // Version 1 was revoked; version 2 is current and stays issued.
  auto after = stack_.certs->Get(lifecycle::SystemCaller(account_.id, "test"), c.id);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->certificate.status, model::CertificateStatus::kIssued);
}

TEST_F(AcmeServerApiTest, PendingAuthorizationsAreLimitedPerAccount) {
  Register();
  UseChallenges();
  for (int i = 0; i < 5; ++i) {
    json ids = json::array({{{"type", "dns"}, {"value", "n" + std::to_string(i) + ".team.test"}}});
    ASSERT_EQ(Post("/acme/new-order", json{{"identifiers", ids}}.dump()).status, 201);
  }
  json ids = json::array({{{"type", "dns"}, {"value", "n9.team.test"}}});
  net::HttpResponse r = Post("/acme/new-order", json{{"identifiers", ids}}.dump());
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:rateLimited");
  EXPECT_FALSE(r.headers["Retry-After"].empty());
  EXPECT_EQ(Orders(), 5);
}

// A challenge's validation runs at once: the job engine is woken after the job committed (the
// waker sees the job in the store), exactly once per challenge, and not for a repeated POST.
TEST_F(AcmeServerApiTest, AChallengeWakesTheJobEngineOnceItsJobCommitted) {
  Register();
  UseChallenges();
  std::vector<std::string> seen;  // the validation job's state as the waker found it
  std::string challenge_id;
  stack_.engine->SetWaker([&] {
    auto tx = stack_.env.store->BeginRead();
    ASSERT_TRUE(tx.ok());
    auto job =
        (*tx)->jobs().GetByIdempotencyKey(std::string(lifecycle::kAcmeValidationJob), challenge_id);
    seen.push_back(job.ok() ? std::string(model::JobStateName(job->state)) : "missing");
  });
  json ids = json::array({{{"type", "dns"}, {"value", "wake.team.test"}}});
  net::HttpResponse r = Post("/acme/new-order", json{{"identifiers", ids}}.dump());
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string authz_url = json::parse(r.body)["authorizations"][0];
  json authz = json::parse(Post(PathOf(authz_url), "").body);
  std::string challenge_url;
  for (const json& ch : authz["challenges"]) {
    if (ch["type"] == "http-01") challenge_url = ch["url"];
  }
  ASSERT_FALSE(challenge_url.empty()) << authz.dump();
  challenge_id = challenge_url.substr(challenge_url.rfind('/') + 1);
  EXPECT_TRUE(seen.empty());  // ordering queues nothing

  r = Post(PathOf(challenge_url), "{}");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], "pending");
  r = Post(PathOf(challenge_url), "{}");  // already processing: nothing new to run
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(seen.size(), 1u);
  stack_.engine->SetWaker(nullptr);
}

// RFC 8738: IP identifiers, on the short-lived profile only, covered by an IP claim, with the
// addresses as iPAddress SANs of the CSR and of the certificate.
TEST_F(AcmeServerApiTest, IpIdentifiersNeedAnIpClaimAndTheShortLivedProfile) {
  stack_.env.ClaimDomain(account_.id, "192.0.2.0/24");
  Register();
  auto order_for = [&](const json& ids, const std::string& profile) {
    json payload = {{"identifiers", ids}};
    if (!profile.empty()) payload["profile"] = profile;
    return Post("/acme/new-order", payload.dump());
  };
  const json ip7 = {{"type", "ip"}, {"value", "192.0.2.7"}};
  // The default profile (tls-server) allows no IP SAN.
  net::HttpResponse r = order_for(json::array({ip7}), "");
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:rejectedIdentifier") << r.body;
  EXPECT_NE(r.body.find("short-lived"), std::string::npos) << r.body;
  // An address outside the account's IP claims, and one no claim covers as a name.
  r = order_for(json::array({{{"type", "ip"}, {"value", "198.51.100.1"}}}), "short-lived");
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:rejectedIdentifier") << r.body;
  r = order_for(json::array({{{"type", "dns"}, {"value", "192.0.2.7"}}}), "short-lived");
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:rejectedIdentifier") << r.body;
  // Not an address.
  for (const char* bad : {"192.0.2.07", "192.0.2.0/24", "team.test", "fe80::1%eth0", ""}) {
    r = order_for(json::array({{{"type", "ip"}, {"value", bad}}}), "short-lived");
    EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:malformed") << bad << ": " << r.body;
  }
  EXPECT_EQ(Orders(), 0);

  // Claimed: authorized at once (authorize_claimed_without_challenge); the identifier is held in
  // canonical form whatever the client wrote.
  r = order_for(json::array({{{"type", "dns"}, {"value", "a.team.test"}}, ip7}), "short-lived");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string order_url = r.headers["Location"];
  json order = json::parse(r.body);
  EXPECT_EQ(order["status"], "ready") << r.body;
  EXPECT_EQ(order["identifiers"][1], ip7) << r.body;
  const std::string finalize = PathOf(order["finalize"].get<std::string>());
  auto cert_key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(cert_key.ok());
  // The address written as a dNSName is not the identifier.
  auto as_name = x509::Csr::Build(*cert_key, "", {"a.team.test"});
  ASSERT_TRUE(as_name.ok());
  r = Post(finalize, json{{"csr", Base64UrlEncode(as_name->der())}}.dump());
  EXPECT_EQ(TypeOf(r), "urn:ietf:params:acme:error:badCSR") << r.body;
  auto csr = x509::Csr::Build(*cert_key, "a.team.test", {"a.team.test"}, {"192.0.2.7"});
  ASSERT_TRUE(csr.ok());
  r = Post(finalize, json{{"csr", Base64UrlEncode(csr->der())}}.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  json valid = json::parse(r.body);
  ASSERT_EQ(valid["status"], "valid") << r.body;
  net::HttpResponse pem = Post(PathOf(valid["certificate"].get<std::string>()), "");
  ASSERT_EQ(pem.status, 200);
  auto chain = x509::Certificate::ParsePemChain(pem.body);
  ASSERT_TRUE(chain.ok());
  EXPECT_EQ((*chain)[0].dns_names(), std::vector<std::string>{"a.team.test"});
  EXPECT_EQ((*chain)[0].ip_addresses(), std::vector<std::string>{"192.0.2.7"});
  EXPECT_LE((*chain)[0].not_after() - (*chain)[0].not_before(), std::chrono::days(7));
  auto listed = stack_.certs->List(lifecycle::SystemCaller(account_.id, "test"), {});
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0].certificate.domains,
            (std::vector<std::string>{"a.team.test", "192.0.2.7"}));
  EXPECT_EQ(listed->items[0].certificate.profile, "short-lived");
}

}  // namespace
}  // namespace certfleet::api
