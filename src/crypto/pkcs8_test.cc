// Encrypted PKCS#8: export parameters, every import scheme we promise, and the openssl CLI as an
// independent reader.
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "crypto/key.h"
#include "crypto/openssl_util.h"
#include "crypto/test_util.h"

namespace certfleet::crypto {
namespace {

constexpr int kFastIterations = 10000;  // the minimum; keeps the suite fast

const PrivateKey& P256() {
  static const PrivateKey* key =
      new PrivateKey(std::move(PrivateKey::Generate(KeyType::kP256)).value());
  return *key;
}

SecretBytes Pass(std::string_view s) { return SecretBytes::FromView(s); }

struct Pbes2Params {
  int iterations = 0;
  size_t salt_length = 0;
  int prf_nid = 0;
  int cipher_nid = 0;
  size_t iv_length = 0;
};

// Decodes EncryptedPrivateKeyInfo -> PBES2-params -> PBKDF2-params (RFC 8018 appendix A.2, A.4).
Pbes2Params ParsePbes2(const std::string& pem) {
  Pbes2Params out;
  internal::BioPtr bio = internal::ReadOnlyBio(pem);
  internal::X509SigPtr sig(PEM_read_bio_PKCS8(bio.get(), nullptr, nullptr, nullptr));
  CF_CHECK(sig != nullptr);
  const X509_ALGOR* alg = nullptr;
  X509_SIG_get0(sig.get(), &alg, nullptr);
  const ASN1_OBJECT* oid = nullptr;
  int ptype = 0;
  const void* pval = nullptr;
  X509_ALGOR_get0(&oid, &ptype, &pval, alg);
  CF_CHECK(OBJ_obj2nid(oid) == NID_pbes2 && ptype == V_ASN1_SEQUENCE);
  auto* pbe2 =
      static_cast<PBE2PARAM*>(ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter));
  CF_CHECK(pbe2 != nullptr);
  CF_CHECK(OBJ_obj2nid(pbe2->keyfunc->algorithm) == NID_id_pbkdf2);
  auto* kdf = static_cast<PBKDF2PARAM*>(
      ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM), pbe2->keyfunc->parameter));
  CF_CHECK(kdf != nullptr);
  out.iterations = static_cast<int>(ASN1_INTEGER_get(kdf->iter));
  out.salt_length = static_cast<size_t>(kdf->salt->value.octet_string->length);
  // An absent prf means the RFC 8018 default, hmacWithSHA1.
  out.prf_nid = kdf->prf ? OBJ_obj2nid(kdf->prf->algorithm) : NID_hmacWithSHA1;
  out.cipher_nid = OBJ_obj2nid(pbe2->encryption->algorithm);
  out.iv_length = static_cast<size_t>(pbe2->encryption->parameter->value.octet_string->length);
  PBKDF2PARAM_free(kdf);
  PBE2PARAM_free(pbe2);
  return out;
}

// Produces an "ENCRYPTED PRIVATE KEY" PEM the way other tools would: PBES2 with the given
// cipher and PRF, or (cipher null) the PKCS#12 PBE scheme `pbe_nid`.
std::string EncryptWith(const PrivateKey& key, int pbe_nid, const EVP_CIPHER* cipher, int prf_nid,
                        const SecretBytes& pass) {
  internal::Pkcs8PrivKeyInfoPtr p8(EVP_PKEY2PKCS8(key.get()));
  CF_CHECK(p8 != nullptr);
  X509_SIG* raw = nullptr;
  const char* p = reinterpret_cast<const char*>(pass.data());
  int plen = static_cast<int>(pass.size());
  if (cipher != nullptr) {
    X509_ALGOR* pbe =
        PKCS5_pbe2_set_iv_ex(cipher, kFastIterations, nullptr, 16, nullptr, prf_nid, nullptr);
    CF_CHECK(pbe != nullptr);
    raw = PKCS8_set0_pbe_ex(p, plen, p8.get(), pbe, nullptr, nullptr);
  } else {
    raw = PKCS8_encrypt_ex(pbe_nid, nullptr, p, plen, nullptr, 0, kFastIterations, p8.get(),
                           nullptr, nullptr);
  }
  internal::X509SigPtr sig(raw);
  CF_CHECK(sig != nullptr);
  internal::BioPtr bio(BIO_new(BIO_s_mem()));
  CF_CHECK(PEM_write_bio_PKCS8(bio.get(), sig.get()) == 1);
  return internal::BioContents(bio.get());
}

TEST(EncryptedPkcs8Test, DefaultExportUsesPbes2Aes256Sha256With600kIterations) {
  auto pem = P256().ToEncryptedPkcs8Pem(Pass("correct horse"));
  ASSERT_TRUE(pem.ok()) << pem.error().ToString();
  EXPECT_EQ(pem->rfind("-----BEGIN ENCRYPTED PRIVATE KEY-----\n", 0), 0u);
  Pbes2Params params = ParsePbes2(*pem);
  EXPECT_EQ(params.iterations, 600000);
  EXPECT_EQ(params.salt_length, 16u);
  EXPECT_EQ(params.prf_nid, NID_hmacWithSHA256);
  EXPECT_EQ(params.cipher_nid, NID_aes_256_cbc);
  EXPECT_EQ(params.iv_length, 16u);

  auto back = PrivateKey::FromEncryptedPem(*pem, Pass("correct horse"));
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(back->public_key().spki_der(), P256().public_key().spki_der());
}

TEST(EncryptedPkcs8Test, IterationCountIsHonoured) {
  auto pem = P256().ToEncryptedPkcs8Pem(Pass("pw"), Pkcs8Options{.pbkdf2_iterations = 12345});
  ASSERT_TRUE(pem.ok());
  EXPECT_EQ(ParsePbes2(*pem).iterations, 12345);
}

TEST(EncryptedPkcs8Test, SaltAndIvAreFreshPerExport) {
  Pkcs8Options fast{.pbkdf2_iterations = kFastIterations};
  auto a = P256().ToEncryptedPkcs8Pem(Pass("pw"), fast);
  auto b = P256().ToEncryptedPkcs8Pem(Pass("pw"), fast);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
}

TEST(EncryptedPkcs8Test, RejectsWeakExportParameters) {
  auto few = P256().ToEncryptedPkcs8Pem(Pass("pw"), Pkcs8Options{.pbkdf2_iterations = 2048});
  ASSERT_FALSE(few.ok());
  EXPECT_EQ(few.error().code(), ErrorCode::kInvalidArgument);
  auto empty = P256().ToEncryptedPkcs8Pem(SecretBytes());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code(), ErrorCode::kInvalidArgument);
}

struct Scheme {
  const char* name;
  int pbe_nid;
  const EVP_CIPHER* (*cipher)();
  int prf_nid;
};

class ImportSchemeTest : public ::testing::TestWithParam<Scheme> {};

TEST_P(ImportSchemeTest, ReadsKeyAndRejectsWrongPassphrase) {
  const Scheme& s = GetParam();
  const std::string passphrase = "s3cret-Passphrase-7781";
  std::string pem =
      EncryptWith(P256(), s.pbe_nid, s.cipher ? s.cipher() : nullptr, s.prf_nid, Pass(passphrase));
  auto key = PrivateKey::FromEncryptedPem(pem, Pass(passphrase));
  ASSERT_TRUE(key.ok()) << s.name << ": " << key.error().ToString();
  EXPECT_EQ(key->public_key().spki_der(), P256().public_key().spki_der());

  const std::string wrong = "wrong-Passphrase-0042";
  auto bad = PrivateKey::FromEncryptedPem(pem, Pass(wrong));
  ASSERT_FALSE(bad.ok()) << s.name;
  EXPECT_EQ(bad.error().code(), ErrorCode::kUnauthorized);
  std::string rendered = bad.error().ToString();
  EXPECT_EQ(rendered.find(wrong), std::string::npos);
  EXPECT_EQ(rendered.find(passphrase), std::string::npos);
  EXPECT_EQ(rendered.find("Passphrase-"), std::string::npos);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, ImportSchemeTest,
    ::testing::Values(Scheme{"pbes2_aes256_sha256", 0, EVP_aes_256_cbc, NID_hmacWithSHA256},
                      Scheme{"pbes2_aes128_sha256", 0, EVP_aes_128_cbc, NID_hmacWithSHA256},
                      Scheme{"pbes2_aes256_sha1", 0, EVP_aes_256_cbc, NID_hmacWithSHA1},
                      Scheme{"pbes2_aes128_sha1", 0, EVP_aes_128_cbc, NID_hmacWithSHA1},
                      Scheme{"pkcs12_sha1_3des", NID_pbe_WithSHA1And3_Key_TripleDES_CBC, nullptr,
                             0}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(EncryptedPkcs8Test, RejectsMalformedAndUnencryptedInput) {
  auto garbage = PrivateKey::FromEncryptedPem("not a pem", Pass("pw"));
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.error().code(), ErrorCode::kMalformed);
  // An unencrypted key handed to the encrypted reader is not silently accepted.
  SecretBytes plain = P256().ToPkcs8Pem();
  auto wrong_kind = PrivateKey::FromEncryptedPem(plain.view(), Pass("pw"));
  EXPECT_FALSE(wrong_kind.ok());
  // And an encrypted key handed to the plain reader says a passphrase is needed.
  auto pem = P256().ToEncryptedPkcs8Pem(Pass("pw"), {.pbkdf2_iterations = kFastIterations});
  ASSERT_TRUE(pem.ok());
  auto needs_pass = PrivateKey::FromPem(SecretBytes::FromView(*pem));
  ASSERT_FALSE(needs_pass.ok());
  EXPECT_EQ(needs_pass.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(EncryptedPkcs8Test, CorruptCiphertextIsUnauthorized) {
  auto pem = P256().ToEncryptedPkcs8Pem(Pass("pw"), {.pbkdf2_iterations = kFastIterations});
  ASSERT_TRUE(pem.ok());
  // Flip a base64 character in the last body line (ciphertext), keeping the PEM well-formed.
  std::string bad = *pem;
  size_t pos = bad.rfind("\n-----END") - 5;
  bad[pos] = bad[pos] == 'A' ? 'B' : 'A';
  auto key = PrivateKey::FromEncryptedPem(bad, Pass("pw"));
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code(), ErrorCode::kUnauthorized);
}

// The openssl CLI (an independent PKCS#8 reader) must accept the default export, with the
// passphrase in a 0600 file, never on the command line.
TEST(EncryptedPkcs8Test, OpenSslCliReadsExport) {
  if (testing::RunCommand("openssl version").exit_code != 0)
    GTEST_SKIP() << "openssl CLI not installed";
  testing::TempDir dir;
  auto pem = P256().ToEncryptedPkcs8Pem(Pass("cli passphrase"));
  ASSERT_TRUE(pem.ok());
  testing::WritePrivateFile(dir.path() / "key.pem", *pem);
  testing::WritePrivateFile(dir.path() / "pass", "cli passphrase\n");
  testing::CommandResult r =
      testing::RunCommand("openssl pkey -in '" + (dir.path() / "key.pem").string() +
                          "' -passin 'file:" + (dir.path() / "pass").string() + "' -pubout");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, P256().public_key().ToPem());

  testing::CommandResult asn1 =
      testing::RunCommand("openssl asn1parse -in '" + (dir.path() / "key.pem").string() + "'");
  ASSERT_EQ(asn1.exit_code, 0) << asn1.output;
  EXPECT_NE(asn1.output.find("PBES2"), std::string::npos);
  EXPECT_NE(asn1.output.find("hmacWithSHA256"), std::string::npos);
  EXPECT_NE(asn1.output.find("aes-256-cbc"), std::string::npos);
  EXPECT_NE(asn1.output.find("INTEGER           :0927C0"), std::string::npos);  // 600000

  testing::WritePrivateFile(dir.path() / "wrong", "not it\n");
  testing::CommandResult wrong =
      testing::RunCommand("openssl pkey -in '" + (dir.path() / "key.pem").string() +
                          "' -passin 'file:" + (dir.path() / "wrong").string() + "' -pubout");
  EXPECT_NE(wrong.exit_code, 0);
}

}  // namespace
}  // namespace certfleet::crypto
