#include "acme/protocol/jws.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/jws.h"

namespace certfleet::acme {
namespace {

using nlohmann::json;

json Decode(const std::string& b64) {
  auto raw = Base64UrlDecode(b64);
  EXPECT_TRUE(raw.ok());
  return json::parse(raw.ok() ? *raw : "null");
}

TEST(AcmeJwsTest, JwkHeaderForNewAccountAndKidOtherwise) {
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(key.ok());
  auto with_jwk = SignJws(*key, KeyId{}, "nonce1", "https://ca/new-acct", R"({"a":1})");
  ASSERT_TRUE(with_jwk.ok()) << with_jwk.error().ToString();
  json outer = json::parse(*with_jwk);
  json header = Decode(outer["protected"]);
  EXPECT_EQ(header["alg"], "ES256");
  EXPECT_EQ(header["nonce"], "nonce1");
  EXPECT_EQ(header["url"], "https://ca/new-acct");
  EXPECT_EQ(header["jwk"]["kty"], "EC");
  EXPECT_FALSE(header.contains("kid"));
  std::string input =
      outer["protected"].get<std::string>() + "." + outer["payload"].get<std::string>();
  auto sig = Base64UrlDecode(outer["signature"].get<std::string>());
  ASSERT_TRUE(sig.ok());
  EXPECT_TRUE(crypto::JwsVerify(key->public_key(), input, *sig));

  auto with_kid = SignJws(*key, KeyId{"https://ca/acct/1"}, "n2", "https://ca/order", "");
  ASSERT_TRUE(with_kid.ok());
  json outer2 = json::parse(*with_kid);
  json header2 = Decode(outer2["protected"]);
  EXPECT_EQ(header2["kid"], "https://ca/acct/1");
  EXPECT_FALSE(header2.contains("jwk"));
  EXPECT_EQ(outer2["payload"], "");  // POST-as-GET
}

TEST(AcmeJwsTest, RsaAccountKeysSignRs256) {
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kRsa2048);
  ASSERT_TRUE(key.ok());
  auto jws = SignJws(*key, KeyId{}, "n", "https://ca/x", "{}");
  ASSERT_TRUE(jws.ok());
  json outer = json::parse(*jws);
  EXPECT_EQ(Decode(outer["protected"])["alg"], "RS256");
  EXPECT_EQ(Decode(outer["protected"])["jwk"]["kty"], "RSA");
}

TEST(AcmeJwsTest, ExternalAccountBindingIsHs256OverTheAccountJwk) {
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(key.ok());
  SecretBytes hmac = SecretBytes::FromView("0123456789abcdef0123456789abcdef");
  auto eab = ExternalAccountBinding(key->public_key(), "kid-1", hmac, "https://ca/new-acct");
  ASSERT_TRUE(eab.ok());
  json outer = json::parse(*eab);
  json header = Decode(outer["protected"]);
  EXPECT_EQ(header, json({{"alg", "HS256"}, {"kid", "kid-1"}, {"url", "https://ca/new-acct"}}));
  auto jwk = crypto::PublicJwk(key->public_key());
  ASSERT_TRUE(jwk.ok());
  EXPECT_EQ(*Base64UrlDecode(outer["payload"].get<std::string>()), *jwk);
  std::string input =
      outer["protected"].get<std::string>() + "." + outer["payload"].get<std::string>();
  EXPECT_EQ(outer["signature"], Base64UrlEncode(crypto::HmacSha256(hmac, input)));
  EXPECT_FALSE(ExternalAccountBinding(key->public_key(), "", hmac, "https://ca/x").ok());
  EXPECT_FALSE(ExternalAccountBinding(key->public_key(), "k", SecretBytes(), "https://ca/x").ok());
}

TEST(AcmeJwsTest, KeyAuthorizationAndDns01Value) {
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(key.ok());
  auto thumb = Thumbprint(key->public_key());
  ASSERT_TRUE(thumb.ok());
  auto ka = KeyAuthorization("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", key->public_key());
  ASSERT_TRUE(ka.ok());
  EXPECT_EQ(*ka, "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA." + *thumb);
  auto txt = Dns01TxtValue("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA", key->public_key());
  ASSERT_TRUE(txt.ok());
  EXPECT_EQ(*txt, Base64UrlEncode(crypto::Sha256(*ka)));
  EXPECT_EQ(txt->size(), 43u);
}

TEST(AcmeJwsTest, TokensOutsideTheBase64UrlAlphabetAreRefused) {
  auto key = crypto::PrivateKey::Generate(crypto::KeyType::kP256);
  ASSERT_TRUE(key.ok());
  for (const std::string& bad : std::vector<std::string>{"", "../../etc/passwd", "a/b", "a.b",
                                                         "a b", "tok=", std::string(257, 'a')}) {
    EXPECT_FALSE(IsValidToken(bad)) << bad;
    EXPECT_EQ(KeyAuthorization(bad, key->public_key()).error().code(), ErrorCode::kInvalidArgument);
  }
  EXPECT_TRUE(IsValidToken("abc-_XYZ019"));
}

}  // namespace
}  // namespace certfleet::acme
