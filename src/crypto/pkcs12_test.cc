#include "crypto/pkcs12.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pkcs12.h>

#include "crypto/openssl_util.h"
#include "crypto/test_util.h"

namespace certfleet::crypto {
namespace {

constexpr int kFastIterations = 10000;

struct Fixture {
  PrivateKey root = std::move(PrivateKey::Generate(KeyType::kP384)).value();
  PrivateKey intermediate = std::move(PrivateKey::Generate(KeyType::kP256)).value();
  PrivateKey leaf_key = std::move(PrivateKey::Generate(KeyType::kP256)).value();
  std::string root_der = testing::MakeCertDer(root, root, "Root");
  std::string intermediate_der = testing::MakeCertDer(intermediate, root, "Intermediate");
  std::string leaf_der = testing::MakeCertDer(leaf_key, intermediate, "leaf.example.test");
};

const Fixture& F() {
  static const Fixture* f = new Fixture();
  return *f;
}

SecretBytes Pass(std::string_view s) { return SecretBytes::FromView(s); }

Result<std::string> BuildDefault(int iterations = kFastIterations) {
  return BuildPkcs12(F().leaf_key, F().leaf_der, {F().intermediate_der, F().root_der},
                     Pass("p12 passphrase"), "leaf.example.test", iterations);
}

TEST(Pkcs12Test, RoundTripPreservesKeyLeafAndChainOrder) {
  auto der = BuildDefault();
  ASSERT_TRUE(der.ok()) << der.error().ToString();
  auto parsed = ParsePkcs12(*der, Pass("p12 passphrase"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_EQ(parsed->key.public_key().spki_der(), F().leaf_key.public_key().spki_der());
  EXPECT_EQ(parsed->key.type(), KeyType::kP256);
  EXPECT_EQ(parsed->leaf_der, F().leaf_der);
  ASSERT_EQ(parsed->chain_der.size(), 2u);
  EXPECT_EQ(parsed->chain_der[0], F().intermediate_der);
  EXPECT_EQ(parsed->chain_der[1], F().root_der);
}

TEST(Pkcs12Test, LeafOnlyBundle) {
  auto der = BuildPkcs12(F().leaf_key, F().leaf_der, {}, Pass("pw"), "", kFastIterations);
  ASSERT_TRUE(der.ok()) << der.error().ToString();
  auto parsed = ParsePkcs12(*der, Pass("pw"));
  ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
  EXPECT_TRUE(parsed->chain_der.empty());
  EXPECT_EQ(parsed->leaf_der, F().leaf_der);
}

TEST(Pkcs12Test, MacIsSha256WithRequestedIterations) {
  auto der = BuildDefault(20000);
  ASSERT_TRUE(der.ok());
  const auto* p = reinterpret_cast<const unsigned char*>(der->data());
  internal::Pkcs12Ptr p12(d2i_PKCS12(nullptr, &p, static_cast<long>(der->size())));
  ASSERT_TRUE(p12);
  const X509_ALGOR* mac_alg = nullptr;
  const ASN1_INTEGER* iter = nullptr;
  PKCS12_get0_mac(nullptr, &mac_alg, nullptr, &iter, p12.get());
  ASSERT_NE(mac_alg, nullptr);
  ASSERT_NE(iter, nullptr);
  const ASN1_OBJECT* oid = nullptr;
  X509_ALGOR_get0(&oid, nullptr, nullptr, mac_alg);
  EXPECT_EQ(OBJ_obj2nid(oid), NID_sha256);
  EXPECT_EQ(ASN1_INTEGER_get(iter), 20000);
}

TEST(Pkcs12Test, WrongPassphraseIsUnauthorizedAndSilent) {
  auto der = BuildDefault();
  ASSERT_TRUE(der.ok());
  auto parsed = ParsePkcs12(*der, Pass("Wrong-Guess-1234"));
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code(), ErrorCode::kUnauthorized);
  EXPECT_EQ(parsed.error().ToString().find("Wrong-Guess"), std::string::npos);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(Pkcs12Test, RejectsBadInputs) {
  auto mismatch = BuildPkcs12(F().intermediate, F().leaf_der, {}, Pass("pw"), "n", kFastIterations);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.error().code(), ErrorCode::kInvalidArgument);
  auto bad_cert = BuildPkcs12(F().leaf_key, "junk", {}, Pass("pw"), "n", kFastIterations);
  ASSERT_FALSE(bad_cert.ok());
  EXPECT_EQ(bad_cert.error().code(), ErrorCode::kInvalidArgument);
  auto bad_chain =
      BuildPkcs12(F().leaf_key, F().leaf_der, {"junk"}, Pass("pw"), "n", kFastIterations);
  EXPECT_FALSE(bad_chain.ok());
  auto weak = BuildPkcs12(F().leaf_key, F().leaf_der, {}, Pass("pw"), "n", 2048);
  ASSERT_FALSE(weak.ok());
  EXPECT_EQ(weak.error().code(), ErrorCode::kInvalidArgument);
  auto empty_pass =
      BuildPkcs12(F().leaf_key, F().leaf_der, {}, SecretBytes(), "n", kFastIterations);
  EXPECT_FALSE(empty_pass.ok());
  auto nul_pass = BuildPkcs12(F().leaf_key, F().leaf_der, {}, Pass(std::string_view("a\0b", 3)),
                              "n", kFastIterations);
  EXPECT_FALSE(nul_pass.ok());
  auto garbage = ParsePkcs12("garbage", Pass("pw"));
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code(), ErrorCode::kMalformed);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

// `openssl pkcs12 -info` is an independent reader; it must accept the bundle and report the
// PBES2/AES-256/SHA-256 parameters we promise.
TEST(Pkcs12Test, OpenSslCliReadsBundle) {
  if (testing::RunCommand("openssl version").exit_code != 0) GTEST_SKIP() << "no openssl CLI";
  auto der = BuildDefault();
  ASSERT_TRUE(der.ok());
  testing::TempDir dir;
  testing::WritePrivateFile(dir.path() / "b.p12", *der);
  testing::WritePrivateFile(dir.path() / "pass", "p12 passphrase\n");
  testing::CommandResult r =
      testing::RunCommand("openssl pkcs12 -info -noout -in '" + (dir.path() / "b.p12").string() +
                          "' -passin 'file:" + (dir.path() / "pass").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("MAC: sha256, Iteration 10000"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PBES2, PBKDF2, AES-256-CBC, Iteration 10000, PRF hmacWithSHA256"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("RC2"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("3DES"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace certfleet::crypto
