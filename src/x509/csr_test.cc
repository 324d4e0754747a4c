#include "x509/csr.h"

#include <gtest/gtest.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "base/encoding.h"
#include "x509/ossl.h"
#include "x509/test_util.h"

namespace certfleet::x509 {
namespace {

int SignatureNid(const Csr& csr) {
  const unsigned char* p = internal::Bytes(csr.der());
  internal::X509ReqPtr req(d2i_X509_REQ(nullptr, &p, static_cast<long>(csr.der().size())));
  return req ? X509_REQ_get_signature_nid(req.get()) : NID_undef;
}

struct KeyCase {
  crypto::KeyType type;
  int signature_nid;
};

class CsrKeyTest : public ::testing::TestWithParam<KeyCase> {};

TEST_P(CsrKeyTest, BuildParseVerify) {
  auto key = testing::NewKey(GetParam().type);
  std::vector<std::string> names = {"app.example.test", "*.app.example.test"};
  Result<Csr> csr = Csr::Build(*key, "app.example.test", names);
  ASSERT_TRUE(csr.ok()) << csr.error().ToString();
  EXPECT_TRUE(csr->VerifySignature().ok());
  EXPECT_EQ(SignatureNid(*csr), GetParam().signature_nid);

  Result<Csr> parsed = Csr::FromDer(csr->der());
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_TRUE(parsed->VerifySignature().ok());
  EXPECT_EQ(parsed->common_name(), "app.example.test");
  EXPECT_EQ(parsed->dns_names(), names);
  EXPECT_EQ(parsed->public_key().spki_der(), key->public_key().spki_der());

  Result<Csr> from_pem = Csr::FromPem(csr->ToPem());
  ASSERT_TRUE(from_pem.ok()) << from_pem.error().ToString();
  EXPECT_EQ(from_pem->der(), csr->der());

  // An independent decoder accepts the request and its self-signature.
  testing::TempDir dir;
  std::string path = dir.Write("req.pem", csr->ToPem());
  testing::CommandResult r = testing::RunCommand("openssl req -noout -verify -in " + path);
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

INSTANTIATE_TEST_SUITE_P(KeyTypes, CsrKeyTest,
                         ::testing::Values(KeyCase{crypto::KeyType::kP256, NID_ecdsa_with_SHA256},
                                           KeyCase{crypto::KeyType::kP384, NID_ecdsa_with_SHA384},
                                           KeyCase{crypto::KeyType::kRsa2048,
                                                   NID_sha256WithRSAEncryption},
                                           KeyCase{crypto::KeyType::kEd25519, NID_ED25519}));

TEST(CsrTest, EmptyCommonNameAndNoNames) {
  auto key = testing::NewKey(crypto::KeyType::kP256);
  Result<Csr> csr = Csr::Build(*key, "", {"only.example.test"});
  ASSERT_TRUE(csr.ok()) << csr.error().ToString();
  Result<Csr> parsed = Csr::FromDer(csr->der());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->common_name(), "");
  EXPECT_EQ(parsed->dns_names(), std::vector<std::string>{"only.example.test"});

  Result<Csr> bare = Csr::Build(*key, "bare", {});
  ASSERT_TRUE(bare.ok());
  Result<Csr> bare_parsed = Csr::FromDer(bare->der());
  ASSERT_TRUE(bare_parsed.ok());
  EXPECT_TRUE(bare_parsed->dns_names().empty());
  EXPECT_TRUE(bare_parsed->VerifySignature().ok());
}

TEST(CsrTest, RejectsInvalidNames) {
  auto key = testing::NewKey(crypto::KeyType::kP256);
  Result<Csr> csr = Csr::Build(*key, "x", {"not a name"});
  ASSERT_FALSE(csr.ok());
  EXPECT_EQ(csr.error().code(), ErrorCode::kInvalidArgument);
}

TEST(CsrTest, TamperedSignatureFails) {
  auto key = testing::NewKey(crypto::KeyType::kP256);
  Result<Csr> csr = Csr::Build(*key, "app.example.test", {"app.example.test"});
  ASSERT_TRUE(csr.ok());
  // Flip a bit inside the subject CN ("app" -> "aqp"): still parses, signature must fail.
  std::string der = csr->der();
  size_t pos = der.find("app.example.test");
  ASSERT_NE(pos, std::string::npos);
  der[pos + 1] ^= 0x01;
  Result<Csr> tampered = Csr::FromDer(der);
  ASSERT_TRUE(tampered.ok()) << tampered.error().ToString();
  Status verified = tampered->VerifySignature();
  ASSERT_FALSE(verified.ok());
  EXPECT_EQ(verified.error().code(), ErrorCode::kMalformed);
}

TEST(CsrTest, RejectsBadInput) {
  EXPECT_EQ(Csr::FromDer("").error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(Csr::FromDer("garbage").error().code(), ErrorCode::kMalformed);
  auto key = testing::NewKey(crypto::KeyType::kP256);
  Result<Csr> csr = Csr::Build(*key, "a.example.test", {"a.example.test"});
  ASSERT_TRUE(csr.ok());
  EXPECT_EQ(Csr::FromDer(csr->der() + "x").error().code(), ErrorCode::kMalformed);
  // A certificate PEM is not a CSR.
  std::string pem = csr->ToPem();
  std::string wrong = pem;
  wrong.replace(wrong.find("CERTIFICATE REQUEST"), 19, "CERTIFICATE");
  wrong.replace(wrong.rfind("CERTIFICATE REQUEST"), 19, "CERTIFICATE");
  EXPECT_EQ(Csr::FromPem(wrong).error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(Csr::FromPem(pem + pem).error().code(), ErrorCode::kMalformed);
  // The legacy label is accepted.
  std::string legacy = pem;
  legacy.replace(legacy.find("CERTIFICATE REQUEST"), 19, "NEW CERTIFICATE REQUEST");
  legacy.replace(legacy.rfind("CERTIFICATE REQUEST"), 19, "NEW CERTIFICATE REQUEST");
  EXPECT_TRUE(Csr::FromPem(legacy).ok());
}

TEST(CsrTest, ParsesOpensslCliRequest) {
  testing::TempDir dir;
  testing::CommandResult r = testing::RunCommand(
      "cd " + dir.path() +
      " && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
      "-nodes -keyout k.pem -subj /CN=cli.example.test "
      "-addext subjectAltName=DNS:cli.example.test,IP:192.0.2.1,DNS:b.example.test,"
      "IP:2001:DB8:0:0::7 "
      "-outform DER -out r.der 2>/dev/null && base64 -w0 r.der");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string b64 = r.output;
  Result<std::string> der = Base64Decode(b64);
  ASSERT_TRUE(der.ok());
  Result<Csr> csr = Csr::FromDer(*der);
  ASSERT_TRUE(csr.ok()) << csr.error().ToString();
  EXPECT_TRUE(csr->VerifySignature().ok());
  EXPECT_EQ(csr->common_name(), "cli.example.test");
  EXPECT_EQ(csr->dns_names(), (std::vector<std::string>{"cli.example.test", "b.example.test"}));
  EXPECT_EQ(csr->ip_addresses(), (std::vector<std::string>{"192.0.2.1", "2001:db8::7"}));
}

TEST(CsrTest, BuildsAndParsesIpAddresses) {
  auto key = testing::NewKey(crypto::KeyType::kP256);
  Result<Csr> csr = Csr::Build(*key, "", {"a.example.test"}, {"192.0.2.7", "2001:DB8::1"});
  ASSERT_TRUE(csr.ok()) << csr.error().ToString();
  EXPECT_EQ(csr->ip_addresses(), (std::vector<std::string>{"192.0.2.7", "2001:db8::1"}));
  Result<Csr> parsed = Csr::FromDer(csr->der());
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->dns_names(), std::vector<std::string>{"a.example.test"});
  EXPECT_EQ(parsed->ip_addresses(), (std::vector<std::string>{"192.0.2.7", "2001:db8::1"}));
  EXPECT_TRUE(parsed->VerifySignature().ok());
  Result<Csr> only_ip = Csr::Build(*key, "", {}, {"127.0.0.1"});
  ASSERT_TRUE(only_ip.ok());
  EXPECT_EQ(Csr::FromDer(only_ip->der())->ip_addresses(), std::vector<std::string>{"127.0.0.1"});
  Result<Csr> bad = Csr::Build(*key, "", {}, {"192.0.2.256"});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace certfleet::x509
