#include "acme/protocol/jws_verify.h"

#include <array>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

#include "acme/protocol/problem.h"
#include "acme/protocol/server_problem.h"
#include "base/encoding.h"
#include "crypto/hash.h"
#include "crypto/jws.h"

namespace certfleet::acme {
namespace {

using nlohmann::json;

// How much of a client's value a detail may quote, and how deep its JSON may nest (a JWS and a
// JWK nest two levels; the bound only keeps pathological input cheap).
constexpr size_t kMaxEcho = 40;
constexpr int kMaxDepth = 16;
constexpr size_t kMaxNonceChars = 256;
// JWK members that only a private (or symmetric) key has (RFC 7518 section 6.2.2, 6.3.2, 6.4;
// RFC 8037 section 2).
constexpr std::array<const char*, 8> kPrivateMembers = {"d",  "p",  "q",   "dp",
                                                        "dq", "qi", "oth", "k"};

// A client's value, quoted, cut and without control characters.
std::string Quote(std::string_view text) { return "\"" + Sanitize(text, kMaxEcho) + "\""; }

Error MalformedProblem(std::string detail) { return AcmeError("malformed", std::move(detail)); }

std::string AlgorithmList() {
  std::string out;
  for (std::string_view alg : kJwsAlgorithms) {
    if (!out.empty()) out += ", ";
    out += alg;
  }
  return out;
}

bool IsSupportedAlgorithm(std::string_view alg) {
  for (std::string_view a : kJwsAlgorithms) {
    if (a == alg) return true;
  }
  return false;
}

// The JWS "alg" that goes with a key of `type`.
std::string_view AlgorithmFor(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kP256:
      return "ES256";
    case crypto::KeyType::kP384:
      return "ES384";
    case crypto::KeyType::kRsa2048:
    case crypto::KeyType::kRsa3072:
    case crypto::KeyType::kRsa4096:
      return "RS256";
    case crypto::KeyType::kEd25519:
      return "EdDSA";
  }
  return "";
}

// Whether arrays and objects in `text` nest deeper than `limit` (strings skipped). Checked before
// parsing, so that no parser builds (and then tears down) a value tens of thousands deep.
bool NestsDeeperThan(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// Parses `text` as a JSON object (`what` names it in details). Refuses, besides what is not JSON
// or not an object, duplicate member names at any level (RFC 7515 section 5.2 allows refusing
// them, and a JWS whose "alg" or "url" a second member overrides is the kind of confusion this
// file is for) and nesting beyond kMaxDepth. Never throws.
Result<json> ParseObject(std::string_view text, std::string_view what) {
  if (NestsDeeperThan(text, kMaxDepth)) {
    return MalformedProblem(std::string(what) + " nests too deeply");
  }
  std::vector<std::set<std::string>> keys;  // the member names of each open object
  bool duplicate = false;
  json::parser_callback_t check = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key:
        if (!keys.empty() && parsed.is_string() &&
            !keys.back().insert(parsed.get_ref<const std::string&>()).second) {
          duplicate = true;
        }
        break;
      default:
        break;
    }
    return true;
  };
  json value;
  try {
    value = json::parse(text, check, /*allow_exceptions=*/false);
  } catch (...) {  // allocation failure, or anything the callback's containers throw
    return MalformedProblem(std::string(what) + " is not JSON");
  }
  if (value.is_discarded()) return MalformedProblem(std::string(what) + " is not JSON");
  if (duplicate) return MalformedProblem(std::string(what) + " has a member name twice");
  if (!value.is_object()) return MalformedProblem(std::string(what) + " is not a JSON object");
  return value;
}

// Unpadded base64url, strictly: the alphabet only, no "=", and the canonical encoding of its
// bytes (no stray bits in the last character), so one value has one spelling.
Result<std::string> DecodeB64(const std::string& text, std::string_view what) {
  Result<std::string> raw = Base64UrlDecode(text);
  if (!raw.ok() || Base64UrlEncode(*raw) != text) {
    return MalformedProblem(std::string(what) + " is not unpadded base64url");
  }
  return raw;
}

// The string member `name` of `object`: nullptr when absent, malformed when not a string.
Result<const std::string*> StringMember(const json& object, const char* name,
                                        std::string_view what) {
  auto it = object.find(name);
  if (it == object.end()) return static_cast<const std::string*>(nullptr);
  if (!it->is_string())
    return MalformedProblem(std::string(what) + " member \"" + name + "\" is not a string");
  return &it->get_ref<const std::string&>();
}

// A flattened JWS JSON object (RFC 7515 section 7.2.2), its parts decoded.
struct Flattened {
  std::string protected_b64;
  std::string payload_b64;
  std::string signature_b64;
  json header;
  std::string payload;
  std::string signature;
};

Result<Flattened> ParseFlattened(std::string_view body, std::string_view what) {
  if (body.size() > kMaxJwsBytes) {
    // Not AcmeError: TooLarge is malformed with status 413 (server_problem.h).
    return TooLarge(std::string(what) + " of " + std::to_string(body.size()) +
                    " bytes is larger than " + std::to_string(kMaxJwsBytes));
  }
  Result<json> parsed = ParseObject(body, what);
  if (!parsed.ok()) {
    // Say what is wrong when the client sent the compact serialization (RFC 7515 section 7.1).
    size_t dots = 0;
    for (char c : body) dots += c == '.' ? 1 : 0;
    if (dots == 2 && body.find('{') == std::string_view::npos) {
      return MalformedProblem(std::string(what) +
                              " uses the compact serialization; ACME takes the flattened JSON "
                              "serialization only (RFC 8555 section 6.2)");
    }
    return std::move(parsed).error();
  }
  const json& outer = *parsed;
  if (outer.contains("signatures")) {
    return MalformedProblem(
        std::string(what) +
        " uses the general JSON serialization (\"signatures\"); ACME takes the "
        "flattened serialization with one \"signature\" (RFC 8555 section 6.2)");
  }
  if (outer.contains("header")) {
    return MalformedProblem(std::string(what) +
                            " has an unprotected \"header\"; ACME puts every header parameter in "
                            "\"protected\" (RFC 8555 section 6.2)");
  }
  for (const auto& [name, value] : outer.items()) {
    if (name != "protected" && name != "payload" && name != "signature") {
      return MalformedProblem(std::string(what) + " has an unexpected member " + Quote(name));
    }
  }
  Flattened out;
  for (auto [field, name] : {std::pair{&out.protected_b64, "protected"},
                             {&out.payload_b64, "payload"},
                             {&out.signature_b64, "signature"}}) {
    CF_ASSIGN_OR_RETURN(const std::string* value, StringMember(outer, name, what));
    if (value == nullptr) return MalformedProblem(std::string(what) + " has no \"" + name + "\"");
    *field = *value;
  }
  if (out.protected_b64.empty())
    return MalformedProblem(std::string(what) + " has an empty header");
  CF_ASSIGN_OR_RETURN(std::string header_text,
                      DecodeB64(out.protected_b64, std::string(what) + " \"protected\""));
  CF_ASSIGN_OR_RETURN(out.header, ParseObject(header_text, std::string(what) + " header"));
  CF_ASSIGN_OR_RETURN(out.payload, DecodeB64(out.payload_b64, std::string(what) + " \"payload\""));
  CF_ASSIGN_OR_RETURN(out.signature,
                      DecodeB64(out.signature_b64, std::string(what) + " \"signature\""));
  // RFC 7515 section 4.1.11: "crit" names extensions the recipient must understand. This
  // server understands none, so any "crit" (a valid one or not) is refused.
  if (out.header.contains("crit")) {
    return MalformedProblem(std::string(what) +
                            " header has \"crit\"; no JWS extension is supported here");
  }
  return out;
}

// The key of a JWK object, with the checks jws_verify.h lists.
Result<crypto::PublicKey> KeyOfJwk(const json& jwk) {
  if (!jwk.is_object()) return MalformedProblem("the JWK is not a JSON object");
  for (const char* name : kPrivateMembers) {
    if (jwk.contains(name)) {
      return AcmeError("badPublicKey", std::string("the JWK holds private key material (\"") +
                                           name + "\"); send the public key only");
    }
  }
  CF_ASSIGN_OR_RETURN(const std::string* kty, StringMember(jwk, "kty", "JWK"));
  if (kty == nullptr) return MalformedProblem("the JWK has no \"kty\"");
  crypto::JwkMembers members{.kty = *kty};
  std::vector<std::pair<std::string*, const char*>> wanted;
  if (*kty == "EC") {
    wanted = {{&members.x, "x"}, {&members.y, "y"}};
  } else if (*kty == "RSA") {
    wanted = {{&members.n, "n"}, {&members.e, "e"}};
  } else if (*kty == "OKP") {
    wanted = {{&members.x, "x"}};
  } else {
    return AcmeError("badPublicKey",
                     "JWK key type " + Quote(*kty) + " is not supported (supported: EC, RSA, OKP)");
  }
  if (*kty != "RSA") {
    CF_ASSIGN_OR_RETURN(const std::string* crv, StringMember(jwk, "crv", "JWK"));
    if (crv == nullptr) return MalformedProblem("the JWK has no \"crv\"");
    members.crv = *crv;
  }
  for (auto [field, name] : wanted) {
    CF_ASSIGN_OR_RETURN(const std::string* value, StringMember(jwk, name, "JWK"));
    if (value == nullptr) return MalformedProblem("the JWK has no \"" + std::string(name) + "\"");
    CF_ASSIGN_OR_RETURN(*field, DecodeB64(*value, "JWK \"" + std::string(name) + "\""));
  }
  Result<crypto::PublicKey> key = crypto::PublicKeyFromJwk(members);
  // crypto's messages name the rule that failed and never quote key bytes.
  if (!key.ok()) return AcmeError("badPublicKey", key.error().message());
  // RFC 7517 section 4.4: an optional "alg" must be the one the key is used with.
  CF_ASSIGN_OR_RETURN(const std::string* alg, StringMember(jwk, "alg", "JWK"));
  if (alg != nullptr && *alg != AlgorithmFor(key->type())) {
    return MalformedProblem("the JWK's \"alg\" " + Quote(*alg) + " does not fit its key");
  }
  return key;
}

// "alg" of a JWS header: malformed when absent or not a string, badSignatureAlgorithm when not
// one of `allowed`.
Result<std::string> AlgorithmOf(const json& header, std::string_view what,
                                bool (*allowed)(std::string_view), std::string_view list) {
  CF_ASSIGN_OR_RETURN(const std::string* alg,
                      StringMember(header, "alg", std::string(what) + " header"));
  if (alg == nullptr) return MalformedProblem(std::string(what) + " header has no \"alg\"");
  if (!allowed(*alg)) {
    return AcmeError("badSignatureAlgorithm",
                     std::string(what) + " algorithm " + Quote(*alg) +
                         " is not supported (supported: " + std::string(list) + ")");
  }
  return *alg;
}

}  // namespace

std::string ParsedJws::signing_input() const { return protected_b64 + "." + payload_b64; }

Result<ParsedJws> ParseJws(std::string_view body, bool inner) {
  const std::string what = inner ? "inner JWS" : "JWS";
  CF_ASSIGN_OR_RETURN(Flattened flat, ParseFlattened(body, what));
  const json& header = flat.header;
  ParsedJws jws;
  CF_ASSIGN_OR_RETURN(jws.alg, AlgorithmOf(header, what, IsSupportedAlgorithm, AlgorithmList()));
  if (flat.signature.empty()) return MalformedProblem(what + " has an empty signature");

  CF_ASSIGN_OR_RETURN(const std::string* nonce, StringMember(header, "nonce", what + " header"));
  if (inner) {
    if (header.contains("nonce")) {
      return MalformedProblem("the inner JWS of a key change must not have a \"nonce\"");
    }
  } else if (nonce == nullptr || nonce->empty()) {
    // RFC 8555 section 6.5: a missing nonce is badNonce; a misencoded one malformed (6.5.1).
    return AcmeError("badNonce", nonce == nullptr ? "the JWS header has no \"nonce\""
                                                  : "the JWS header has an empty \"nonce\"");
  } else if (nonce->size() > kMaxNonceChars || !IsBase64Url(*nonce)) {
    return MalformedProblem("the JWS \"nonce\" is not base64url");
  } else {
    jws.nonce = *nonce;
  }

  CF_ASSIGN_OR_RETURN(const std::string* url, StringMember(header, "url", what + " header"));
  if (url == nullptr || url->empty()) return MalformedProblem(what + " header has no \"url\"");
  jws.url = *url;

  const bool has_jwk = header.contains("jwk");
  const bool has_kid = header.contains("kid");
  if (has_jwk && has_kid) return MalformedProblem(what + " header has both \"jwk\" and \"kid\"");
  if (!has_jwk && !has_kid) {
    return MalformedProblem(what + " header has neither \"jwk\" nor \"kid\"");
  }
  if (inner && !has_jwk) {
    return MalformedProblem("the inner JWS of a key change must carry the new key as \"jwk\"");
  }
  if (has_kid) {
    CF_ASSIGN_OR_RETURN(const std::string* kid, StringMember(header, "kid", what + " header"));
    if (kid->empty()) return MalformedProblem(what + " header has an empty \"kid\"");
    jws.kid = *kid;
  } else {
    CF_ASSIGN_OR_RETURN(crypto::PublicKey key, KeyOfJwk(*header.find("jwk")));
    if (AlgorithmFor(key.type()) != jws.alg) {
      return MalformedProblem(what + " algorithm " + Quote(jws.alg) + " does not fit its key (" +
                              std::string(AlgorithmFor(key.type())) + ")");
    }
    Result<std::string> canonical = crypto::PublicJwk(key);
    if (!canonical.ok()) return AcmeError("badPublicKey", canonical.error().message());
    jws.jwk_json = std::move(*canonical);
    jws.jwk = std::move(key);
  }
  jws.protected_b64 = std::move(flat.protected_b64);
  jws.payload_b64 = std::move(flat.payload_b64);
  jws.signature = std::move(flat.signature);
  jws.payload = std::move(flat.payload);
  return jws;
}

Status VerifyJws(const ParsedJws& jws, const crypto::PublicKey& key) {
  if (!IsSupportedAlgorithm(jws.alg)) {
    return AcmeError("badSignatureAlgorithm",
                     "JWS algorithm " + Quote(jws.alg) +
                         " is not supported (supported: " + AlgorithmList() + ")");
  }
  if (AlgorithmFor(key.type()) != jws.alg) {
    return MalformedProblem("JWS algorithm " + Quote(jws.alg) + " does not fit the account key (" +
                            std::string(AlgorithmFor(key.type())) + ")");
  }
  if (!crypto::JwsVerify(key, jws.signing_input(), jws.signature)) {
    return AcmeError("unauthorized", "JWS signature verification failed");
  }
  return Ok();
}

Result<crypto::PublicKey> ParseJwk(std::string_view jwk_json) {
  CF_ASSIGN_OR_RETURN(json jwk, ParseObject(jwk_json, "the JWK"));
  return KeyOfJwk(jwk);
}

Result<std::string> JwkThumbprintB64(const crypto::PublicKey& key) {
  Result<std::string> raw = crypto::JwkThumbprint(key);
  if (!raw.ok()) return AcmeError("badPublicKey", raw.error().message());
  return Base64UrlEncode(*raw);
}

Result<ParsedEab> ParseEab(std::string_view eab_json, const crypto::PublicKey& account_key,
                           std::string_view new_account_url) {
  const std::string what = "externalAccountBinding";
  CF_ASSIGN_OR_RETURN(Flattened flat, ParseFlattened(eab_json, what));
  const json& header = flat.header;
  // RFC 8555 section 7.3.4: a MAC algorithm; this server issues HS256 keys only.
  CF_TRY(AlgorithmOf(
      header, what, [](std::string_view alg) { return alg == "HS256"; }, "HS256"));
  if (flat.signature.empty()) return MalformedProblem(what + " has an empty MAC");
  if (header.contains("nonce")) return MalformedProblem(what + " header must not have a \"nonce\"");
  CF_ASSIGN_OR_RETURN(const std::string* kid, StringMember(header, "kid", what + " header"));
  if (kid == nullptr || kid->empty()) return MalformedProblem(what + " header has no \"kid\"");
  CF_ASSIGN_OR_RETURN(const std::string* url, StringMember(header, "url", what + " header"));
  if (url == nullptr) return MalformedProblem(what + " header has no \"url\"");
  if (*url != new_account_url) {
    return AcmeError("unauthorized", what + " \"url\" is not this server's newAccount URL");
  }
  CF_ASSIGN_OR_RETURN(crypto::PublicKey bound, ParseJwk(flat.payload));
  if (bound.spki_der() != account_key.spki_der()) {
    return AcmeError("unauthorized", what + " binds another key than the account's");
  }
  ParsedEab eab;
  eab.kid = *kid;
  eab.protected_b64 = std::move(flat.protected_b64);
  eab.payload_b64 = std::move(flat.payload_b64);
  eab.mac = std::move(flat.signature);
  return eab;
}

Status VerifyEab(const ParsedEab& eab, const SecretBytes& hmac_key) {
  // An empty MAC key would let anyone compute the MAC: a store or configuration fault.
  if (hmac_key.empty()) return AcmeError("serverInternal", "the external account key is unusable");
  std::string expected = crypto::HmacSha256(hmac_key, eab.protected_b64 + "." + eab.payload_b64);
  if (!crypto::ConstantTimeEquals(expected, eab.mac)) {
    return AcmeError("unauthorized", "externalAccountBinding MAC verification failed");
  }
  return Ok();
}

}  // namespace certfleet::acme
