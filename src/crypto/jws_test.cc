#include "crypto/jws.h"

#include <gtest/gtest.h>

#include "base/encoding.h"

namespace certfleet::crypto {
namespace {

// RFC 7515 appendix A.3 (ES256) key and RFC 7638 section 3.1 (RSA) key, as SPKI PEM.
constexpr char kRfc7515EcPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEf83OJ3D2xF1Bg8vub9tLe1gHMzV7\n"
    "6e8Tus9uPHvRVEXH8UTNG72bfocs3+257rn0s2ldbqkLJK2KRiMohYjlrQ==\n"
    "-----END PUBLIC KEY-----\n";
constexpr char kRfc7638RsaPem[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA0vx7agoebGcQSuuPiLJX\n"
    "ZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tS\n"
    "oc/BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ/2W+5JsGY4Hc5n9yBXArwl93lqt\n"
    "7/RN5w6Cf0h4QyQ5v+65YGjQR0/FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0\n"
    "zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt+bFTWhAI4vMQFh6WeZu0f\n"
    "M4lFd2NcRwr3XPksINHaQ+G/xBniIqbw0Ls1jF44+csFCur+kEgU8awapJzKnqDK\n"
    "gwIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

TEST(JwsTest, EcJwkMatchesRfc7515AndVerifiesItsSignature) {
  auto key = PublicKey::FromPem(kRfc7515EcPem);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  auto jwk = PublicJwk(*key);
  ASSERT_TRUE(jwk.ok());
  EXPECT_EQ(*jwk, R"({"crv":"P-256","kty":"EC","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",)"
                  R"("y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})");
  // RFC 7515 A.3.1: the signing input and the R||S signature of the example.
  const std::string input =
      "eyJhbGciOiJFUzI1NiJ9."
      "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0"
      "cnVlfQ";
  auto sig = Base64UrlDecode(
      "DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q");
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(JwsVerify(*key, input, *sig));
  EXPECT_FALSE(JwsVerify(*key, input + "x", *sig));
  EXPECT_FALSE(JwsVerify(*key, input, sig->substr(1)));
}

TEST(JwsTest, RsaThumbprintMatchesRfc7638) {
  auto key = PublicKey::FromPem(kRfc7638RsaPem);
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  auto thumb = JwkThumbprint(*key);
  ASSERT_TRUE(thumb.ok());
  EXPECT_EQ(Base64UrlEncode(*thumb), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ(*JwsAlgorithm(key->type()), "RS256");
}

TEST(JwsTest, SignaturesHaveTheJwsFormAndVerify) {
  for (KeyType type : {KeyType::kP256, KeyType::kP384, KeyType::kRsa2048}) {
    auto key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok());
    auto sig = JwsSign(*key, "header.payload");
    ASSERT_TRUE(sig.ok()) << sig.error().ToString();
    size_t expected = type == KeyType::kP256 ? 64u : type == KeyType::kP384 ? 96u : 256u;
    EXPECT_EQ(sig->size(), expected);
    EXPECT_TRUE(JwsVerify(key->public_key(), "header.payload", *sig));
    EXPECT_FALSE(JwsVerify(key->public_key(), "header.payloaD", *sig));
  }
}

TEST(JwsTest, Ed25519IsRefused) {
  auto key = PrivateKey::Generate(KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(JwsSign(*key, "x").error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(PublicJwk(key->public_key()).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_FALSE(JwsVerify(key->public_key(), "x", std::string(64, 'a')));
}

}  // namespace
}  // namespace certfleet::crypto
