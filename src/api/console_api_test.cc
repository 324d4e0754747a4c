// The console's server side (issue #17): static files under /ui/, sessions (login with a token,
// cookie, CSRF, logout, expiry, revocation) and GET /v1/counts.
#include <gtest/gtest.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <regex>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "api/console_assets.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

using nlohmann::json;
using std::chrono::minutes;

constexpr char kSecret[] = "outside-the-console-directory";

class ConsoleApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    namespace fs = std::filesystem;
    ui_dir_ = env_.dir.file("ui");
    fs::create_directories(ui_dir_ + "/assets");
    fs::create_directories(ui_dir_ + "/sub");
    Write(ui_dir_ + "/index.html", "<!doctype html><title>certfleet</title>");
    Write(ui_dir_ + "/assets/app.js", "console.log(1)");
    Write(ui_dir_ + "/assets/app.css", "body{}");
    Write(env_.dir.file("secret.txt"), kSecret);
    fs::create_symlink(env_.dir.file("secret.txt"), ui_dir_ + "/link.txt");
    fs::create_symlink(env_.dir.path(), ui_dir_ + "/dirlink");

    ApiDeps deps{*env_.store,         env_.clock,         SystemRandomSource(), *stack_.certs,
                 *stack_.exports,     *stack_.governance, *stack_.secrets,      *stack_.audit,
                 *stack_.deployments, *stack_.agents};
    deps.console.ui_dir = ui_dir_;
    api_ = std::make_unique<ApiService>(deps);

    sys_ = *stack_.governance->CreateAccount("default");
    alpha_ = *stack_.governance->CreateAccount("alpha");
    beta_ = *stack_.governance->CreateAccount("beta");
    admin_ = Token(alpha_.id, "alice", model::Role::kAdmin, &admin_token_id_);
    auditor_ = Token(alpha_.id, "audrey", model::Role::kAuditor);
    sysadmin_ = Token(sys_.id, "root", model::Role::kAdmin);
    env_.ClaimDomain(alpha_.id, "example.test");
  }

  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }

  std::string Token(const std::string& account, const std::string& name, model::Role role,
                    std::string* id = nullptr) {
    auto p = stack_.governance->CreatePrincipal({account, name, model::PrincipalKind::kUser, role});
    EXPECT_TRUE(p.ok()) << p.error().ToString();
    principal_ids_[name] = p->id;
    auto t = stack_.governance->CreateToken(*p, std::nullopt);
    if (id != nullptr) *id = t->record.id;
    return std::string(t->token.view());
  }

  struct Req {
    std::string method = "GET";
    std::string target;
    std::string body;
    std::string bearer;
    std::string cookie;  // the session cookie's value
    std::optional<std::string> csrf;
  };
  net::HttpResponse Do(const Req& q) {
    net::HttpRequest r;
    r.method = q.method;
    r.target = q.target;
    r.body = q.body;
    r.remote_address = "127.0.0.1:7";
    if (!q.body.empty()) r.headers["content-type"] = "application/json";
    if (!q.bearer.empty()) r.headers["authorization"] = "Bearer " + q.bearer;
    if (!q.cookie.empty()) r.headers["cookie"] = "theme=dark; certfleet_session=" + q.cookie;
    if (q.csrf) r.headers["x-csrf-token"] = *q.csrf;
    return api_->Handle(r);
  }

  struct Login {
    std::string cookie;
    std::string csrf;
    json body;
  };
  Login LogIn(const std::string& token) {
    auto r = Do({.method = "POST", .target = "/v1/session", .body = json{{"token", token}}.dump()});
    EXPECT_EQ(r.status, 201) << r.body;
    Login l;
    const std::string& set = r.headers["Set-Cookie"];
    const std::string prefix = "certfleet_session=";
    l.cookie = set.substr(prefix.size(), set.find(';') - prefix.size());
    l.body = json::parse(r.body);
    l.csrf = l.body.value("csrf_token", "");
    return l;
  }

  static void ExpectConsoleHeaders(const net::HttpResponse& r) {
    EXPECT_EQ(r.headers.at("Content-Security-Policy"),
              "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
              "connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; "
              "base-uri 'none'; form-action 'self'");
    EXPECT_EQ(r.headers.at("X-Content-Type-Options"), "nosniff");
    EXPECT_EQ(r.headers.at("Referrer-Policy"), "no-referrer");
    EXPECT_EQ(r.headers.at("X-Frame-Options"), "DENY");
  }

  std::vector<model::AuditRecord> AuditRecords() {
    auto tx = env_.store->BeginRead();
    return *(*tx)->audit().List({});
  }

  ApiStack stack_;
  testing::PkiEnv& env_ = stack_.env;
  std::string ui_dir_;
  std::unique_ptr<ApiService> api_;
  model::Account sys_, alpha_, beta_;
  std::string admin_, auditor_, sysadmin_, admin_token_id_;
  std::map<std::string, std::string> principal_ids_;
};

// ---- /ui

TEST_F(ConsoleApiTest, UiServesIndexAndAssetsWithoutATokenAndWithSecurityHeaders) {
  auto index = Do({.target = "/ui/"});
  ASSERT_EQ(index.status, 200) << index.body;
  EXPECT_EQ(index.body, "<!doctype html><title>certfleet</title>");
  EXPECT_EQ(index.headers.at("Content-Type"), "text/html; charset=utf-8");
  ExpectConsoleHeaders(index);
  EXPECT_EQ(Do({.target = "/ui/index.html?x=1"}).body, index.body);
  auto js = Do({.target = "/ui/assets/app.js"});
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.headers.at("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(Do({.target = "/ui/assets/app.css"}).headers.at("Content-Type"),
            "text/css; charset=utf-8");
  auto head = Do({.method = "HEAD", .target = "/ui/"});
  EXPECT_EQ(head.status, 200);  // the server drops the body of a HEAD answer
  auto bare = Do({.target = "/ui"});
  EXPECT_EQ(bare.status, 301);
  EXPECT_EQ(bare.headers.at("Location"), "/ui/");
  ExpectConsoleHeaders(bare);
  auto post = Do({.method = "POST", .target = "/ui/", .body = "{}"});
  EXPECT_EQ(post.status, 405);
  ExpectConsoleHeaders(post);
  auto missing = Do({.target = "/ui/assets/nope.js"});
  EXPECT_EQ(missing.status, 404);
  ExpectConsoleHeaders(missing);
}

TEST_F(ConsoleApiTest, UiNeverServesOutsideItsDirectory) {
  for (const std::string& target : std::vector<std::string>{
           "/ui/../secret.txt", "/ui/assets/../../secret.txt", "/ui/%2e%2e/secret.txt",
           "/ui/..%2fsecret.txt", "/ui/assets%2fapp.js", "/ui/%2Fetc%2Fpasswd", "/ui//etc/passwd",
           "/ui/link.txt", "/ui/dirlink/secret.txt", "/ui/.hidden", "/ui/sub", "/ui/sub/",
           "/ui/assets\\app.js", "/ui/index.html%00.js", std::string("/ui/a\0b", 7),
           "/ui/./index.html", "/ui/" + env_.dir.file("secret.txt")}) {
    auto r = Do({.target = target});
    EXPECT_TRUE(r.status == 400 || r.status == 404) << target << ": " << r.status;
    EXPECT_EQ(r.body.find(kSecret), std::string::npos) << target;
    EXPECT_EQ(r.headers.at("Content-Type"), "application/problem+json") << target;
    ExpectConsoleHeaders(r);
  }
}

TEST_F(ConsoleApiTest, UiWithoutADirectoryAnswers404) {
  auto r = stack_.api->Handle({.method = "GET", .target = "/ui/"});
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("console assets not installed"), std::string::npos) << r.body;
  ExpectConsoleHeaders(r);
}

TEST_F(ConsoleApiTest, ContentTypesByExtension) {
  EXPECT_EQ(ConsoleContentType("a.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(ConsoleContentType("a.svg"), "image/svg+xml");
  EXPECT_EQ(ConsoleContentType("a.png"), "image/png");
  EXPECT_EQ(ConsoleContentType("a.json"), "application/json");
  EXPECT_EQ(ConsoleContentType("a.woff2"), "font/woff2");
  EXPECT_EQ(ConsoleContentType("a.js.map"), "application/json");
  EXPECT_EQ(ConsoleContentType("a.exe"), "application/octet-stream");
}

// ---- sessions

TEST_F(ConsoleApiTest, LoginSetsAStrictCookieAndDescribesThePrincipal) {
  auto r = Do({.method = "POST", .target = "/v1/session", .body = json{{"token", admin_}}.dump()});
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string set = r.headers.at("Set-Cookie");
  EXPECT_TRUE(std::regex_match(set, std::regex("certfleet_session=[A-Za-z0-9_-]{43}; HttpOnly; "
                                               "Secure; SameSite=Strict; Path=/; Max-Age=28800")))
      << set;
  json b = json::parse(r.body);
  EXPECT_EQ(b["principal"]["id"], principal_ids_["alice"]);
  EXPECT_EQ(b["principal"]["name"], "alice");
  EXPECT_EQ(b["principal"]["account"], "alpha");
  EXPECT_EQ(b["principal"]["role"], "admin");
  EXPECT_GE(b["csrf_token"].get<std::string>().size(), 43u);
  EXPECT_EQ(b["expires_at"], FormatRfc3339(env_.clock.Now() + minutes(15)));
  auto has = [](const json& actions, const std::string& a) {
    return std::find(actions.begin(), actions.end(), a) != actions.end();
  };
  EXPECT_TRUE(has(b["actions"], "certificate.read"));
  EXPECT_TRUE(has(b["actions"], "certificate.request"));
  EXPECT_FALSE(has(b["actions"], "account.create"));  // not a system admin

  json auditor = LogIn(auditor_).body;
  EXPECT_TRUE(has(auditor["actions"], "certificate.read"));
  EXPECT_FALSE(has(auditor["actions"], "certificate.request"));
  EXPECT_FALSE(has(auditor["actions"], "certificate.revoke"));

  // Login is audited under the principal; neither the token nor the cookie is recorded.
  const std::string cookie = set.substr(18, 43);
  bool audited = false;
  for (const auto& rec : AuditRecords()) {
    if (rec.action == "session.create" && rec.principal_id == principal_ids_["alice"] &&
        rec.outcome == model::AuditOutcome::kSuccess) {
      audited = true;
    }
    EXPECT_EQ(rec.detail.find(admin_), std::string::npos);
    EXPECT_EQ(rec.detail.find(cookie), std::string::npos);
    EXPECT_EQ(rec.resource.find(cookie), std::string::npos);
  }
  EXPECT_TRUE(audited);
}

TEST_F(ConsoleApiTest, BadLoginsSetNoCookie) {
  const std::string unknown = "cft_" + std::string(43, 'x');
  for (const std::string& body :
       {json{{"token", unknown}}.dump(), json{{"token", "nope"}}.dump()}) {
    auto r = Do({.method = "POST", .target = "/v1/session", .body = body});
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(r.headers.count("Set-Cookie"), 0u);
  }
  auto missing = Do({.method = "POST", .target = "/v1/session", .body = "{}"});
  EXPECT_EQ(missing.status, 400) << missing.body;
  auto extra = Do({.method = "POST",
                   .target = "/v1/session",
                   .body = json{{"token", admin_}, {"remember", true}}.dump()});
  EXPECT_EQ(extra.status, 400) << extra.body;
  EXPECT_EQ(extra.headers.count("Set-Cookie"), 0u);
}

TEST_F(ConsoleApiTest, TheCookieAuthenticatesAndChangesNeedTheCsrfToken) {
  Login l = LogIn(admin_);
  auto list = Do({.target = "/v1/certificates", .cookie = l.cookie});
  EXPECT_EQ(list.status, 200) << list.body;
  auto me = Do({.target = "/v1/session", .cookie = l.cookie});
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(json::parse(me.body)["csrf_token"], l.csrf);
  EXPECT_EQ(json::parse(me.body)["principal"]["name"], "alice");

  const std::string cert =
      json{{"name", "web"}, {"domains", {"web.example.test"}}, {"exportable", false}}.dump();
  auto no_csrf =
      Do({.method = "POST", .target = "/v1/certificates", .body = cert, .cookie = l.cookie});
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_NE(no_csrf.body.find("CSRF token missing or wrong"), std::string::npos) << no_csrf.body;
  auto wrong = Do({.method = "POST",
                   .target = "/v1/certificates",
                   .body = cert,
                   .cookie = l.cookie,
                   .csrf = l.csrf + "x"});
  EXPECT_EQ(wrong.status, 403);
  auto none = Do({.target = "/v1/certificates", .cookie = l.cookie});
  EXPECT_TRUE(json::parse(none.body)["items"].empty()) << "a refused change changed something";
  auto right = Do({.method = "POST",
                   .target = "/v1/certificates",
                   .body = cert,
                   .cookie = l.cookie,
                   .csrf = l.csrf});
  EXPECT_EQ(right.status, 201) << right.body;
  // A bearer token needs no CSRF token, and wins over a cookie.
  auto bearer = Do({.target = "/v1/certificates", .bearer = admin_, .cookie = "forged"});
  EXPECT_EQ(bearer.status, 200);
  auto forged = Do({.target = "/v1/certificates", .cookie = "forged"});
  EXPECT_EQ(forged.status, 401);
  // The session acts as its principal: an auditor's session may not request.
  Login a = LogIn(auditor_);
  auto denied = Do({.method = "POST",
                    .target = "/v1/certificates",
                    .body = cert,
                    .cookie = a.cookie,
                    .csrf = a.csrf});
  EXPECT_EQ(denied.status, 403);
  // GET /v1/session needs a session, not a bearer token.
  EXPECT_EQ(Do({.target = "/v1/session", .bearer = admin_}).status, 401);
}

TEST_F(ConsoleApiTest, LogoutEndsTheSessionOnTheServer) {
  Login l = LogIn(admin_);
  auto no_csrf = Do({.method = "DELETE", .target = "/v1/session", .cookie = l.cookie});
  EXPECT_EQ(no_csrf.status, 403);
  EXPECT_EQ(Do({.target = "/v1/session", .cookie = l.cookie}).status, 200);
  auto out = Do({.method = "DELETE", .target = "/v1/session", .cookie = l.cookie, .csrf = l.csrf});
  EXPECT_EQ(out.status, 204) << out.body;
  EXPECT_EQ(out.headers.at("Set-Cookie"),
            "certfleet_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0");
  EXPECT_EQ(Do({.target = "/v1/session", .cookie = l.cookie}).status, 401);
  EXPECT_EQ(Do({.target = "/v1/certificates", .cookie = l.cookie}).status, 401);
  bool audited = false;
  for (const auto& rec : AuditRecords()) {
    audited |= rec.action == "session.delete" && rec.principal_id == principal_ids_["alice"] &&
               rec.outcome == model::AuditOutcome::kSuccess;
  }
  EXPECT_TRUE(audited);
}

TEST_F(ConsoleApiTest, SessionsEndAfterIdleTime) {
  Login l = LogIn(admin_);
  env_.clock.Advance(minutes(14));
  EXPECT_EQ(Do({.target = "/v1/session", .cookie = l.cookie}).status, 200);
  env_.clock.Advance(minutes(14));  // renewed by the last use
  auto me = Do({.target = "/v1/session", .cookie = l.cookie});
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(json::parse(me.body)["expires_at"], FormatRfc3339(env_.clock.Now() + minutes(15)));
  env_.clock.Advance(minutes(15));
  auto expired = Do({.target = "/v1/session", .cookie = l.cookie});
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.body.find("log in again"), std::string::npos);
}

TEST_F(ConsoleApiTest, SessionsEndAfterEightHoursWhateverTheUse) {
  Login l = LogIn(admin_);
  for (int i = 0; i < 47; ++i) {
    env_.clock.Advance(minutes(10));
    ASSERT_EQ(Do({.target = "/v1/certificates", .cookie = l.cookie}).status, 200) << i;
  }
  // 7 h 50 min in: the answer says when the absolute cap ends it.
  auto me = Do({.target = "/v1/session", .cookie = l.cookie});
  EXPECT_EQ(json::parse(me.body)["expires_at"], FormatRfc3339(env_.clock.Now() + minutes(10)));
  env_.clock.Advance(minutes(10));
  EXPECT_EQ(Do({.target = "/v1/certificates", .cookie = l.cookie}).status, 401);
}

TEST_F(ConsoleApiTest, RevokingTheTokenOrDisablingThePrincipalEndsTheSession) {
  Login l = LogIn(admin_);
  ASSERT_EQ(Do({.target = "/v1/certificates", .cookie = l.cookie}).status, 200);
  ASSERT_TRUE(stack_.governance->RevokeToken(admin_token_id_).ok());
  auto r = Do({.target = "/v1/certificates", .cookie = l.cookie});
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("revoked"), std::string::npos) << r.body;

  Login a = LogIn(auditor_);
  ASSERT_EQ(Do({.target = "/v1/session", .cookie = a.cookie}).status, 200);
  lifecycle::Caller root{.principal_id = principal_ids_["root"],
                         .account_id = sys_.id,
                         .role = model::Role::kAdmin,
                         .system_admin = true};
  ASSERT_TRUE(stack_.governance->SetPrincipalDisabled(root, principal_ids_["audrey"], true).ok());
  EXPECT_EQ(Do({.target = "/v1/session", .cookie = a.cookie}).status, 401);
  // Re-enabling the principal does not bring an ended session back.
  ASSERT_TRUE(stack_.governance->SetPrincipalDisabled(root, principal_ids_["audrey"], false).ok());
  EXPECT_EQ(Do({.target = "/v1/session", .cookie = a.cookie}).status, 401);
}

TEST(SessionStoreTest, KeepsAtMostCapacityAndForgetsTheOldestFirst) {
  FakeClock clock(UtcDate(2026, 12, 1));
  SessionStore sessions(clock, SystemRandomSource(), {.capacity = 3});
  std::vector<std::string> cookies;
  for (int i = 0; i < 4; ++i) {
    cookies.push_back(sessions.Create("hash" + std::to_string(i)).cookie);
    clock.Advance(std::chrono::seconds(1));
  }
  EXPECT_EQ(sessions.size(), 3u);
  EXPECT_FALSE(sessions.Use(cookies[0]).ok());
  EXPECT_EQ(sessions.Use(cookies[3])->token_hash, "hash3");
  EXPECT_EQ(CookieValue("a=1; certfleet_session=xyz; b=2", "certfleet_session"), "xyz");
  EXPECT_EQ(CookieValue("xcertfleet_session=1", "certfleet_session"), "");
}

// ---- GET /v1/counts

class CountsTest : public ConsoleApiTest {
 protected:
  // Certificate `name` of `account` with one version ending `days` from now (none if days < 0
  // is not wanted: pass std::nullopt).
  void AddCertificate(const std::string& account, const std::string& name,
                      model::CertificateStatus status, const std::string& issuer,
                      std::optional<int> days) {
    static int n = 0;
    ++n;
    auto tx = *env_.store->Begin();
    model::Certificate c;
    c.id = "crt_" + name;
    c.account_id = account;
    c.name = name;
    c.domains = {name + ".example.test"};
    c.key_type = "ecdsa-p256";
    c.profile = "tls-server";
    c.issuer = issuer;
    c.status = status;
    c.created_by = "prn_test";
    c.created_at = c.updated_at = env_.clock.Now();
    if (days) {
      model::CertificateVersion v{.id = "crv_" + name,
                                  .certificate_id = c.id,
                                  .version = 1,
                                  .serial_hex = "0a" + std::to_string(n),
                                  .not_before = env_.clock.Now() - std::chrono::days(1),
                                  .not_after = env_.clock.Now() + std::chrono::days(*days),
                                  .leaf_pem = "x",
                                  .chain_pem = "x",
                                  .fingerprint_sha256 = "ff" + std::to_string(n),
                                  .key_blob_id = "blb_x",
                                  .created_at = env_.clock.Now()};
      c.current_version_id = v.id;
      ASSERT_TRUE(tx->certificates().Insert(c).ok());
      ASSERT_TRUE(tx->versions().Insert(v).ok());
    } else {
      ASSERT_TRUE(tx->certificates().Insert(c).ok());
    }
    ASSERT_TRUE(tx->Commit().ok());
  }

  void SetUp() override {
    ConsoleApiTest::SetUp();
    using S = model::CertificateStatus;
    // The clock is Friday 2026-11-27 00:00Z: week 0 starts Monday 2026-11-23.
    AddCertificate(alpha_.id, "a1", S::kIssued, "internal", 3);   // lt_7d, week 1 (Nov 30)
    AddCertificate(alpha_.id, "a2", S::kIssued, "le", 20);        // lt_30d, week 3
    AddCertificate(alpha_.id, "a3", S::kIssued, "internal", -2);  // expired
    AddCertificate(alpha_.id, "a4", S::kRevoked, "internal", 3);  // not in the expiry counts
    AddCertificate(alpha_.id, "a5", S::kPending, "internal", std::nullopt);
    AddCertificate(beta_.id, "b1", S::kIssued, "internal", 100);  // later
  }
};

TEST_F(CountsTest, ATenantSeesItsOwnAccount) {
  auto r = Do({.target = "/v1/counts", .bearer = admin_});
  ASSERT_EQ(r.status, 200) << r.body;
  json b = json::parse(r.body);
  EXPECT_EQ(b["certificates"]["total"], 5);
  EXPECT_EQ(b["certificates"]["by_status"],
            (json{{"issued", 3}, {"revoked", 1}, {"pending", 1}, {"failed", 0}, {"expired", 0}}));
  EXPECT_EQ(b["certificates"]["by_issuer"], (json{{"internal", 4}, {"le", 1}}));
  EXPECT_EQ(b["certificates"]["by_expiry"],
            (json{{"expired", 1}, {"lt_7d", 1}, {"lt_30d", 1}, {"lt_90d", 0}, {"later", 0}}));
  ASSERT_EQ(b["expiry_weeks"].size(), 13u);
  EXPECT_EQ(b["expiry_weeks"][0]["week_start"], "2026-11-23T00:00:00Z");
  EXPECT_EQ(b["expiry_weeks"][12]["week_start"], "2027-02-15T00:00:00Z");
  // Week 0 holds what ends this week, a3 too (it expired on Wednesday, before now).
  EXPECT_EQ(b["expiry_weeks"][0]["by_issuer"], (json{{"internal", 1}}));
  EXPECT_EQ(b["expiry_weeks"][2]["by_issuer"], json::object());
  EXPECT_EQ(b["expiry_weeks"][1]["by_issuer"], (json{{"internal", 1}}));
  EXPECT_EQ(b["expiry_weeks"][3]["by_issuer"], (json{{"le", 1}}));
  EXPECT_EQ(b["agents"], (json{{"total", 0}, {"online", 0}, {"offline", 0}}));
  EXPECT_EQ(b["deployments"]["by_state"]["failed"], 0);
  EXPECT_EQ(b["renewals_failing"], 0);
  EXPECT_EQ(b["generated_at"], FormatRfc3339(env_.clock.Now()));
  // A session works too, and the auditor may read them.
  Login l = LogIn(auditor_);
  EXPECT_EQ(
      json::parse(Do({.target = "/v1/counts", .cookie = l.cookie}).body)["certificates"]["total"],
      5);
}

TEST_F(CountsTest, SystemPrincipalsSeeEveryAccountOrTheOneTheyName) {
  auto all = Do({.target = "/v1/counts", .bearer = sysadmin_});
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(json::parse(all.body)["certificates"]["total"], 6);
  EXPECT_EQ(json::parse(all.body)["certificates"]["by_expiry"]["later"], 1);
  auto beta = Do({.target = "/v1/counts?account=beta", .bearer = sysadmin_});
  ASSERT_EQ(beta.status, 200) << beta.body;
  EXPECT_EQ(json::parse(beta.body)["certificates"]["total"], 1);
  EXPECT_EQ(Do({.target = "/v1/counts?account=nosuch", .bearer = sysadmin_}).status, 404);
}

TEST_F(CountsTest, BadQueriesAndForeignAccountsAreRefused) {
  EXPECT_EQ(Do({.target = "/v1/counts?account=beta", .bearer = admin_}).status, 404);
  EXPECT_EQ(Do({.target = "/v1/counts?account=alpha", .bearer = admin_}).status, 200);
  auto unknown = Do({.target = "/v1/counts?acount=alpha", .bearer = admin_});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("acount"), std::string::npos) << unknown.body;
  EXPECT_EQ(Do({.target = "/v1/counts?account=alpha&account=beta", .bearer = admin_}).status, 400);
  EXPECT_EQ(Do({.target = "/v1/counts"}).status, 401);
}

}  // namespace
}  // namespace certfleet::api
