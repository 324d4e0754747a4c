// The fixture of the list endpoints' tests (list_api_test.cc, lists_api_test.cc): an API over a
// fresh store with two accounts (acc_a, acc_b), each with an admin token, and helpers to call
// it and to follow next_cursor to the end.
#pragma once

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "api/api_service.h"
#include "api/api_test_env.h"
#include "fakes/pki_env.h"

namespace certfleet::api::list_test {

using nlohmann::json;

class ListApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_a_ = AddPrincipal("acc_a");
    token_b_ = AddPrincipal("acc_b");
  }

  std::string AddPrincipal(const std::string& account) {
    std::string token = AddAdminWithToken(env_, account);
    return token;
  }

  // `count` certificates of account acc_a written straight to the store (issuing 1,059 through
  // the CA would only slow the test down). Certificate n is created at base+(n*7919 % count)
  // seconds, so creation order differs from id order, and its current version (every third has
  // none) expires at base+((count-n)*31 % count) days, so not_after order differs again.
  void Seed(int count, int first = 0) {
    auto tx = env_.store->Begin();
    ASSERT_TRUE(tx.ok());
    const TimePoint base = env_.clock.Now();
    for (int n = first; n < first + count; ++n) {
      char id[32];
      std::snprintf(id, sizeof id, "crt_%026d", n);
      model::Certificate c;
      c.id = id;
      c.account_id = "acc_a";
      c.name = "cert-" + std::to_string(n);
      c.domains = {"host" + std::to_string(n) + ".example.test"};
      c.key_type = "p256";
      c.profile = "tls-server";
      c.issuer = n % 5 == 0 ? "acme-le" : "internal";
      c.exportable = n % 2 == 0;
      c.tags = {{"env", n % 2 == 0 ? "prod" : "dev"}, {"team", n % 3 == 0 ? "a" : "b"}};
      c.status = n % 4 == 0 ? model::CertificateStatus::kFailed : model::CertificateStatus::kIssued;
      c.created_by = "prn_acc_a";
      c.created_at = base + std::chrono::seconds((n * 7919) % (count + first));
      c.updated_at = c.created_at;
      if (n % 3 != 0) {
        model::CertificateVersion v;
        v.id = "ver_" + std::string(id + 4);
        v.certificate_id = c.id;
        v.version = 1;
        v.serial_hex = "0a" + std::to_string(n);
        v.not_before = base;
        v.not_after = base + std::chrono::hours(24 * (1 + ((count - n) * 31) % count));
        v.leaf_pem = "-----BEGIN CERTIFICATE-----\n";
        v.chain_pem = "";
        v.fingerprint_sha256 = "ff";
        v.key_blob_id = "blb_x";
        c.current_version_id = v.id;
        ASSERT_TRUE((*tx)->certificates().Insert(c).ok());
        ASSERT_TRUE((*tx)->versions().Insert(v).ok()) << n;
      } else {
        ASSERT_TRUE((*tx)->certificates().Insert(c).ok());
      }
    }
    ASSERT_TRUE((*tx)->Commit().ok());
  }

  net::HttpResponse Get(const std::string& target, const std::string& token = "*") {
    net::HttpRequest r;
    r.method = "GET";
    r.target = target;
    r.remote_address = "127.0.0.1:1";
    r.headers["authorization"] = "Bearer " + (token == "*" ? token_a_ : token);
    return api_->Handle(r);
  }

  static json Body(const net::HttpResponse& r) { return json::parse(r.body); }

  static void ExpectBadRequest(const net::HttpResponse& r, const std::string& needle) {
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(Body(r)["detail"].get<std::string>().find(needle), std::string::npos) << r.body;
  }

  // Follows next_cursor from `first` to the end; the items in order.
  std::vector<json> Walk(const std::string& first, int* pages = nullptr) {
    std::vector<json> out;
    std::string target = first;
    for (int page = 0; page < 2000; ++page) {
      auto r = Get(target);
      EXPECT_EQ(r.status, 200) << r.body;
      if (r.status != 200) break;
      json b = Body(r);
      for (auto& item : b["items"]) out.push_back(item);
      if (pages != nullptr) *pages = page + 1;
      EXPECT_TRUE(b.contains("next_cursor"));
      if (b["next_cursor"].is_null()) break;
      EXPECT_FALSE(b["items"].empty());
      const char sep = first.find('?') == std::string::npos ? '?' : '&';
      target = first + sep + "cursor=" + b["next_cursor"].get<std::string>();
    }
    return out;
  }

  ApiStack stack_;
  certfleet::testing::PkiEnv& env_ = stack_.env;
  std::unique_ptr<ApiService>& api_ = stack_.api;
  std::string token_a_, token_b_;
};

inline std::vector<std::string> IdsOf(const std::vector<json>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i["id"]);
  return out;
}

}  // namespace certfleet::api::list_test
