#include "crypto/key.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include "crypto/openssl_util.h"

namespace certfleet::crypto {
namespace {

constexpr KeyType kAllTypes[] = {KeyType::kP256,    KeyType::kP384,    KeyType::kRsa2048,
                                 KeyType::kRsa3072, KeyType::kRsa4096, KeyType::kEd25519};

// RSA generation is slow; generate each type once for the whole test binary.
const PrivateKey& CachedKey(KeyType type) {
  static auto* cache = new std::map<KeyType, PrivateKey>();
  auto it = cache->find(type);
  if (it == cache->end()) {
    auto key = PrivateKey::Generate(type);
    CF_CHECK(key.ok());
    it = cache->emplace(type, std::move(key).value()).first;
  }
  return it->second;
}

EvpPkeyPtr RawKeygen(const char* type, const char* curve) {
  return EvpPkeyPtr(EVP_PKEY_Q_keygen(nullptr, nullptr, type, curve));
}

class KeyTypeTest : public ::testing::TestWithParam<KeyType> {};

TEST_P(KeyTypeTest, GenerateSignVerify) {
  const PrivateKey& key = CachedKey(GetParam());
  EXPECT_EQ(key.type(), GetParam());
  EXPECT_EQ(key.public_key().type(), GetParam());
  auto sig = key.Sign("to be signed");
  ASSERT_TRUE(sig.ok()) << sig.error().ToString();
  EXPECT_TRUE(key.public_key().Verify("to be signed", *sig));
  EXPECT_FALSE(key.public_key().Verify("to be signed!", *sig));
  std::string bad = *sig;
  bad[bad.size() / 2] ^= 0x01;
  EXPECT_FALSE(key.public_key().Verify("to be signed", bad));
  EXPECT_FALSE(key.public_key().Verify("to be signed", ""));
  EXPECT_EQ(ERR_peek_error(), 0u) << "Verify must leave the error queue empty";
}

TEST_P(KeyTypeTest, SignatureShapeMatchesAlgorithm) {
  const PrivateKey& key = CachedKey(GetParam());
  auto sig = key.Sign("x");
  ASSERT_TRUE(sig.ok());
  switch (GetParam()) {
    case KeyType::kP256:
    case KeyType::kP384:
      EXPECT_EQ(static_cast<unsigned char>((*sig)[0]), 0x30);  // DER Ecdsa-Sig-Value SEQUENCE
      break;
    case KeyType::kRsa2048:
      EXPECT_EQ(sig->size(), 256u);
      break;
    case KeyType::kRsa3072:
      EXPECT_EQ(sig->size(), 384u);
      break;
    case KeyType::kRsa4096:
      EXPECT_EQ(sig->size(), 512u);
      break;
    case KeyType::kEd25519:
      EXPECT_EQ(sig->size(), 64u);
      // Ed25519 is deterministic (RFC 8032 section 5.1.6).
      EXPECT_EQ(*sig, *key.Sign("x"));
      break;
  }
}

TEST_P(KeyTypeTest, Pkcs8DerAndPemRoundTrip) {
  const PrivateKey& key = CachedKey(GetParam());
  SecretBytes der = key.ToPkcs8Der();
  ASSERT_FALSE(der.empty());
  auto from_der = PrivateKey::FromPkcs8Der(der);
  ASSERT_TRUE(from_der.ok()) << from_der.error().ToString();
  EXPECT_EQ(from_der->type(), GetParam());
  EXPECT_EQ(from_der->public_key().spki_der(), key.public_key().spki_der());

  SecretBytes pem = key.ToPkcs8Pem();
  EXPECT_EQ(pem.view().substr(0, 28), "-----BEGIN PRIVATE KEY-----\n");
  auto from_pem = PrivateKey::FromPem(pem);
  ASSERT_TRUE(from_pem.ok()) << from_pem.error().ToString();
  EXPECT_EQ(from_pem->public_key().spki_der(), key.public_key().spki_der());
  // The imported key signs; the original verifies.
  auto sig = from_pem->Sign("roundtrip");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(key.public_key().Verify("roundtrip", *sig));
}

TEST_P(KeyTypeTest, PemMatchesOpenSslEncoder) {
  // Our hand-rolled PEM must be byte-identical to OpenSSL's for both key halves.
  const PrivateKey& key = CachedKey(GetParam());
  internal::BioPtr bio(BIO_new(BIO_s_mem()));
  ASSERT_EQ(PEM_write_bio_PUBKEY(bio.get(), key.get()), 1);
  EXPECT_EQ(key.public_key().ToPem(), internal::BioContents(bio.get()));
  internal::BioPtr priv(BIO_new(BIO_s_secmem()));
  ASSERT_EQ(
      PEM_write_bio_PKCS8PrivateKey(priv.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr),
      1);
  EXPECT_EQ(key.ToPkcs8Pem().view(), internal::BioContents(priv.get()));
}

TEST_P(KeyTypeTest, PublicKeyRoundTrip) {
  const PublicKey& pub = CachedKey(GetParam()).public_key();
  auto from_der = PublicKey::FromSpkiDer(pub.spki_der());
  ASSERT_TRUE(from_der.ok());
  EXPECT_EQ(from_der->type(), GetParam());
  EXPECT_EQ(from_der->spki_der(), pub.spki_der());
  EXPECT_EQ(pub.ToPem().substr(0, 27), "-----BEGIN PUBLIC KEY-----\n");
  auto from_pem = PublicKey::FromPem(pub.ToPem());
  ASSERT_TRUE(from_pem.ok()) << from_pem.error().ToString();
  EXPECT_EQ(from_pem->spki_der(), pub.spki_der());
}

INSTANTIATE_TEST_SUITE_P(AllTypes, KeyTypeTest, ::testing::ValuesIn(kAllTypes),
                         [](const auto& info) { return std::string(KeyTypeName(info.param)); });

TEST_P(KeyTypeTest, DerivedPublicKeyIsTheSameKey) {
  // The public half is built from the SPKI without OpenSSL's encoder and decoded lazily; it must
  // be the very key, for every copy and from several threads at once.
  auto key = PrivateKey::Generate(GetParam() == KeyType::kRsa4096 ? KeyType::kRsa2048 : GetParam());
  ASSERT_TRUE(key.ok());
  const PublicKey copy = key->public_key();
  std::vector<std::thread> threads;
  std::vector<EVP_PKEY*> seen(4, nullptr);
  for (size_t i = 0; i < seen.size(); ++i) {
    threads.emplace_back([&, i] { seen[i] = copy.get(); });
  }
  for (auto& t : threads) t.join();
  for (EVP_PKEY* p : seen) EXPECT_EQ(p, seen[0]);
  ASSERT_NE(seen[0], nullptr);
  EXPECT_EQ(EVP_PKEY_eq(seen[0], key->get()), 1);
  EXPECT_EQ(key->public_key().get(), seen[0]);
  auto sig = key->Sign("data");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(key->public_key().Verify("data", *sig));
}

TEST(KeyTest, CompressedEcPointStillGivesOpenSslsSpki) {
  // A key whose point form is compressed is not on the fixed-prefix path: its SPKI is the one
  // OpenSSL encodes.
  EvpPkeyPtr raw = RawKeygen("EC", "P-256");
  ASSERT_TRUE(raw);
  ASSERT_EQ(EVP_PKEY_set_utf8_string_param(raw.get(), "point-format", "compressed"), 1);
  int len = i2d_PUBKEY(raw.get(), nullptr);
  ASSERT_GT(len, 0);
  std::string want(static_cast<size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(want.data());
  ASSERT_EQ(i2d_PUBKEY(raw.get(), &p), len);
  auto key = PrivateKey::Adopt(std::move(raw));
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_EQ(key->public_key().spki_der(), want);
  EXPECT_EQ(want.size(), 59u);  // 33-byte compressed point
  // Its PKCS#8 is OpenSSL's too (compressed point inside), and reads back as the same key.
  internal::BioPtr priv(BIO_new(BIO_s_secmem()));
  ASSERT_EQ(
      PEM_write_bio_PKCS8PrivateKey(priv.get(), key->get(), nullptr, nullptr, 0, nullptr, nullptr),
      1);
  EXPECT_EQ(key->ToPkcs8Pem().view(), internal::BioContents(priv.get()));
}

TEST_P(KeyTypeTest, Pkcs8OfAFreshKeyReadsBackAsTheSameKey) {
  auto key = PrivateKey::Generate(GetParam() == KeyType::kRsa4096 ? KeyType::kRsa2048 : GetParam());
  ASSERT_TRUE(key.ok());
  SecretBytes der = key->ToPkcs8Der();
  auto back = PrivateKey::FromPkcs8Der(der);
  ASSERT_TRUE(back.ok()) << back.error().ToString();
  EXPECT_EQ(EVP_PKEY_eq(back->get(), key->get()), 1);
  EXPECT_EQ(back->ToPkcs8Der().view(), der.view());
  auto sig = back->Sign("data");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(key->public_key().Verify("data", *sig));
}

TEST(KeyTest, RsaPublicExponentIs65537) {
  BIGNUM* e = nullptr;
  ASSERT_EQ(EVP_PKEY_get_bn_param(CachedKey(KeyType::kRsa2048).get(), "e", &e), 1);
  EXPECT_EQ(BN_get_word(e), 65537u);
  BN_free(e);
}

TEST(KeyTest, PublicKeyHoldsNoPrivateMaterial) {
  const PrivateKey& key = CachedKey(KeyType::kP256);
  BIGNUM* priv = nullptr;
  EXPECT_NE(EVP_PKEY_get_bn_param(key.public_key().get(), "priv", &priv), 1);
  BN_free(priv);
  ERR_clear_error();
}

TEST(KeyTest, KeyTypeNames) {
  for (KeyType t : kAllTypes) {
    auto parsed = ParseKeyType(KeyTypeName(t));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, t);
  }
  auto bad = ParseKeyType("p521");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(bad.error().message().find("ed25519"), std::string::npos);
}

TEST(KeyTest, RejectsUnsupportedAlgorithms) {
  struct Case {
    const char* type;
    const char* param;
  };
  for (auto [type, curve] : {Case{"EC", "P-521"}, Case{"EC", "secp256k1"}, Case{"X25519", nullptr},
                             Case{"ED448", nullptr}}) {
    EvpPkeyPtr raw = curve ? RawKeygen(type, curve) : RawKeygen(type, nullptr);
    ASSERT_TRUE(raw) << type;
    auto adopted = PrivateKey::Adopt(std::move(raw));
    ASSERT_FALSE(adopted.ok()) << type << " " << (curve ? curve : "");
    EXPECT_EQ(adopted.error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(KeyTest, RejectsUnsupportedRsaSizesOnImport) {
  EvpPkeyPtr rsa1024(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{1024}));
  ASSERT_TRUE(rsa1024);
  internal::Pkcs8PrivKeyInfoPtr p8(EVP_PKEY2PKCS8(rsa1024.get()));
  unsigned char* der = nullptr;
  int len = i2d_PKCS8_PRIV_KEY_INFO(p8.get(), &der);
  ASSERT_GT(len, 0);
  SecretBytes bytes = SecretBytes::FromView(
      std::string_view(reinterpret_cast<const char*>(der), static_cast<size_t>(len)));
  OPENSSL_clear_free(der, static_cast<size_t>(len));
  auto key = PrivateKey::FromPkcs8Der(bytes);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(key.error().message().find("1024"), std::string::npos);

  unsigned char* spki = nullptr;
  len = i2d_PUBKEY(rsa1024.get(), &spki);
  auto pub = PublicKey::FromSpkiDer(
      std::string_view(reinterpret_cast<const char*>(spki), static_cast<size_t>(len)));
  OPENSSL_free(spki);
  ASSERT_FALSE(pub.ok());
  EXPECT_EQ(pub.error().code(), ErrorCode::kInvalidArgument);
}

TEST(KeyTest, ReadsTraditionalPem) {
  for (KeyType t : {KeyType::kP256, KeyType::kRsa2048}) {
    const PrivateKey& key = CachedKey(t);
    internal::BioPtr bio(BIO_new(BIO_s_secmem()));
    ASSERT_EQ(PEM_write_bio_PrivateKey_traditional(bio.get(), key.get(), nullptr, nullptr, 0,
                                                   nullptr, nullptr),
              1);
    std::string text = internal::BioContents(bio.get());
    EXPECT_NE(text.find(t == KeyType::kP256 ? "BEGIN EC PRIVATE KEY" : "BEGIN RSA PRIVATE KEY"),
              std::string::npos);
    auto parsed = PrivateKey::FromPem(SecretBytes::FromString(std::move(text)));
    ASSERT_TRUE(parsed.ok()) << parsed.error().ToString();
    EXPECT_EQ(parsed->type(), t);
    EXPECT_EQ(parsed->public_key().spki_der(), key.public_key().spki_der());
  }
}

TEST(KeyTest, MalformedInputs) {
  auto der = PrivateKey::FromPkcs8Der(SecretBytes::FromView("not der"));
  ASSERT_FALSE(der.ok());
  EXPECT_EQ(der.error().code(), ErrorCode::kMalformed);
  EXPECT_FALSE(PrivateKey::FromPkcs8Der(SecretBytes()).ok());

  auto pem =
      PrivateKey::FromPem(SecretBytes::FromView("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                                                "-----END PRIVATE KEY-----\n"));
  ASSERT_FALSE(pem.ok());
  EXPECT_EQ(pem.error().code(), ErrorCode::kMalformed);

  // A public key is not a private key.
  auto pub_as_priv =
      PrivateKey::FromPem(SecretBytes::FromView(CachedKey(KeyType::kP256).public_key().ToPem()));
  EXPECT_FALSE(pub_as_priv.ok());

  std::string spki = CachedKey(KeyType::kP256).public_key().spki_der();
  auto trailing = PublicKey::FromSpkiDer(spki + "x");
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.error().code(), ErrorCode::kMalformed);
  auto truncated = PublicKey::FromSpkiDer(spki.substr(0, spki.size() - 1));
  EXPECT_FALSE(truncated.ok());
  auto wrong_label = PublicKey::FromPem(internal::PemEncode("CERTIFICATE", spki));
  EXPECT_FALSE(wrong_label.ok());
  EXPECT_FALSE(PrivateKey::Adopt(nullptr).ok());
  // Every failure above drained what it queued.
  EXPECT_EQ(ERR_peek_error(), 0u);
}

TEST(KeyTest, TrailingDataAfterPkcs8IsRejected) {
  SecretBytes der = CachedKey(KeyType::kP256).ToPkcs8Der();
  der.Append(std::string_view("\0", 1));
  auto key = PrivateKey::FromPkcs8Der(der);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.error().code(), ErrorCode::kMalformed);
}

TEST(KeyTest, OpenSslErrorDrainsQueue) {
  ERR_raise_data(ERR_LIB_EVP, EVP_R_BAD_DECRYPT, "first");
  ERR_raise_data(ERR_LIB_PEM, PEM_R_NO_START_LINE, "second");
  Error e = internal::OpenSslError(ErrorCode::kInternal, "context");
  EXPECT_EQ(e.code(), ErrorCode::kInternal);
  EXPECT_EQ(e.message().rfind("context: ", 0), 0u);
  EXPECT_NE(e.message().find("first"), std::string::npos);
  EXPECT_NE(e.message().find("second"), std::string::npos);
  EXPECT_EQ(ERR_peek_error(), 0u);
}

}  // namespace
}  // namespace certfleet::crypto
