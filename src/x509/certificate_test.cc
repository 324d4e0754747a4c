#include "x509/certificate.h"

#include <gtest/gtest.h>
#include <openssl/x509.h>

#include "base/encoding.h"
#include "base/time_util.h"
#include "x509/test_util.h"

namespace certfleet::x509 {
namespace {

using testing::Issue;
using testing::LeafSpec;
using testing::MakeIntermediate;
using testing::MakeRoot;
using testing::T0;
using testing::TestCa;

class CertificateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new TestCa(MakeRoot());
    inter_ = new TestCa(MakeIntermediate(*root_));
    leaf_key_ =
        new std::shared_ptr<const crypto::PrivateKey>(testing::NewKey(crypto::KeyType::kP256));
    TbsSpec spec = LeafSpec((*leaf_key_)->public_key());
    spec.ip_addresses = {"192.0.2.7", "2001:db8::1"};
    spec.extended_key_usage = {ExtendedKeyUsage::kServerAuth, ExtendedKeyUsage::kClientAuth};
    spec.crl_distribution_points = {"http://crl.example.test/inter.crl"};
    leaf_ = new Certificate(Issue(*inter_, std::move(spec)));
  }
  static void TearDownTestSuite() {
    delete leaf_;
    delete leaf_key_;
    delete inter_;
    delete root_;
  }
  static TestCa* root_;
  static TestCa* inter_;
  static std::shared_ptr<const crypto::PrivateKey>* leaf_key_;
  static Certificate* leaf_;
};
TestCa* CertificateTest::root_ = nullptr;
TestCa* CertificateTest::inter_ = nullptr;
std::shared_ptr<const crypto::PrivateKey>* CertificateTest::leaf_key_ = nullptr;
Certificate* CertificateTest::leaf_ = nullptr;

TEST_F(CertificateTest, DerAndPemRoundTrip) {
  Result<Certificate> from_der = Certificate::FromDer(leaf_->der());
  ASSERT_TRUE(from_der.ok());
  EXPECT_EQ(from_der->der(), leaf_->der());
  std::string pem = leaf_->ToPem();
  EXPECT_EQ(pem.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0u);
  Result<Certificate> from_pem = Certificate::FromPem(pem);
  ASSERT_TRUE(from_pem.ok()) << from_pem.error().ToString();
  EXPECT_EQ(from_pem->der(), leaf_->der());
}

TEST_F(CertificateTest, RejectsBadDer) {
  EXPECT_EQ(Certificate::FromDer("").error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(Certificate::FromDer("not a certificate").error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(Certificate::FromDer(leaf_->der() + "x").error().code(), ErrorCode::kMalformed);
  std::string truncated = leaf_->der().substr(0, leaf_->der().size() - 1);
  EXPECT_EQ(Certificate::FromDer(truncated).error().code(), ErrorCode::kMalformed);
}

TEST_F(CertificateTest, PemChainInOrder) {
  std::string pem = "leading text is allowed (RFC 7468)\n" + ChainToPem({*leaf_, inter_->cert});
  Result<std::vector<Certificate>> chain = Certificate::ParsePemChain(pem);
  ASSERT_TRUE(chain.ok()) << chain.error().ToString();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0].der(), leaf_->der());
  EXPECT_EQ((*chain)[1].der(), inter_->cert.der());
  Result<std::vector<Certificate>> empty = Certificate::ParsePemChain("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
  // FromPem wants exactly one block.
  EXPECT_EQ(Certificate::FromPem(pem).error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(Certificate::FromPem("").error().code(), ErrorCode::kMalformed);
}

TEST_F(CertificateTest, PemChainRejectsPrivateKeys) {
  SecretBytes key_pem = (*leaf_key_)->ToPkcs8Pem();
  std::string key_text(key_pem.view());
  for (const std::string& pem : std::vector<std::string>{
           leaf_->ToPem() + key_text, key_text + leaf_->ToPem(),
           leaf_->ToPem() + "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
           "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"}) {
    Result<std::vector<Certificate>> chain = Certificate::ParsePemChain(pem);
    ASSERT_FALSE(chain.ok());
    EXPECT_EQ(chain.error().code(), ErrorCode::kMalformed);
    EXPECT_NE(chain.error().message().find("PRIVATE KEY"), std::string::npos)
        << chain.error().message();
    // The message names the block type, never its contents.
    EXPECT_EQ(chain.error().ToString().find("MI"), std::string::npos);
  }
  EXPECT_FALSE(Certificate::FromPem(key_text).ok());
}

TEST_F(CertificateTest, PemRejectsOtherBlocksAndDamage) {
  std::string csr =
      "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n";
  EXPECT_EQ(Certificate::ParsePemChain(csr).error().code(), ErrorCode::kMalformed);
  std::string pem = leaf_->ToPem();
  std::string truncated = pem.substr(0, pem.size() - 10);
  EXPECT_EQ(Certificate::ParsePemChain(truncated).error().code(), ErrorCode::kMalformed);
  std::string garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(Certificate::ParsePemChain(garbage).error().code(), ErrorCode::kMalformed);
}

TEST_F(CertificateTest, Accessors) {
  EXPECT_EQ(leaf_->serial_hex(), "70000000000000000000000000000001");
  EXPECT_EQ(leaf_->serial_bytes(), testing::Serial(1));
  EXPECT_EQ(leaf_->not_before(), T0());
  EXPECT_EQ(leaf_->not_after(), T0() + std::chrono::hours(24 * 90) - Seconds(1));
  EXPECT_EQ(leaf_->subject(), "CN=app.example.test");
  EXPECT_EQ(leaf_->issuer(), "CN=certfleet Test Intermediate,O=certfleet");
  EXPECT_EQ(root_->cert.subject(), "CN=certfleet Test Root,O=certfleet");
  EXPECT_EQ(root_->cert.issuer(), root_->cert.subject());
  EXPECT_EQ(leaf_->subject_common_name(), "app.example.test");
  EXPECT_EQ(leaf_->dns_names(), (std::vector<std::string>{"app.example.test", "www.example.test"}));
  EXPECT_EQ(leaf_->ip_addresses(), (std::vector<std::string>{"192.0.2.7", "2001:db8::1"}));
  EXPECT_EQ(leaf_->fingerprint_sha256_hex().size(), 64u);
  EXPECT_FALSE(leaf_->is_ca());
  EXPECT_EQ(leaf_->path_len(), std::nullopt);
  EXPECT_TRUE(inter_->cert.is_ca());
  EXPECT_EQ(inter_->cert.path_len(), 0);
  EXPECT_TRUE(root_->cert.is_ca());
  EXPECT_EQ(root_->cert.path_len(), std::nullopt);
  KeyUsage leaf_ku;
  leaf_ku.digital_signature = true;
  EXPECT_EQ(leaf_->key_usage(), leaf_ku);
  KeyUsage ca_ku{true, false, true, true};
  EXPECT_EQ(inter_->cert.key_usage(), ca_ku);
  EXPECT_EQ(leaf_->extended_key_usage(),
            (std::vector<ExtendedKeyUsage>{ExtendedKeyUsage::kServerAuth,
                                           ExtendedKeyUsage::kClientAuth}));
  EXPECT_TRUE(root_->cert.extended_key_usage().empty());
  EXPECT_EQ(leaf_->subject_key_id().size(), 20u);
  EXPECT_EQ(leaf_->authority_key_id(), inter_->cert.subject_key_id());
  EXPECT_EQ(inter_->cert.authority_key_id(), root_->cert.subject_key_id());
  EXPECT_EQ(root_->cert.authority_key_id(), root_->cert.subject_key_id());
  EXPECT_EQ(leaf_->crl_distribution_points(),
            std::vector<std::string>{"http://crl.example.test/inter.crl"});
  EXPECT_TRUE(root_->cert.crl_distribution_points().empty());
  EXPECT_EQ(leaf_->spki_der(), (*leaf_key_)->public_key().spki_der());
  Result<crypto::PublicKey> pub = leaf_->public_key();
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(pub->spki_der(), (*leaf_key_)->public_key().spki_der());
}

TEST_F(CertificateTest, RawExtensionsAndSubjectAltNameCount) {
  EXPECT_EQ(leaf_->subject_alt_name_count(), 4u);  // two dNSNames, two iPAddresses
  std::vector<RawExtension> exts = leaf_->extensions();
  std::vector<std::pair<std::string, bool>> seen;
  for (const RawExtension& e : exts) seen.emplace_back(e.oid, e.critical);
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, bool>>{{"2.5.29.19", true},
                                                             {"2.5.29.15", true},
                                                             {"2.5.29.37", false},
                                                             {"2.5.29.17", false},
                                                             {"2.5.29.14", false},
                                                             {"2.5.29.35", false},
                                                             {"2.5.29.31", false}}));
  // The value is the extension's own DER: subjectKeyIdentifier is an OCTET STRING of the key id.
  EXPECT_EQ(exts[4].value, std::string("\x04\x14", 2) + leaf_->subject_key_id());
  // A root without SANs.
  EXPECT_EQ(root_->cert.subject_alt_name_count(), 0u);
}

TEST_F(CertificateTest, AcmeTlsAlpnCertificates) {
  const std::string digest(32, '\x5a');
  testing::AcmeTlsAlpnCertSpec spec;
  spec.dns_names = {"app.example.test"};
  spec.acme_identifier = digest;
  Certificate cert = testing::MakeAcmeTlsAlpnCert(**leaf_key_, spec);
  EXPECT_EQ(cert.subject(), "CN=acme-tls-alpn-test");
  EXPECT_EQ(cert.issuer(), cert.subject());
  EXPECT_TRUE(cert.MatchesKey(**leaf_key_));
  EXPECT_EQ(cert.dns_names(), std::vector<std::string>{"app.example.test"});
  EXPECT_EQ(cert.subject_alt_name_count(), 1u);
  std::vector<RawExtension> exts = cert.extensions();
  ASSERT_EQ(exts.size(), 2u);
  EXPECT_EQ(exts[0].oid, "2.5.29.17");
  EXPECT_EQ(exts[1].oid, "1.3.6.1.5.5.7.1.31");
  EXPECT_TRUE(exts[1].critical);
  EXPECT_EQ(exts[1].value, std::string("\x04\x20", 2) + digest);  // OCTET STRING (SIZE (32))

  spec.dns_names = {"a.example.test"};
  spec.ip_addresses = {"192.0.2.1", "2001:db8::2"};
  spec.acme_identifier_critical = false;
  cert = testing::MakeAcmeTlsAlpnCert(**leaf_key_, spec);
  EXPECT_EQ(cert.subject_alt_name_count(), 3u);
  EXPECT_EQ(cert.ip_addresses(), (std::vector<std::string>{"192.0.2.1", "2001:db8::2"}));
  ASSERT_EQ(cert.extensions().size(), 2u);
  EXPECT_FALSE(cert.extensions()[1].critical);

  spec = {};
  cert = testing::MakeAcmeTlsAlpnCert(**leaf_key_, spec);
  EXPECT_EQ(cert.subject_alt_name_count(), 0u);
  EXPECT_TRUE(cert.extensions().empty());
}

TEST_F(CertificateTest, IssuerNameDerMatchesIssuerSubject) {
  const X509_NAME* issuer = X509_get_issuer_name(leaf_->get());
  unsigned char* der = nullptr;
  int len = i2d_X509_NAME(issuer, &der);
  ASSERT_GT(len, 0);
  std::string issuer_der(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  EXPECT_EQ(issuer_der, inter_->cert.subject_der());
}

TEST_F(CertificateTest, FingerprintMatchesOpensslCli) {
  testing::TempDir dir;
  std::string path = dir.Write("leaf.der", leaf_->der());
  testing::CommandResult r =
      testing::RunCommand("openssl x509 -inform DER -noout -fingerprint -sha256 -in " + path);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string hex;
  for (char c : r.output.substr(r.output.find('=') + 1)) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(c));
  }
  EXPECT_EQ(hex, leaf_->fingerprint_sha256_hex());
}

TEST_F(CertificateTest, MatchesKey) {
  EXPECT_TRUE(leaf_->MatchesKey(**leaf_key_));
  EXPECT_FALSE(leaf_->MatchesKey(*inter_->key));
  EXPECT_TRUE(inter_->cert.MatchesKey(*inter_->key));
}

TEST_F(CertificateTest, UnsupportedKeyStillParses) {
  // A third-party certificate with a key crypto does not support (P-521) parses; only
  // public_key() fails.
  Result<Certificate> c = Certificate::FromDer(leaf_->der());
  ASSERT_TRUE(c.ok());
  testing::TempDir dir;
  std::string key = dir.Write("k.pem", "");
  testing::CommandResult r =
      testing::RunCommand("cd " + dir.path() +
                          " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-521 "
                          "-nodes -keyout k.pem -subj /CN=p521 -days 1 -outform DER -out c.der");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  testing::CommandResult cat = testing::RunCommand("base64 -w0 " + dir.path() + "/c.der");
  Result<std::string> der = Base64Decode(cat.output);
  ASSERT_TRUE(der.ok());
  Result<Certificate> p521 = Certificate::FromDer(*der);
  ASSERT_TRUE(p521.ok()) << p521.error().ToString();
  EXPECT_EQ(p521->subject_common_name(), "p521");
  EXPECT_FALSE(p521->public_key().ok());
  EXPECT_FALSE(p521->spki_der().empty());
}

TEST_F(CertificateTest, FarFutureNotAfterSaturates) {
  // TimePoint ends in 2262; a notAfter near 9999 (RFC 5280 4.1.2.5) must not overflow.
  testing::TempDir dir;
  testing::CommandResult r = testing::RunCommand(
      "cd " + dir.path() +
      " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout k.pem "
      "-subj /CN=far -days 2912000 -outform DER -out c.der 2>/dev/null && base64 -w0 c.der");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Result<std::string> der = Base64Decode(r.output);
  ASSERT_TRUE(der.ok());
  Result<Certificate> far = Certificate::FromDer(*der);
  ASSERT_TRUE(far.ok()) << far.error().ToString();
  EXPECT_EQ(far->not_after(), TimePoint::max());
  EXPECT_LT(far->not_before(), TimePoint::max());
}

TEST_F(CertificateTest, VerifyChain) {
  TimePoint at = T0() + std::chrono::hours(24);
  EXPECT_TRUE(VerifyChain(*leaf_, {inter_->cert}, {root_->cert}, at).ok());
  EXPECT_TRUE(VerifyChain(*leaf_, {inter_->cert}, {root_->cert}, at, Purpose::kServerAuth).ok());
  EXPECT_TRUE(VerifyChain(*leaf_, {inter_->cert}, {root_->cert}, at, Purpose::kClientAuth).ok());
  EXPECT_TRUE(VerifyChain(inter_->cert, {}, {root_->cert}, at).ok());

  Status expired =
      VerifyChain(*leaf_, {inter_->cert}, {root_->cert}, T0() + std::chrono::hours(24 * 91));
  ASSERT_FALSE(expired.ok());
  EXPECT_EQ(expired.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(expired.error().message().find("certificate has expired"), std::string::npos)
      << expired.error().message();

  Status early = VerifyChain(*leaf_, {inter_->cert}, {root_->cert}, T0() - Seconds(1));
  ASSERT_FALSE(early.ok());
  EXPECT_NE(early.error().message().find("not yet valid"), std::string::npos);

  Status missing = VerifyChain(*leaf_, {}, {root_->cert}, at);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code(), ErrorCode::kForbidden);

  TestCa other = MakeRoot();
  Status wrong_root = VerifyChain(*leaf_, {inter_->cert}, {other.cert}, at);
  ASSERT_FALSE(wrong_root.ok());
  EXPECT_EQ(wrong_root.error().code(), ErrorCode::kForbidden);
}

TEST_F(CertificateTest, VerifyChainPurpose) {
  TbsSpec spec = LeafSpec((*leaf_key_)->public_key());
  spec.serial = testing::Serial(77);
  Certificate server_only = Issue(*inter_, std::move(spec));
  TimePoint at = T0() + std::chrono::hours(24);
  EXPECT_TRUE(
      VerifyChain(server_only, {inter_->cert}, {root_->cert}, at, Purpose::kServerAuth).ok());
  Status client = VerifyChain(server_only, {inter_->cert}, {root_->cert}, at, Purpose::kClientAuth);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.error().code(), ErrorCode::kForbidden);
  EXPECT_NE(client.error().message().find("purpose"), std::string::npos)
      << client.error().message();
}

TEST_F(CertificateTest, OpensslCliAgrees) {
  testing::TempDir dir;
  std::string root = dir.Write("root.pem", root_->cert.ToPem());
  std::string inter = dir.Write("inter.pem", inter_->cert.ToPem());
  std::string leaf = dir.Write("leaf.pem", leaf_->ToPem());
  int64_t at = ToUnixSeconds(T0() + std::chrono::hours(24));
  testing::CommandResult v = testing::RunCommand(
      "openssl verify -x509_strict -purpose sslserver -attime " + std::to_string(at) + " -CAfile " +
      root + " -untrusted " + inter + " " + leaf);
  EXPECT_EQ(v.exit_code, 0) << v.output;
  testing::CommandResult text = testing::RunCommand("openssl x509 -noout -text -in " + leaf);
  ASSERT_EQ(text.exit_code, 0) << text.output;
  for (const char* want : {"DNS:app.example.test", "DNS:www.example.test", "IP Address:192.0.2.7",
                           "IP Address:2001:DB8:0:0:0:0:0:1", "TLS Web Server Authentication",
                           "CA:FALSE", "Digital Signature", "URI:http://crl.example.test/inter.crl",
                           "ecdsa-with-SHA256", "Version: 3 (0x2)"}) {
    EXPECT_NE(text.output.find(want), std::string::npos) << want << "\n" << text.output;
  }
}

}  // namespace
}  // namespace certfleet::x509
