#include "acme/protocol/jws_verify.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "acme/protocol/jws.h"
#include "acme/protocol/server_problem.h"
#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/jws.h"

namespace certfleet::acme {
namespace {

using crypto::KeyType;
using crypto::PrivateKey;
using nlohmann::json;

constexpr char kUrl[] = "https://ca.example/acme/new-order";
constexpr char kNewAccountUrl[] = "https://ca.example/acme/new-account";
constexpr char kNonce[] = "AbCd0123456789abcdefghij_-";

// One key of each type for the whole suite (RSA generation takes a while).
const PrivateKey& Key(KeyType type) {
  static const auto* keys = [] {
    auto* m = new std::map<KeyType, PrivateKey>();
    for (KeyType t : {KeyType::kP256, KeyType::kP384, KeyType::kRsa2048, KeyType::kEd25519}) {
      auto key = PrivateKey::Generate(t);
      CF_CHECK(key.ok());
      m->emplace(t, std::move(*key));
    }
    return m;
  }();
  return keys->at(type);
}

std::string Dump(const json& j) { return j.dump(); }

std::string Jwk(const PrivateKey& key) {
  auto jwk = crypto::PublicJwk(key.public_key());
  CF_CHECK(jwk.ok());
  return *jwk;
}

// The JWS signature of `input` with `key` whatever its type (the client's SignJws refuses
// Ed25519; Ed25519 signatures are the JWS form as they come).
std::string SignatureOf(const PrivateKey& key, const std::string& input) {
  auto sig = key.type() == KeyType::kEd25519 ? key.Sign(input) : crypto::JwsSign(key, input);
  CF_CHECK(sig.ok());
  return *sig;
}

// A flattened JWS of `header` and `payload` signed with `key`: the test-only signer for what
// SignJws does not make (EdDSA, and the hostile headers below).
std::string Forge(const json& header, const std::string& payload, const PrivateKey& key) {
  std::string protected_b64 = Base64UrlEncode(Dump(header));
  std::string payload_b64 = Base64UrlEncode(payload);
  std::string sig = SignatureOf(key, protected_b64 + "." + payload_b64);
  return Dump({{"protected", protected_b64},
               {"payload", payload_b64},
               {"signature", Base64UrlEncode(sig)}});
}

json JwkHeader(const PrivateKey& key, const std::string& alg) {
  return {{"alg", alg}, {"nonce", kNonce}, {"url", kUrl}, {"jwk", json::parse(Jwk(key))}};
}

std::string Signed(const PrivateKey& key, const KeyId& id = {}, const std::string& payload = "{}") {
  auto jws = SignJws(key, id, kNonce, kUrl, payload);
  CF_CHECK(jws.ok());
  return *jws;
}

// `body` with its outer member `name` changed by `change`.
std::string WithOuter(const std::string& body, const std::function<void(json&)>& change) {
  json outer = json::parse(body);
  change(outer);
  return Dump(outer);
}

void ExpectProblem(const Error& e, const std::string& type, const std::string& context) {
  EXPECT_EQ(AcmeTypeOf(e), type) << context << ": " << e.ToString();
}
template <typename T>
void ExpectProblem(const Result<T>& r, const std::string& type, const std::string& context) {
  ASSERT_FALSE(r.ok()) << context;
  ExpectProblem(r.error(), type, context);
}

TEST(JwsVerifyTest, EveryAccountKeyTypeVerifiesWithItsEmbeddedJwk) {
  struct Case {
    KeyType type;
    std::string alg;
  };
  for (const Case& c : std::vector<Case>{{KeyType::kP256, "ES256"},
                                         {KeyType::kP384, "ES384"},
                                         {KeyType::kRsa2048, "RS256"},
                                         {KeyType::kEd25519, "EdDSA"}}) {
    const PrivateKey& key = Key(c.type);
    std::string body = c.type == KeyType::kEd25519
                           ? Forge(JwkHeader(key, "EdDSA"), R"({"contact":[]})", key)
                           : Signed(key, {}, R"({"contact":[]})");
    auto jws = ParseJws(body);
    ASSERT_TRUE(jws.ok()) << c.alg << ": " << jws.error().ToString();
    EXPECT_EQ(jws->alg, c.alg);
    EXPECT_EQ(jws->nonce, kNonce);
    EXPECT_EQ(jws->url, kUrl);
    EXPECT_EQ(jws->kid, "");
    EXPECT_EQ(jws->payload, R"({"contact":[]})");
    ASSERT_TRUE(jws->jwk.has_value());
    EXPECT_EQ(jws->jwk->spki_der(), key.public_key().spki_der());
    EXPECT_EQ(jws->jwk_json, Jwk(key));
    EXPECT_EQ(jws->signing_input(), jws->protected_b64 + "." + jws->payload_b64);
    EXPECT_TRUE(VerifyJws(*jws, *jws->jwk).ok()) << c.alg;
    auto thumb = JwkThumbprintB64(*jws->jwk);
    ASSERT_TRUE(thumb.ok());
    EXPECT_EQ(*thumb, Base64UrlEncode(*crypto::JwkThumbprint(key.public_key())));
  }
}

TEST(JwsVerifyTest, KidRequestsAndPostAsGet) {
  const PrivateKey& key = Key(KeyType::kP256);
  auto jws = ParseJws(Signed(key, KeyId{"https://ca.example/acme/acct/7"}, ""));
  ASSERT_TRUE(jws.ok()) << jws.error().ToString();
  EXPECT_EQ(jws->kid, "https://ca.example/acme/acct/7");
  EXPECT_FALSE(jws->jwk.has_value());
  EXPECT_EQ(jws->jwk_json, "");
  EXPECT_EQ(jws->payload_b64, "");
  EXPECT_EQ(jws->payload, "");
  EXPECT_TRUE(VerifyJws(*jws, key.public_key()).ok());
}

TEST(JwsVerifyTest, InnerJwsOfAKeyChange) {
  const PrivateKey& key = Key(KeyType::kP384);
  auto inner_body = SignJws(key, {}, "", kUrl, R"({"account":"x","oldKey":{}})");
  ASSERT_TRUE(inner_body.ok());
  auto inner = ParseJws(*inner_body, /*inner=*/true);
  ASSERT_TRUE(inner.ok()) << inner.error().ToString();
  EXPECT_EQ(inner->nonce, "");
  EXPECT_TRUE(VerifyJws(*inner, *inner->jwk).ok());
  // Outside a key change the same JWS lacks its nonce.
  ExpectProblem(ParseJws(*inner_body), "badNonce", "no nonce");
  // An inner JWS with a nonce or a kid.
  ExpectProblem(ParseJws(Signed(key), true), "malformed", "inner with nonce");
  auto with_kid = SignJws(key, KeyId{"https://ca.example/acme/acct/7"}, "", kUrl, "{}");
  ASSERT_TRUE(with_kid.ok());
  ExpectProblem(ParseJws(*with_kid, true), "malformed", "inner with kid");
}

TEST(JwsVerifyTest, AlgorithmsOutsideTheListAreBadSignatureAlgorithm) {
  const PrivateKey& key = Key(KeyType::kP256);
  for (const std::string alg : {"none", "None", "NONE", "HS256", "HS512", "ES512", "RS384", "PS256",
                                "", "ES256 ", "es256"}) {
    json header = JwkHeader(key, alg);
    ExpectProblem(ParseJws(Forge(header, "{}", key)), "badSignatureAlgorithm", alg);
    header.erase("jwk");
    header["kid"] = "https://ca.example/acme/acct/7";
    ExpectProblem(ParseJws(Forge(header, "{}", key)), "badSignatureAlgorithm", alg + " kid");
  }
  // The classic "alg":"none" attack sends no signature at all.
  json none = JwkHeader(key, "none");
  std::string body = Dump({{"protected", Base64UrlEncode(Dump(none))},
                           {"payload", Base64UrlEncode("{}")},
                           {"signature", ""}});
  ExpectProblem(ParseJws(body), "badSignatureAlgorithm", "none without signature");
  // HS256 "signed" with the public JWK as the MAC key (key confusion).
  json hs = JwkHeader(key, "HS256");
  std::string protected_b64 = Base64UrlEncode(Dump(hs));
  std::string payload_b64 = Base64UrlEncode("{}");
  std::string mac = crypto::HmacSha256(Jwk(key), protected_b64 + "." + payload_b64);
  ExpectProblem(ParseJws(Dump({{"protected", protected_b64},
                               {"payload", payload_b64},
                               {"signature", Base64UrlEncode(mac)}})),
                "badSignatureAlgorithm", "HS256 with the public key");
  // A VerifyJws caller that built a ParsedJws by hand gets the same answer.
  auto good = ParseJws(Signed(key));
  ASSERT_TRUE(good.ok());
  ParsedJws forged = *good;
  forged.alg = "none";
  ExpectProblem(VerifyJws(forged, key.public_key()).error(), "badSignatureAlgorithm", "verify");
  // "alg" that is not a string, or missing.
  json number = JwkHeader(key, "ES256");
  number["alg"] = 256;
  ExpectProblem(ParseJws(Forge(number, "{}", key)), "malformed", "alg number");
  json missing = JwkHeader(key, "ES256");
  missing.erase("alg");
  ExpectProblem(ParseJws(Forge(missing, "{}", key)), "malformed", "no alg");
}

TEST(JwsVerifyTest, TheAlgorithmMustFitTheKey) {
  const PrivateKey& p256 = Key(KeyType::kP256);
  const PrivateKey& p384 = Key(KeyType::kP384);
  const PrivateKey& rsa = Key(KeyType::kRsa2048);
  const PrivateKey& ed = Key(KeyType::kEd25519);
  // Embedded keys: ES256 with a P-384 key, RS256 with EC, ES256 with RSA, EdDSA with P-256,
  // ES256 with Ed25519.
  ExpectProblem(ParseJws(Forge(JwkHeader(p384, "ES256"), "{}", p384)), "malformed", "ES256/P-384");
  ExpectProblem(ParseJws(Forge(JwkHeader(p256, "RS256"), "{}", p256)), "malformed", "RS256/EC");
  ExpectProblem(ParseJws(Forge(JwkHeader(rsa, "ES256"), "{}", rsa)), "malformed", "ES256/RSA");
  ExpectProblem(ParseJws(Forge(JwkHeader(p256, "EdDSA"), "{}", p256)), "malformed", "EdDSA/EC");
  ExpectProblem(ParseJws(Forge(JwkHeader(ed, "ES256"), "{}", ed)), "malformed", "ES256/Ed25519");
  // Account keys (kid): checked by VerifyJws.
  auto es256 = ParseJws(Signed(p256, KeyId{"https://ca.example/acme/acct/7"}));
  ASSERT_TRUE(es256.ok());
  ExpectProblem(VerifyJws(*es256, p384.public_key()).error(), "malformed", "kid ES256/P-384");
  ExpectProblem(VerifyJws(*es256, rsa.public_key()).error(), "malformed", "kid ES256/RSA");
  auto rs256 = ParseJws(Signed(rsa, KeyId{"https://ca.example/acme/acct/7"}));
  ASSERT_TRUE(rs256.ok());
  ExpectProblem(VerifyJws(*rs256, p256.public_key()).error(), "malformed", "kid RS256/EC");
  // A JWK "alg" member that contradicts its key.
  json header = JwkHeader(p256, "ES256");
  header["jwk"]["alg"] = "ES384";
  ExpectProblem(ParseJws(Forge(header, "{}", p256)), "malformed", "jwk alg");
  header["jwk"]["alg"] = "ES256";
  EXPECT_TRUE(ParseJws(Forge(header, "{}", p256)).ok());
}

TEST(JwsVerifyTest, ExactlyOneOfJwkAndKid) {
  const PrivateKey& key = Key(KeyType::kP256);
  json both = JwkHeader(key, "ES256");
  both["kid"] = "https://ca.example/acme/acct/7";
  ExpectProblem(ParseJws(Forge(both, "{}", key)), "malformed", "both");
  json neither = JwkHeader(key, "ES256");
  neither.erase("jwk");
  ExpectProblem(ParseJws(Forge(neither, "{}", key)), "malformed", "neither");
  json kid_number = neither;
  kid_number["kid"] = 7;
  ExpectProblem(ParseJws(Forge(kid_number, "{}", key)), "malformed", "kid number");
  json kid_empty = neither;
  kid_empty["kid"] = "";
  ExpectProblem(ParseJws(Forge(kid_empty, "{}", key)), "malformed", "kid empty");
  json jwk_string = JwkHeader(key, "ES256");
  jwk_string["jwk"] = Jwk(key);  // the JWK as a string, not an object
  ExpectProblem(ParseJws(Forge(jwk_string, "{}", key)), "malformed", "jwk string");
}

TEST(JwsVerifyTest, OnlyTheFlattenedSerializationIsAccepted) {
  const PrivateKey& key = Key(KeyType::kP256);
  const std::string body = Signed(key);
  json outer = json::parse(body);
  const std::string p = outer["protected"], pl = outer["payload"], s = outer["signature"];
  // Compact (RFC 7515 section 7.1).
  auto compact = ParseJws(p + "." + pl + "." + s);
  ExpectProblem(compact, "malformed", "compact");
  EXPECT_NE(compact.error().message().find("compact"), std::string::npos);
  // General, with a "signatures" array (with or without the flattened members beside it).
  std::string general =
      Dump({{"payload", pl}, {"signatures", json::array({{{"protected", p}, {"signature", s}}})}});
  ExpectProblem(ParseJws(general), "malformed", "general");
  ExpectProblem(ParseJws(WithOuter(body, [](json& o) { o["signatures"] = json::array(); })),
                "malformed", "flattened plus signatures");
  // Unprotected header, extra and missing members, wrong member types.
  ExpectProblem(ParseJws(WithOuter(body,
                                   [](json& o) {
                                     o["header"] = {{"kid", "x"}};
                                   })),
                "malformed", "header");
  ExpectProblem(ParseJws(WithOuter(body, [](json& o) { o["extra"] = 1; })), "malformed", "extra");
  for (const char* name : {"protected", "payload", "signature"}) {
    ExpectProblem(ParseJws(WithOuter(body, [&](json& o) { o.erase(name); })), "malformed",
                  std::string("no ") + name);
    ExpectProblem(ParseJws(WithOuter(body, [&](json& o) { o[name] = 5; })), "malformed",
                  std::string("number ") + name);
  }
  ExpectProblem(ParseJws(WithOuter(body, [](json& o) { o["protected"] = ""; })), "malformed",
                "empty protected");
  ExpectProblem(ParseJws(WithOuter(body, [](json& o) { o["signature"] = ""; })), "malformed",
                "empty signature");
  // Not a JSON object at all.
  for (const std::string bad : {"", "null", "[]", "\"x\"", "{", "{}", "{\"protected\":", "\xff"}) {
    ExpectProblem(ParseJws(bad), "malformed", "not an object: " + bad);
  }
  // Trailing data after the object.
  ExpectProblem(ParseJws(body + "{}"), "malformed", "trailing");
}

TEST(JwsVerifyTest, DuplicateMembersAreRefused) {
  const PrivateKey& key = Key(KeyType::kP256);
  const std::string body = Signed(key);
  json outer = json::parse(body);
  // A second "protected" that a lenient parser would take instead of the first.
  std::string dup = body;
  dup.insert(dup.size() - 1, ",\"protected\":\"e30\"");
  ExpectProblem(ParseJws(dup), "malformed", "outer duplicate");
  // Two "url" members in the protected header, the signature made over that very text.
  std::string header = Dump(JwkHeader(key, "ES256"));
  header.insert(header.size() - 1, ",\"url\":\"https://evil.example/\"");
  std::string protected_b64 = Base64UrlEncode(header);
  std::string payload_b64 = Base64UrlEncode("{}");
  std::string sig = SignatureOf(key, protected_b64 + "." + payload_b64);
  auto parsed = ParseJws(Dump({{"protected", protected_b64},
                               {"payload", payload_b64},
                               {"signature", Base64UrlEncode(sig)}}));
  ExpectProblem(parsed, "malformed", "header duplicate");
}

TEST(JwsVerifyTest, Base64UrlMustBeUnpaddedAndCanonical) {
  const PrivateKey& key = Key(KeyType::kP256);
  const std::string body = Signed(key);
  json outer = json::parse(body);
  for (const char* name : {"protected", "payload", "signature"}) {
    std::string value = outer[name];
    std::vector<std::string> bad = {value + "=", value + "==", value + "+", "/" + value,
                                    value + " ", value + "\n", value + "."};
    // Standard base64 spellings of the same bytes.
    std::string standard = value;
    for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
    if (standard != value) bad.push_back(standard);
    for (const std::string& b : bad) {
      ExpectProblem(ParseJws(WithOuter(body, [&](json& o) { o[name] = b; })), "malformed",
                    std::string(name) + " " + b);
    }
  }
  // Non-canonical: "e30" is "{}"; "e31" decodes to the same bytes with a stray low bit.
  auto payload = Base64UrlDecode("e31");
  ASSERT_TRUE(payload.ok());
  ASSERT_EQ(*payload, "{}");
  ExpectProblem(ParseJws(WithOuter(body, [](json& o) { o["payload"] = "e31"; })), "malformed",
                "non-canonical payload");
}

TEST(JwsVerifyTest, NonceAndUrlHeaders) {
  const PrivateKey& key = Key(KeyType::kP256);
  json no_nonce = JwkHeader(key, "ES256");
  no_nonce.erase("nonce");
  ExpectProblem(ParseJws(Forge(no_nonce, "{}", key)), "badNonce", "no nonce");
  EXPECT_EQ(AcmeStatusOf(ParseJws(Forge(no_nonce, "{}", key)).error()), 400);
  json empty_nonce = JwkHeader(key, "ES256");
  empty_nonce["nonce"] = "";
  ExpectProblem(ParseJws(Forge(empty_nonce, "{}", key)), "badNonce", "empty nonce");
  for (const json& bad : {json("abc=def"), json("a b"), json(std::string(300, 'a')), json(5)}) {
    json header = JwkHeader(key, "ES256");
    header["nonce"] = bad;
    ExpectProblem(ParseJws(Forge(header, "{}", key)), "malformed", "nonce " + bad.dump());
  }
  json no_url = JwkHeader(key, "ES256");
  no_url.erase("url");
  ExpectProblem(ParseJws(Forge(no_url, "{}", key)), "malformed", "no url");
  json url_number = JwkHeader(key, "ES256");
  url_number["url"] = 1;
  ExpectProblem(ParseJws(Forge(url_number, "{}", key)), "malformed", "url number");
}

TEST(JwsVerifyTest, CritIsRefusedAndOtherUnknownMembersIgnored) {
  const PrivateKey& key = Key(KeyType::kP256);
  json crit = JwkHeader(key, "ES256");
  crit["b64"] = false;
  crit["crit"] = json::array({"b64"});
  ExpectProblem(ParseJws(Forge(crit, "{}", key)), "malformed", "crit");
  json bad_crit = JwkHeader(key, "ES256");
  bad_crit["crit"] = "x";
  ExpectProblem(ParseJws(Forge(bad_crit, "{}", key)), "malformed", "crit string");
  json extra = JwkHeader(key, "ES256");
  extra["typ"] = "JOSE+JSON";
  extra["x-vendor"] = {{"a", 1}};
  auto jws = ParseJws(Forge(extra, "{}", key));
  ASSERT_TRUE(jws.ok()) << jws.error().ToString();
  EXPECT_TRUE(VerifyJws(*jws, *jws->jwk).ok());
}

TEST(JwsVerifyTest, BadPublicKeys) {
  const PrivateKey& p256 = Key(KeyType::kP256);
  const PrivateKey& rsa = Key(KeyType::kRsa2048);
  json ec_jwk = json::parse(Jwk(p256));
  json rsa_jwk = json::parse(Jwk(rsa));
  struct Case {
    std::string name;
    json jwk;
    std::string type;
  };
  std::vector<Case> cases;
  auto with = [](json jwk, const std::function<void(json&)>& change) {
    change(jwk);
    return jwk;
  };
  // RSA 1024: an odd 1024-bit modulus (the size is refused before anything else).
  std::string n1024(128, '\x5a');
  n1024[0] = '\xc1';
  n1024[127] = '\x01';
  cases.push_back({"RSA 1024", with(rsa_jwk, [&](json& j) { j["n"] = Base64UrlEncode(n1024); }),
                   "badPublicKey"});
  cases.push_back({"RSA e = 3", with(rsa_jwk, [](json& j) { j["e"] = "Aw"; }), "badPublicKey"});
  cases.push_back({"RSA with d", with(rsa_jwk, [](json& j) { j["d"] = "AQAB"; }), "badPublicKey"});
  cases.push_back({"EC with d",
                   with(ec_jwk, [](json& j) { j["d"] = Base64UrlEncode(std::string(32, 'a')); }),
                   "badPublicKey"});
  cases.push_back(
      {"EC with d null", with(ec_jwk, [](json& j) { j["d"] = nullptr; }), "badPublicKey"});
  cases.push_back({"oct key", json{{"kty", "oct"}, {"k", "c2VjcmV0"}}, "badPublicKey"});
  cases.push_back({"kty oct without k", json{{"kty", "oct"}}, "badPublicKey"});
  cases.push_back({"P-521", with(ec_jwk, [](json& j) { j["crv"] = "P-521"; }), "badPublicKey"});
  cases.push_back(
      {"secp256k1", with(ec_jwk, [](json& j) { j["crv"] = "secp256k1"; }), "badPublicKey"});
  cases.push_back({"EC point not on the curve",
                   with(ec_jwk,
                        [](json& j) {
                          std::string y = *Base64UrlDecode(j["y"].get<std::string>());
                          y[31] ^= 1;
                          j["y"] = Base64UrlEncode(y);
                        }),
                   "badPublicKey"});
  cases.push_back({"EC x short",
                   with(ec_jwk,
                        [](json& j) {
                          std::string x = *Base64UrlDecode(j["x"].get<std::string>());
                          j["x"] = Base64UrlEncode(x.substr(1));
                        }),
                   "badPublicKey"});
  cases.push_back(
      {"OKP X25519",
       json{{"kty", "OKP"}, {"crv", "X25519"}, {"x", Base64UrlEncode(std::string(32, 'a'))}},
       "badPublicKey"});
  // Structurally wrong JWKs.
  cases.push_back({"EC without y", with(ec_jwk, [](json& j) { j.erase("y"); }), "malformed"});
  cases.push_back({"EC without crv", with(ec_jwk, [](json& j) { j.erase("crv"); }), "malformed"});
  cases.push_back({"RSA n number", with(rsa_jwk, [](json& j) { j["n"] = 5; }), "malformed"});
  cases.push_back({"no kty", with(ec_jwk, [](json& j) { j.erase("kty"); }), "malformed"});
  cases.push_back({"padded x",
                   with(ec_jwk, [](json& j) { j["x"] = j["x"].get<std::string>() + "="; }),
                   "malformed"});
  for (const Case& c : cases) {
    // Through ParseJwk...
    ExpectProblem(ParseJwk(Dump(c.jwk)), c.type, "ParseJwk " + c.name);
    // ... and embedded in a JWS (signed with a real key; the JWK is refused first).
    json header = JwkHeader(p256, "ES256");
    header["jwk"] = c.jwk;
    ExpectProblem(ParseJws(Forge(header, "{}", p256)), c.type, "ParseJws " + c.name);
  }
  EXPECT_TRUE(ParseJwk(Dump(ec_jwk)).ok());
  EXPECT_TRUE(ParseJwk(Dump(rsa_jwk)).ok());
  ExpectProblem(ParseJwk("[]"), "malformed", "array");
  ExpectProblem(ParseJwk("not json"), "malformed", "not json");
}

TEST(JwsVerifyTest, WrongSignaturesAreUnauthorized) {
  for (KeyType type : {KeyType::kP256, KeyType::kP384, KeyType::kRsa2048, KeyType::kEd25519}) {
    const PrivateKey& key = Key(type);
    const std::string name(crypto::KeyTypeName(type));
    std::string alg = type == KeyType::kP256      ? "ES256"
                      : type == KeyType::kP384    ? "ES384"
                      : type == KeyType::kRsa2048 ? "RS256"
                                                  : "EdDSA";
    std::string body = Forge(JwkHeader(key, alg), R"({"a":1})", key);
    auto jws = ParseJws(body);
    ASSERT_TRUE(jws.ok()) << name << ": " << jws.error().ToString();
    ASSERT_TRUE(VerifyJws(*jws, *jws->jwk).ok()) << name;
    // A flipped bit, a truncated and an extended signature.
    ParsedJws flipped = *jws;
    flipped.signature[5] ^= 1;
    ExpectProblem(VerifyJws(flipped, *jws->jwk).error(), "unauthorized", name + " flipped");
    ParsedJws truncated = *jws;
    truncated.signature.pop_back();
    ExpectProblem(VerifyJws(truncated, *jws->jwk).error(), "unauthorized", name + " truncated");
    ParsedJws longer = *jws;
    longer.signature += '\0';
    ExpectProblem(VerifyJws(longer, *jws->jwk).error(), "unauthorized", name + " longer");
    // Another payload under the same signature.
    ParsedJws swapped = *jws;
    swapped.payload_b64 = Base64UrlEncode(R"({"a":2})");
    ExpectProblem(VerifyJws(swapped, *jws->jwk).error(), "unauthorized", name + " payload");
    // The JWK of one key, the signature of another of the same type.
    auto other = PrivateKey::Generate(type);
    ASSERT_TRUE(other.ok());
    std::string impostor = Forge(JwkHeader(key, alg), R"({"a":1})", *other);
    auto parsed = ParseJws(impostor);
    ASSERT_TRUE(parsed.ok()) << name;
    ExpectProblem(VerifyJws(*parsed, *parsed->jwk).error(), "unauthorized", name + " impostor");
    EXPECT_EQ(AcmeStatusOf(VerifyJws(*parsed, *parsed->jwk).error()), 403);
  }
}

TEST(JwsVerifyTest, OversizeBodiesAreRefusedBeforeParsing) {
  const PrivateKey& key = Key(KeyType::kP256);
  std::string big = Signed(key, {}, std::string(kMaxJwsBytes, 'a'));
  ASSERT_GT(big.size(), kMaxJwsBytes);
  auto jws = ParseJws(big);
  ExpectProblem(jws, "malformed", "oversize");
  EXPECT_EQ(AcmeStatusOf(jws.error()), 413);
  // Also when it is not even JSON.
  EXPECT_EQ(AcmeStatusOf(ParseJws(std::string(kMaxJwsBytes + 1, '[')).error()), 413);
  // Just under the limit is parsed (and refused for what it is).
  ExpectProblem(ParseJws(std::string(kMaxJwsBytes, '[')), "malformed", "deep");
  EXPECT_EQ(AcmeStatusOf(ParseJws(std::string(kMaxJwsBytes, '[')).error()), 400);
}

TEST(JwsVerifyTest, DetailsQuoteLittleOfTheInput) {
  const PrivateKey& key = Key(KeyType::kP256);
  json header = JwkHeader(key, std::string(10'000, 'A') + "\r\nX-Injected: yes");
  auto jws = ParseJws(Forge(header, "{}", key));
  ExpectProblem(jws, "badSignatureAlgorithm", "long alg");
  EXPECT_LT(jws.error().message().size(), 300u);
  EXPECT_EQ(jws.error().message().find('\n'), std::string::npos);
  json extra = json::parse(Signed(key));
  extra[std::string(5000, 'B') + "\n"] = 1;
  auto e = ParseJws(Dump(extra));
  ExpectProblem(e, "malformed", "long member name");
  EXPECT_LT(e.error().message().size(), 300u);
}

// ---- External account binding -----------------------------------------------------------------

const SecretBytes& HmacKey() {
  static const SecretBytes* key =
      new SecretBytes(SecretBytes::FromView("0123456789abcdef0123456789abcdef"));
  return *key;
}

// An EAB of `header` over `payload` MACed with HmacSha256(`mac_key`) (whatever header says).
std::string ForgeEab(const json& header, const std::string& payload, const SecretBytes& mac_key) {
  std::string protected_b64 = Base64UrlEncode(Dump(header));
  std::string payload_b64 = Base64UrlEncode(payload);
  std::string mac = crypto::HmacSha256(mac_key, protected_b64 + "." + payload_b64);
  return Dump({{"protected", protected_b64},
               {"payload", payload_b64},
               {"signature", Base64UrlEncode(mac)}});
}

json EabHeader() { return {{"alg", "HS256"}, {"kid", "eab-kid-1"}, {"url", kNewAccountUrl}}; }

TEST(JwsVerifyTest, ExternalAccountBindingFromTheClientVerifies) {
  for (KeyType type : {KeyType::kP256, KeyType::kRsa2048}) {
    const PrivateKey& key = Key(type);
    auto body = ExternalAccountBinding(key.public_key(), "eab-kid-1", HmacKey(), kNewAccountUrl);
    ASSERT_TRUE(body.ok());
    auto eab = ParseEab(*body, key.public_key(), kNewAccountUrl);
    ASSERT_TRUE(eab.ok()) << eab.error().ToString();
    EXPECT_EQ(eab->kid, "eab-kid-1");
    EXPECT_EQ(eab->mac.size(), 32u);
    EXPECT_TRUE(VerifyEab(*eab, HmacKey()).ok());
  }
  // The EdDSA account of the server's own clients binds too.
  const PrivateKey& ed = Key(KeyType::kEd25519);
  auto eab = ParseEab(ForgeEab(EabHeader(), Jwk(ed), HmacKey()), ed.public_key(), kNewAccountUrl);
  ASSERT_TRUE(eab.ok()) << eab.error().ToString();
  EXPECT_TRUE(VerifyEab(*eab, HmacKey()).ok());
}

TEST(JwsVerifyTest, ExternalAccountBindingRefusals) {
  const PrivateKey& key = Key(KeyType::kP256);
  const PrivateKey& other = Key(KeyType::kP384);
  const std::string jwk = Jwk(key);
  auto parse = [&](const std::string& body) {
    return ParseEab(body, key.public_key(), kNewAccountUrl);
  };
  // Another URL than newAccount's.
  json wrong_url = EabHeader();
  wrong_url["url"] = "https://ca.example/acme/new-order";
  ExpectProblem(parse(ForgeEab(wrong_url, jwk, HmacKey())), "unauthorized", "wrong url");
  json no_url = EabHeader();
  no_url.erase("url");
  ExpectProblem(parse(ForgeEab(no_url, jwk, HmacKey())), "malformed", "no url");
  // The payload is another key than the account's (a binding lifted from another request), and
  // the same key spelled differently still binds.
  ExpectProblem(parse(ForgeEab(EabHeader(), Jwk(other), HmacKey())), "unauthorized", "other key");
  json respelled = json::parse(jwk);
  respelled["use"] = "sig";
  EXPECT_TRUE(parse(ForgeEab(EabHeader(), Dump(respelled), HmacKey())).ok());
  ExpectProblem(parse(ForgeEab(EabHeader(), "{}", HmacKey())), "malformed", "payload {}");
  ExpectProblem(parse(ForgeEab(EabHeader(), "not json", HmacKey())), "malformed", "payload text");
  // The wrong MAC: made with another key, truncated, or empty.
  auto wrong_mac = parse(ForgeEab(EabHeader(), jwk, SecretBytes::FromView("another key")));
  ASSERT_TRUE(wrong_mac.ok());
  ExpectProblem(VerifyEab(*wrong_mac, HmacKey()).error(), "unauthorized", "wrong mac");
  ParsedEab truncated = *wrong_mac;
  truncated.mac = truncated.mac.substr(0, 16);
  ExpectProblem(VerifyEab(truncated, HmacKey()).error(), "unauthorized", "truncated mac");
  std::string empty_mac =
      WithOuter(ForgeEab(EabHeader(), jwk, HmacKey()), [](json& o) { o["signature"] = ""; });
  ExpectProblem(parse(empty_mac), "malformed", "empty mac");
  // An empty key on the server's side never verifies.
  auto good = parse(ForgeEab(EabHeader(), jwk, HmacKey()));
  ASSERT_TRUE(good.ok());
  EXPECT_TRUE(VerifyEab(*good, HmacKey()).ok());
  ExpectProblem(VerifyEab(*good, SecretBytes()).error(), "serverInternal", "empty key");
  // Algorithms other than HS256.
  for (const std::string alg : {"HS512", "HS384", "ES256", "RS256", "none", ""}) {
    json header = EabHeader();
    header["alg"] = alg;
    ExpectProblem(parse(ForgeEab(header, jwk, HmacKey())), "badSignatureAlgorithm", alg);
  }
  // An EAB signed with the account key (ES256) instead of a MAC.
  json es256 = EabHeader();
  es256["alg"] = "ES256";
  ExpectProblem(parse(Forge(es256, jwk, key)), "badSignatureAlgorithm", "ES256 signed");
  // Header members: a nonce, no kid, an empty or non-string kid.
  json with_nonce = EabHeader();
  with_nonce["nonce"] = kNonce;
  ExpectProblem(parse(ForgeEab(with_nonce, jwk, HmacKey())), "malformed", "nonce");
  json no_kid = EabHeader();
  no_kid.erase("kid");
  ExpectProblem(parse(ForgeEab(no_kid, jwk, HmacKey())), "malformed", "no kid");
  json kid_number = EabHeader();
  kid_number["kid"] = 1;
  ExpectProblem(parse(ForgeEab(kid_number, jwk, HmacKey())), "malformed", "kid number");
  // The serialization rules of any JWS.
  json outer = json::parse(ForgeEab(EabHeader(), jwk, HmacKey()));
  ExpectProblem(
      parse(outer["protected"].get<std::string>() + "." + outer["payload"].get<std::string>() +
            "." + outer["signature"].get<std::string>()),
      "malformed", "compact");
  ExpectProblem(parse(WithOuter(Dump(outer), [](json& o) { o["header"] = json::object(); })),
                "malformed", "unprotected header");
  ExpectProblem(
      parse(WithOuter(Dump(outer),
                      [](json& o) { o["signature"] = o["signature"].get<std::string>() + "="; })),
      "malformed", "padded mac");
}

}  // namespace
}  // namespace certfleet::acme
