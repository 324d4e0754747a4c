#include "crypto/jws.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

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

TEST(JwsTest, Ed25519SignsNothingButHasAJwkAndVerifies) {
  auto key = PrivateKey::Generate(KeyType::kEd25519);
  ASSERT_TRUE(key.ok());
  // The ACME client must not make EdDSA accounts: signing stays refused.
  EXPECT_EQ(JwsAlgorithm(KeyType::kEd25519).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(JwsSign(*key, "x").error().code(), ErrorCode::kInvalidArgument);
  auto jwk = PublicJwk(key->public_key());
  ASSERT_TRUE(jwk.ok()) << jwk.error().ToString();
  EXPECT_TRUE(jwk->starts_with(R"({"crv":"Ed25519","kty":"OKP","x":")")) << *jwk;
  auto sig = key->Sign("header.payload");  // Ed25519 signatures are already the JWS form
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_TRUE(JwsVerify(key->public_key(), "header.payload", *sig));
  EXPECT_FALSE(JwsVerify(key->public_key(), "header.payloaD", *sig));
  EXPECT_FALSE(JwsVerify(key->public_key(), "header.payload", sig->substr(1)));
  EXPECT_FALSE(JwsVerify(key->public_key(), "x", std::string(64, 'a')));
}

// RFC 8037 appendix A.2 to A.4: the Ed25519 public key, its thumbprint and the example JWS.
TEST(JwsTest, Ed25519MatchesRfc8037) {
  auto x = Base64UrlDecode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
  ASSERT_TRUE(x.ok());
  auto key = PublicKeyFromJwk({.kty = "OKP", .crv = "Ed25519", .x = *x});
  ASSERT_TRUE(key.ok()) << key.error().ToString();
  EXPECT_EQ(key->type(), KeyType::kEd25519);
  EXPECT_EQ(*PublicJwk(*key),
            R"({"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"})");
  EXPECT_EQ(Base64UrlEncode(*JwkThumbprint(*key)), "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
  auto sig = Base64UrlDecode(
      "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
  ASSERT_TRUE(sig.ok());
  const std::string input = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc";
  EXPECT_TRUE(JwsVerify(*key, input, *sig));
  EXPECT_FALSE(JwsVerify(*key, input + "x", *sig));
}

// The members of PublicJwk(key), decoded, as a peer would send them.
JwkMembers MembersOf(const PublicKey& key) {
  auto jwk = PublicJwk(key);
  EXPECT_TRUE(jwk.ok());
  // PublicJwk writes {"name":"value",...} with base64url values: pick them out by name.
  auto member = [&](std::string_view name) -> std::string {
    std::string needle = "\"" + std::string(name) + "\":\"";
    size_t at = jwk->find(needle);
    if (at == std::string::npos) return "";
    at += needle.size();
    return jwk->substr(at, jwk->find('"', at) - at);
  };
  JwkMembers m{.kty = member("kty"), .crv = member("crv")};
  for (auto [field, name] : {std::pair{&m.x, "x"}, {&m.y, "y"}, {&m.n, "n"}, {&m.e, "e"}}) {
    auto raw = Base64UrlDecode(member(name));
    EXPECT_TRUE(raw.ok());
    *field = raw.ok() ? *raw : "";
  }
  return m;
}

TEST(JwsTest, PublicKeyFromJwkRoundTripsEveryAccountKeyType) {
  for (KeyType type : {KeyType::kP256, KeyType::kP384, KeyType::kRsa2048, KeyType::kEd25519}) {
    auto key = PrivateKey::Generate(type);
    ASSERT_TRUE(key.ok());
    auto back = PublicKeyFromJwk(MembersOf(key->public_key()));
    ASSERT_TRUE(back.ok()) << KeyTypeName(type) << ": " << back.error().ToString();
    EXPECT_EQ(back->type(), type);
    EXPECT_EQ(back->spki_der(), key->public_key().spki_der()) << KeyTypeName(type);
  }
}

TEST(JwsTest, PublicKeyFromJwkRefusesWhatIsNotAGoodPublicKey) {
  auto p256 = PrivateKey::Generate(KeyType::kP256);
  auto rsa = PrivateKey::Generate(KeyType::kRsa2048);
  auto ed = PrivateKey::Generate(KeyType::kEd25519);
  ASSERT_TRUE(p256.ok() && rsa.ok() && ed.ok());
  const JwkMembers ec = MembersOf(p256->public_key());
  const JwkMembers rs = MembersOf(rsa->public_key());
  const JwkMembers okp = MembersOf(ed->public_key());

  struct Case {
    std::string name;
    JwkMembers jwk;
    std::string says;  // a piece of the refusal's message: refused for the intended reason
  };
  std::vector<Case> cases;
  auto with = [](JwkMembers m, auto change) {
    change(m);
    return m;
  };
  cases.push_back(
      {"kty oct", with(ec, [](JwkMembers& m) { m.kty = "oct"; }), "unsupported key type"});
  cases.push_back({"no kty", with(ec, [](JwkMembers& m) { m.kty = ""; }), "unsupported key type"});
  cases.push_back(
      {"P-521", with(ec, [](JwkMembers& m) { m.crv = "P-521"; }), "unsupported EC curve"});
  cases.push_back({"P-256 with a P-384 curve name",
                   with(ec, [](JwkMembers& m) { m.crv = "P-384"; }), "exactly 48 bytes"});
  cases.push_back(
      {"short x", with(ec, [](JwkMembers& m) { m.x = m.x.substr(1); }), "exactly 32 bytes"});
  cases.push_back({"x with a leading zero", with(ec, [](JwkMembers& m) { m.x = '\0' + m.x; }),
                   "exactly 32 bytes"});
  cases.push_back({"point not on the curve", with(ec, [](JwkMembers& m) { m.y[31] ^= 1; }),
                   "not on the curve"});
  cases.push_back({"x above the field prime",
                   with(ec, [](JwkMembers& m) { m.x = std::string(32, '\xff'); }),
                   "not on the curve"});
  cases.push_back({"all-zero point",
                   with(ec,
                        [](JwkMembers& m) {
                          m.x = std::string(32, '\0');
                          m.y = std::string(32, '\0');
                        }),
                   "not on the curve"});
  cases.push_back({"RSA e = 3", with(rs, [](JwkMembers& m) { m.e = "\x03"; }), "at least 65537"});
  cases.push_back(
      {"RSA e even", with(rs, [](JwkMembers& m) { m.e = std::string("\x01\x00\x02", 3); }), "odd"});
  cases.push_back({"RSA e = 1", with(rs, [](JwkMembers& m) { m.e = "\x01"; }), "at least 65537"});
  cases.push_back({"RSA e over 64 bits",
                   with(rs,
                        [](JwkMembers& m) {
                          m.e = "\x01" + std::string(8, '\0');
                          m.e.back() = 1;
                        }),
                   "more than 64 bits"});
  cases.push_back({"RSA e with a leading zero", with(rs, [](JwkMembers& m) { m.e = '\0' + m.e; }),
                   "leading zero"});
  cases.push_back({"RSA n with a leading zero", with(rs, [](JwkMembers& m) { m.n = '\0' + m.n; }),
                   "leading zero"});
  cases.push_back(
      {"RSA n even", with(rs, [](JwkMembers& m) { m.n.back() &= '\xfe'; }), "modulus is even"});
  cases.push_back(
      {"RSA 1024", with(rs, [](JwkMembers& m) { m.n = m.n.substr(0, 128); }), "key size 1024"});
  cases.push_back(
      {"RSA 2056", with(rs, [](JwkMembers& m) { m.n = m.n + "\x01"; }), "key size 2056"});
  cases.push_back({"RSA 8192", with(rs, [](JwkMembers& m) { m.n = m.n + m.n + m.n + m.n; }),
                   "larger than 4096 bits"});
  cases.push_back({"RSA without e", with(rs, [](JwkMembers& m) { m.e = ""; }), "without n or e"});
  cases.push_back(
      {"OKP X25519", with(okp, [](JwkMembers& m) { m.crv = "X25519"; }), "unsupported OKP curve"});
  cases.push_back(
      {"OKP Ed448", with(okp, [](JwkMembers& m) { m.crv = "Ed448"; }), "unsupported OKP curve"});
  cases.push_back({"Ed25519 of 31 bytes", with(okp, [](JwkMembers& m) { m.x.pop_back(); }),
                   "exactly 32 bytes"});
  cases.push_back(
      {"Ed25519 of 33 bytes", with(okp, [](JwkMembers& m) { m.x += 'a'; }), "exactly 32 bytes"});
  for (const auto& [name, jwk, says] : cases) {
    auto key = PublicKeyFromJwk(jwk);
    ASSERT_FALSE(key.ok()) << name;
    ASSERT_FALSE(says.empty()) << name;
    EXPECT_NE(key.error().message().find(says), std::string::npos)
        << name << ": " << key.error().ToString();
    EXPECT_EQ(key.error().code(), ErrorCode::kInvalidArgument)
        << name << ": " << key.error().ToString();
  }
}

}  // namespace
}  // namespace certfleet::crypto
