#include <gtest/gtest.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <set>
#include <thread>

#include <time.h>

#include "base/time_util.h"
#include "x509/issued_check.h"
#include "x509/tbs.h"
#include "x509/test_util.h"

namespace certfleet::x509 {
namespace {

using testing::Issue;
using testing::LeafSpec;
using testing::T0;
using testing::TestCa;

class SignerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TestCa(testing::MakeRoot());
    inter_ = new TestCa(testing::MakeIntermediate(*root_));
    key_ = new std::shared_ptr<const crypto::PrivateKey>(testing::NewKey(crypto::KeyType::kP256));
  }
  static void TearDownTestSuite() {
    delete key_;
    delete inter_;
    delete root_;
  }
  static Result<Certificate> LintAndSign(const TestCa& ca, TbsSpec spec) {
    Result<LintedTbs> linted = Lint(std::move(spec), LintOptions{}, &ca.cert);
    if (!linted.ok()) return std::move(linted).error();
    return ca.signer.Sign(std::move(linted).value());
  }
  static TestCa* root_;
  static TestCa* inter_;
  static std::shared_ptr<const crypto::PrivateKey>* key_;
};
TestCa* SignerTest::root_ = nullptr;
TestCa* SignerTest::inter_ = nullptr;
std::shared_ptr<const crypto::PrivateKey>* SignerTest::key_ = nullptr;

TEST_F(SignerTest, LeafHasLintedFields) {
  TbsSpec spec = LeafSpec((*key_)->public_key());
  Result<Certificate> cert = LintAndSign(*inter_, spec);
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  EXPECT_EQ(X509_get_version(cert->get()), X509_VERSION_3);
  EXPECT_EQ(cert->serial_bytes(), spec.serial);
  EXPECT_EQ(cert->dns_names(), spec.dns_names);
  EXPECT_EQ(cert->spki_der(), spec.subject_public_key_der);
  EXPECT_EQ(cert->issuer(), inter_->cert.subject());
  EXPECT_EQ(X509_get_signature_nid(cert->get()), NID_ecdsa_with_SHA256);
  EXPECT_TRUE(VerifyChain(*cert, {inter_->cert}, {root_->cert}, T0() + Seconds(1)).ok());
  // BR 7.1.2.7.11: keyUsage critical; RFC 5280 4.2.1.6: SAN non-critical with a subject.
  int san = X509_get_ext_by_NID(cert->get(), NID_subject_alt_name, -1);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(cert->get(), san)), 0);
  int ku = X509_get_ext_by_NID(cert->get(), NID_key_usage, -1);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(cert->get(), ku)), 1);
}

TEST_F(SignerTest, EmptySubjectMakesSanCritical) {
  TbsSpec spec = LeafSpec((*key_)->public_key());
  spec.subject_common_name.clear();
  Result<Certificate> cert = LintAndSign(*inter_, spec);
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  EXPECT_EQ(cert->subject(), "");
  int san = X509_get_ext_by_NID(cert->get(), NID_subject_alt_name, -1);
  EXPECT_EQ(X509_EXTENSION_get_critical(X509_get_ext(cert->get(), san)), 1);
}

TEST_F(SignerTest, SerialWithTopBitGetsSignOctet) {
  TbsSpec spec = LeafSpec((*key_)->public_key());
  spec.serial = std::string("\x00\x00\xff", 3) + std::string(15, '\x01');  // leading zeros dropped
  Result<Certificate> cert = LintAndSign(*inter_, spec);
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  std::string magnitude = std::string("\xff", 1) + std::string(15, '\x01');
  EXPECT_EQ(cert->serial_bytes(), magnitude);
  EXPECT_EQ(cert->serial_hex(), "ff010101010101010101010101010101");
  // DER: INTEGER, length 17, 0x00 sign octet, then the magnitude.
  const std::string& der = cert->der();
  std::string encoded = std::string("\x02\x11\x00", 3) + magnitude;
  EXPECT_NE(der.find(encoded), std::string::npos);
}

TEST_F(SignerTest, UtcTimeBefore2050GeneralizedTimeAfter) {
  TbsSpec spec = testing::CaSpec(inter_->key->public_key(), "Long Root");
  spec.not_before = UtcDate(2049, 12, 31);
  spec.not_after = UtcDate(2050, 1, 1);
  spec.subject_public_key_der = (*key_)->public_key().spki_der();
  auto self = Signer::Create(std::nullopt, *key_);
  ASSERT_TRUE(self.ok());
  Result<LintedTbs> linted = Lint(spec, LintOptions{}, nullptr);
  ASSERT_TRUE(linted.ok()) << linted.error().ToString();
  Result<Certificate> cert = self->Sign(std::move(linted).value());
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  // RFC 5280 section 4.1.2.5.
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notBefore(cert->get())), V_ASN1_UTCTIME);
  EXPECT_EQ(ASN1_STRING_type(X509_get0_notAfter(cert->get())), V_ASN1_GENERALIZEDTIME);
  EXPECT_EQ(cert->not_before(), spec.not_before);
  EXPECT_EQ(cert->not_after(), spec.not_after);
}

TEST_F(SignerTest, SignatureAlgorithmFollowsIssuerKey) {
  const std::pair<crypto::KeyType, int> kCases[] = {
      {crypto::KeyType::kP256, NID_ecdsa_with_SHA256},
      {crypto::KeyType::kP384, NID_ecdsa_with_SHA384},
      {crypto::KeyType::kRsa2048, NID_sha256WithRSAEncryption},
      {crypto::KeyType::kEd25519, NID_ED25519}};
  for (auto [type, nid] : kCases) {
    SCOPED_TRACE(std::string(crypto::KeyTypeName(type)));
    TestCa root = testing::MakeRoot(type);
    EXPECT_EQ(X509_get_signature_nid(root.cert.get()), nid);
    Certificate leaf = Issue(root, LeafSpec((*key_)->public_key()));
    EXPECT_EQ(X509_get_signature_nid(leaf.get()), nid);
    EXPECT_TRUE(VerifyChain(leaf, {}, {root.cert}, T0() + Seconds(1)).ok());
  }
}

TEST_F(SignerTest, LeafKeyTypes) {
  for (crypto::KeyType type :
       {crypto::KeyType::kP384, crypto::KeyType::kRsa2048, crypto::KeyType::kEd25519}) {
    SCOPED_TRACE(std::string(crypto::KeyTypeName(type)));
    auto key = testing::NewKey(type);
    Certificate leaf = Issue(*inter_, LeafSpec(key->public_key()));
    EXPECT_TRUE(leaf.MatchesKey(*key));
    EXPECT_TRUE(VerifyChain(leaf, {inter_->cert}, {root_->cert}, T0() + Seconds(1)).ok());
  }
}

TEST_F(SignerTest, CreateValidatesIssuer) {
  Result<Signer> wrong_key = Signer::Create(inter_->cert, root_->key);
  ASSERT_FALSE(wrong_key.ok());
  EXPECT_EQ(wrong_key.error().code(), ErrorCode::kInvalidArgument);
  Certificate leaf = Issue(*inter_, LeafSpec((*key_)->public_key()));
  Result<Signer> leaf_issuer = Signer::Create(leaf, *key_);
  ASSERT_FALSE(leaf_issuer.ok());
  EXPECT_EQ(leaf_issuer.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(Signer::Create(std::nullopt, nullptr).ok());
}

TEST_F(SignerTest, SelfSignedMustCertifyOwnKey) {
  auto self = Signer::Create(std::nullopt, root_->key);
  ASSERT_TRUE(self.ok());
  TbsSpec spec = testing::CaSpec((*key_)->public_key(), "Not My Key");
  Result<LintedTbs> linted = Lint(spec, LintOptions{}, nullptr);
  ASSERT_TRUE(linted.ok());
  Result<Certificate> cert = self->Sign(std::move(linted).value());
  ASSERT_FALSE(cert.ok());
  EXPECT_EQ(cert.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(SignerTest, OpensslCliVerifiesChain) {
  TbsSpec spec = LeafSpec((*key_)->public_key());
  spec.crl_distribution_points = {"http://crl.example.test/1.crl"};
  spec.ip_addresses = {"192.0.2.10"};
  Result<Certificate> cert = LintAndSign(*inter_, spec);
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  testing::TempDir dir;
  std::string root = dir.Write("root.pem", root_->cert.ToPem());
  std::string inter = dir.Write("inter.pem", inter_->cert.ToPem());
  std::string leaf = dir.Write("leaf.pem", cert->ToPem());
  testing::CommandResult v =
      testing::RunCommand("openssl verify -x509_strict -purpose sslserver -attime " +
                          std::to_string(ToUnixSeconds(T0() + Seconds(60))) + " -CAfile " + root +
                          " -untrusted " + inter + " " + leaf);
  EXPECT_EQ(v.exit_code, 0) << v.output;
  // GnuTLS as a second, independent decoder, when installed.
  testing::CommandResult certtool = testing::RunCommand("certtool -i --infile " + leaf);
  if (certtool.exit_code != 127) {
    EXPECT_EQ(certtool.exit_code, 0) << certtool.output;
  }
}

// The parse-back check must reject a certificate that differs from its spec in any field.
// This drives internal::CheckIssuedMatchesSpec (the seam Sign() calls) with specs that each
// differ from the issued certificate in one field.
TEST_F(SignerTest, MismatchCheckFiresForEveryField) {
  TbsSpec spec = LeafSpec((*key_)->public_key());
  spec.ip_addresses = {"192.0.2.1"};
  spec.crl_distribution_points = {"http://crl.example.test/1.crl"};
  Result<Certificate> cert = LintAndSign(*inter_, spec);
  ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  internal::IssuerExpectations expected{inter_->cert.subject_der(), inter_->cert.subject_key_id(),
                                        NID_ecdsa_with_SHA256};
  ASSERT_TRUE(internal::CheckIssuedMatchesSpec(cert->der(), spec, expected).ok());

  auto other_key = testing::NewKey(crypto::KeyType::kP256);
  struct Case {
    std::string field;
    std::function<void(TbsSpec&, internal::IssuerExpectations&)> mutate;
  };
  using E = internal::IssuerExpectations;
  const std::vector<Case> cases = {
      {"serial", [](TbsSpec& s, E&) { s.serial.back() ^= 1; }},
      {"notBefore", [](TbsSpec& s, E&) { s.not_before += Seconds(1); }},
      {"notAfter", [](TbsSpec& s, E&) { s.not_after -= Seconds(1); }},
      {"subject", [](TbsSpec& s, E&) { s.subject_common_name = "www.example.test"; }},
      {"subject", [](TbsSpec& s, E&) { s.subject_organization = "Extra"; }},
      {"issuer", [](TbsSpec&, E& e) { e.issuer_name_der = root_->cert.subject_der(); }},
      {"subjectPublicKeyInfo",
       [&](TbsSpec& s, E&) { s.subject_public_key_der = other_key->public_key().spki_der(); }},
      {"signatureAlgorithm", [](TbsSpec&, E& e) { e.signature_nid = NID_ecdsa_with_SHA384; }},
      {"extension set", [](TbsSpec& s, E&) { s.crl_distribution_points.clear(); }},
      {"extension set",
       [](TbsSpec& s, E&) {
         s.dns_names.clear();
         s.ip_addresses.clear();
       }},
      {"subject", [](TbsSpec& s, E&) { s.subject_common_name.clear(); }},
      {"basicConstraints cA", [](TbsSpec& s, E&) { s.is_ca = true; }},
      {"keyUsage", [](TbsSpec& s, E&) { s.key_usage.key_encipherment = true; }},
      {"extendedKeyUsage",
       [](TbsSpec& s, E&) { s.extended_key_usage = {ExtendedKeyUsage::kClientAuth}; }},
      {"subjectAltName dNSName", [](TbsSpec& s, E&) { s.dns_names.pop_back(); }},
      {"subjectAltName dNSName", [](TbsSpec& s, E&) { std::swap(s.dns_names[0], s.dns_names[1]); }},
      {"subjectAltName iPAddress", [](TbsSpec& s, E&) { s.ip_addresses = {"192.0.2.2"}; }},
      {"cRLDistributionPoints",
       [](TbsSpec& s, E&) { s.crl_distribution_points = {"http://crl.example.test/2.crl"}; }},
      {"authorityKeyIdentifier",
       [](TbsSpec&, E& e) { e.authority_key_id = root_->cert.subject_key_id(); }},
  };
  for (const Case& c : cases) {
    TbsSpec changed = spec;
    E exp = expected;
    c.mutate(changed, exp);
    Status st = internal::CheckIssuedMatchesSpec(cert->der(), changed, exp);
    ASSERT_FALSE(st.ok()) << c.field;
    EXPECT_EQ(st.error().code(), ErrorCode::kInternal);
    EXPECT_NE(st.error().message().find(c.field), std::string::npos)
        << c.field << " vs " << st.error().message();
  }

  // Damaged encodings are caught by the framing checks.
  for (const std::string& der :
       {cert->der() + std::string(1, '\0'), cert->der().substr(0, cert->der().size() - 1)}) {
    Status framing = internal::CheckIssuedMatchesSpec(der, spec, expected);
    ASSERT_FALSE(framing.ok());
    EXPECT_NE(framing.error().message().find("framing"), std::string::npos);
  }

  // pathLen needs a CA certificate to differ in pathLen only.
  TbsSpec ca_spec = testing::CaSpec(other_key->public_key(), "Sub");
  ca_spec.not_before = T0();
  ca_spec.not_after = T0() + std::chrono::hours(24);
  ca_spec.path_len = 1;
  Result<Certificate> ca = LintAndSign(*root_, ca_spec);
  ASSERT_TRUE(ca.ok()) << ca.error().ToString();
  E root_expected{root_->cert.subject_der(), root_->cert.subject_key_id(), NID_ecdsa_with_SHA256};
  ASSERT_TRUE(internal::CheckIssuedMatchesSpec(ca->der(), ca_spec, root_expected).ok());
  ca_spec.path_len = 2;
  Status st = internal::CheckIssuedMatchesSpec(ca->der(), ca_spec, root_expected);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("pathLenConstraint"), std::string::npos);
  // Another Signer's certificate (different SKID) is caught too.
  TbsSpec other_spec = LeafSpec(other_key->public_key());
  Result<Certificate> other = LintAndSign(*inter_, other_spec);
  ASSERT_TRUE(other.ok());
  other_spec.subject_public_key_der = spec.subject_public_key_der;
  EXPECT_FALSE(internal::CheckIssuedMatchesSpec(other->der(), other_spec, expected).ok());
}

TEST_F(SignerTest, ConcurrentSigning) {
  constexpr int kThreads = 4, kEach = 50;
  std::vector<std::vector<std::string>> serials(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        TbsSpec spec = LeafSpec((*key_)->public_key());
        spec.serial = testing::Serial(10000 + t * kEach + i);
        Result<Certificate> cert = LintAndSign(*inter_, spec);
        if (!cert.ok()) {
          ++failures;
          continue;
        }
        serials[t].push_back(cert->serial_hex());
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::set<std::string> all;
  for (const auto& v : serials) all.insert(v.begin(), v.end());
  EXPECT_EQ(all.size(), size_t{kThreads * kEach});
}

// Prints (does not assert) the cost of one P-256 leaf: build, sign, DER, decode back and
// compare. Meaningful only in a Release build. Reports wall time and this thread's CPU time,
// since the build machines are shared.
TEST_F(SignerTest, PerfP256Leaf) {
  constexpr int kN = 2000;
  auto cpu_now = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
  };
  std::vector<LintedTbs> linted;
  linted.reserve(kN);
  double lint_cpu = cpu_now();
  auto lint_start = std::chrono::steady_clock::now();
  for (int i = 0; i < kN; ++i) {
    TbsSpec spec = LeafSpec((*key_)->public_key());
    spec.serial = testing::Serial(100000 + i);
    Result<LintedTbs> l = Lint(std::move(spec), LintOptions{}, &inter_->cert);
    ASSERT_TRUE(l.ok());
    linted.push_back(std::move(l).value());
  }
  double sign_cpu = cpu_now();
  auto sign_start = std::chrono::steady_clock::now();
  for (LintedTbs& l : linted) {
    Result<Certificate> cert = inter_->signer.Sign(std::move(l));
    ASSERT_TRUE(cert.ok()) << cert.error().ToString();
  }
  double end_cpu = cpu_now();
  auto end = std::chrono::steady_clock::now();
  // Baseline on the same machine and moment: one bare ECDSA P-256 signature over a TBS-sized
  // message with the same key.
  std::string tbs(450, 'x');
  for (int i = 0; i < kN; ++i) ASSERT_TRUE(inter_->key->Sign(tbs).ok());
  double raw_cpu = cpu_now();
  auto us = [](auto d) { return std::chrono::duration<double, std::micro>(d).count() / kN; };
  std::printf(
      "[perf] P-256 leaf, n=%d: Sign() incl. decode-back check %.1f us wall, %.1f us CPU; "
      "Lint() %.1f us wall, %.1f us CPU; bare ECDSA signature %.1f us CPU\n",
      kN, us(end - sign_start), (end_cpu - sign_cpu) / kN, us(sign_start - lint_start),
      (sign_cpu - lint_cpu) / kN, (raw_cpu - end_cpu) / kN);
}

}  // namespace
}  // namespace certfleet::x509
