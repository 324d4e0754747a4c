#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/time_util.h"
#include "ca/authority.h"
#include "fakes/pki_env.h"

namespace certfleet::ca {
namespace {

using std::chrono::days;

class CaTest : public ::testing::Test {
 protected:
  std::unique_ptr<CertificateAuthority> MakeCa() {
    auto ca = CertificateAuthority::LoadOrCreate(*env_.store, *env_.secret_store, clock_,
                                                 SystemRandomSource());
    EXPECT_TRUE(ca.ok()) << ca.error().ToString();
    return ca.ok() ? std::move(*ca) : nullptr;
  }

  LeafRequest Request(const std::string& profile, crypto::KeyType type = crypto::KeyType::kP256) {
    auto key = crypto::PrivateKey::Generate(type);
    EXPECT_TRUE(key.ok());
    return LeafRequest{.profile = profile,
                       .dns_names = {"app.example.test", "www.example.test"},
                       .subject_public_key_der = key->public_key().spki_der(),
                       .key_type = type};
  }

  testing::PkiEnv env_;
  FakeClock& clock_ = env_.clock;
  std::unique_ptr<store::Store>& store_ = env_.store;
};

TEST_F(CaTest, HierarchyIsCreatedOnceAndReloaded) {
  auto ca = MakeCa();
  ASSERT_TRUE(ca);
  EXPECT_TRUE(ca->root().is_ca());
  EXPECT_TRUE(ca->intermediate().is_ca());
  EXPECT_EQ(ca->intermediate().path_len(), 0);
  EXPECT_EQ(ca->intermediate().issuer(), ca->root().subject());
  EXPECT_TRUE(x509::VerifyChain(ca->intermediate(), {}, {ca->root()}, clock_.Now()).ok());
  auto again = MakeCa();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->root().der(), ca->root().der());
  EXPECT_EQ(again->intermediate().der(), ca->intermediate().der());
}

TEST_F(CaTest, IssuesEachProfileWithItsEkuAndVerifies) {
  auto ca = MakeCa();
  ASSERT_TRUE(ca);
  struct Case {
    std::string profile;
    x509::ExtendedKeyUsage eku;
    x509::Purpose purpose;
    days validity;
  };
  for (const Case& c : {Case{"tls-server", x509::ExtendedKeyUsage::kServerAuth,
                             x509::Purpose::kServerAuth, days(90)},
                        Case{"tls-client", x509::ExtendedKeyUsage::kClientAuth,
                             x509::Purpose::kClientAuth, days(90)},
                        Case{"short-lived", x509::ExtendedKeyUsage::kServerAuth,
                             x509::Purpose::kServerAuth, days(7)}}) {
    auto issued = ca->Issue(Request(c.profile));
    ASSERT_TRUE(issued.ok()) << c.profile << ": " << issued.error().ToString();
    const x509::Certificate& leaf = issued->leaf;
    EXPECT_EQ(leaf.extended_key_usage(), std::vector<x509::ExtendedKeyUsage>{c.eku});
    EXPECT_FALSE(leaf.is_ca());
    EXPECT_EQ(leaf.subject_common_name(), "app.example.test");
    EXPECT_EQ(leaf.dns_names(), (std::vector<std::string>{"app.example.test", "www.example.test"}));
    EXPECT_EQ(leaf.not_after() - leaf.not_before() + std::chrono::seconds(1), c.validity);
    EXPECT_GE(leaf.serial_bytes().size(), 16u);  // >= 128 bits
    EXPECT_TRUE(x509::VerifyChain(leaf, issued->chain, {ca->root()}, clock_.Now(), c.purpose).ok());
    auto tx = store_->Begin();
    ASSERT_TRUE(tx.ok());
    EXPECT_TRUE(*(*tx)->serials().Exists(leaf.serial_hex()));
  }
}

TEST_F(CaTest, ValidityCapsFollowTheCabfSchedule) {
  EXPECT_EQ(CabfMaxValidity(UtcDate(2026, 3, 14)), days(398));
  EXPECT_EQ(CabfMaxValidity(UtcDate(2026, 3, 15)), days(200));
  EXPECT_EQ(CabfMaxValidity(UtcDate(2027, 3, 15)), days(100));
  EXPECT_EQ(CabfMaxValidity(UtcDate(2029, 3, 15)), days(47));
  auto ca = MakeCa();
  ASSERT_TRUE(ca);
  LeafRequest r = Request("tls-server");
  r.validity = days(200);
  EXPECT_TRUE(ca->Issue(r).ok());
  r.validity = days(201);
  auto too_long = ca->Issue(r);
  ASSERT_FALSE(too_long.ok());
  EXPECT_NE(too_long.error().message().find("at most 200 days"), std::string::npos);
  clock_.Set(UtcDate(2029, 4, 1));
  r.validity.reset();
  auto later = ca->Issue(r);  // default 90 days is capped to 47 from 2029-03-15
  ASSERT_TRUE(later.ok()) << later.error().ToString();
  EXPECT_EQ(later->leaf.not_after() - later->leaf.not_before() + std::chrono::seconds(1), days(47));
}

TEST_F(CaTest, RefusesWhatTheProfileForbids) {
  auto ca = MakeCa();
  ASSERT_TRUE(ca);
  LeafRequest r = Request("short-lived");
  r.validity = days(8);
  EXPECT_EQ(ca->Issue(r).error().code(), ErrorCode::kInvalidArgument);
  r.validity = std::chrono::minutes(4);
  EXPECT_EQ(ca->Issue(r).error().code(), ErrorCode::kInvalidArgument);
  r.validity = std::chrono::minutes(5);
  EXPECT_TRUE(ca->Issue(r).ok());
  EXPECT_FALSE(ca->Issue(Request("tls-server", crypto::KeyType::kEd25519)).ok());
  EXPECT_TRUE(ca->Issue(Request("tls-client", crypto::KeyType::kEd25519)).ok());
  EXPECT_EQ(ca->Issue(Request("no-such-profile")).error().code(), ErrorCode::kInvalidArgument);
  LeafRequest bad = Request("tls-server");
  bad.dns_names = {"a..b"};
  EXPECT_EQ(ca->Issue(bad).error().code(), ErrorCode::kInvalidArgument);
  LeafRequest ip = Request("tls-server");
  ip.ip_addresses = {"127.0.0.1"};
  EXPECT_FALSE(ca->Issue(ip).ok());
}

TEST_F(CaTest, LeavesNameTheCrlUrl) {
  auto ca = CertificateAuthority::LoadOrCreate(
      *env_.store, *env_.secret_store, clock_, SystemRandomSource(),
      {.crl_url = "https://127.0.0.1:8443/crl/intermediate.crl"});
  ASSERT_TRUE(ca.ok()) << ca.error().ToString();
  auto leaf = (*ca)->Issue(Request("tls-server"));
  ASSERT_TRUE(leaf.ok()) << leaf.error().ToString();
  EXPECT_EQ(leaf->leaf.crl_distribution_points(),
            std::vector<std::string>{"https://127.0.0.1:8443/crl/intermediate.crl"});
}

TEST_F(CaTest, CrlListsRevocationsOfItsIntermediateWithIncreasingNumbers) {
  auto ca = MakeCa();
  ASSERT_TRUE(ca);
  auto first = ca->CurrentCrl();
  ASSERT_TRUE(first.ok()) << first.error().ToString();
  auto cached = ca->CurrentCrl();
  ASSERT_TRUE(cached.ok());
  EXPECT_EQ(*first, *cached);  // nothing changed: the same CRL

  auto leaf = ca->Issue(Request("tls-server"));
  ASSERT_TRUE(leaf.ok());
  {
    auto tx = store_->Begin();
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE((*tx)
                    ->revocations()
                    .Insert({.serial_hex = leaf->leaf.serial_hex(),
                             .ca_id = ca->intermediate_id(),
                             .certificate_id = "crt_x",
                             .version_id = "crv_x",
                             .reason = 1,
                             .revoked_at = clock_.Now()})
                    .ok());
    ASSERT_TRUE(
        (*tx)
            ->revocations()
            .Insert({.serial_hex = "0102030405060708090a0b0c", .ca_id = "ca_other", .reason = 1})
            .ok());
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  auto second = ca->CurrentCrl();
  ASSERT_TRUE(second.ok());
  EXPECT_NE(*first, *second);
  EXPECT_NE(second->find(HexDecode(leaf->leaf.serial_hex()).value()), std::string::npos);
  EXPECT_EQ(second->find(HexDecode("0102030405060708090a0b0c").value()), std::string::npos);

  // Another CA object on the same store (a restart, a replica) continues the numbering.
  clock_.Advance(std::chrono::hours(2));
  auto again = MakeCa();
  auto third = again->CurrentCrl();
  ASSERT_TRUE(third.ok());
  auto tx = store_->Begin();
  ASSERT_TRUE(tx.ok());
  auto number = (*tx)->settings().Get("ca.crl_number." + ca->intermediate_id());
  ASSERT_TRUE(number.ok() && number->has_value());
  EXPECT_EQ(**number, "3");
}

}  // namespace
}  // namespace certfleet::ca
