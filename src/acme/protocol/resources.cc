#include "acme/protocol/resources.h"

#include <nlohmann/json.hpp>

#include "acme/protocol/jws.h"
#include "net/https_client.h"

namespace certfleet::acme {
namespace {

using nlohmann::json;

// Parses without exceptions; Malformed unless the body is one JSON object.
Result<json> ParseObject(std::string_view body, std::string_view what) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Malformed("the CA's " + std::string(what) + " is not valid JSON");
  if (!j.is_object()) return Malformed("the CA's " + std::string(what) + " is not a JSON object");
  return j;
}

// Optional string member: "" when absent; Malformed when present with another type.
Result<std::string> OptString(const json& j, const char* name, std::string_view what) {
  auto it = j.find(name);
  if (it == j.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Malformed("the CA's " + std::string(what) + ": \"" + name + "\" is not a string");
  }
  return it->get<std::string>();
}

Result<std::string> ReqString(const json& j, const char* name, std::string_view what) {
  CF_ASSIGN_OR_RETURN(std::string s, OptString(j, name, what));
  if (s.empty()) return Malformed("the CA's " + std::string(what) + " lacks \"" + name + "\"");
  return s;
}

Result<std::string> ReqUrl(const json& j, const char* name, std::string_view what, bool plain) {
  CF_ASSIGN_OR_RETURN(std::string s, ReqString(j, name, what));
  CF_TRY(CheckServerUrl(s, plain, std::string(what) + " " + name));
  return s;
}

Result<std::string> OptUrl(const json& j, const char* name, std::string_view what, bool plain) {
  CF_ASSIGN_OR_RETURN(std::string s, OptString(j, name, what));
  if (!s.empty()) CF_TRY(CheckServerUrl(s, plain, std::string(what) + " " + name));
  return s;
}

std::optional<Problem> OptProblem(const json& j) {
  auto it = j.find("error");
  if (it == j.end() || !it->is_object()) return std::nullopt;
  return ParseProblem(it->dump(-1, ' ', false, json::error_handler_t::replace), 0);
}

Result<Identifier> ParseIdentifier(const json& j, std::string_view what) {
  if (!j.is_object()) return Malformed("the CA's " + std::string(what) + ": bad identifier");
  Identifier id;
  CF_ASSIGN_OR_RETURN(id.type, ReqString(j, "type", what));
  CF_ASSIGN_OR_RETURN(id.value, ReqString(j, "value", what));
  return id;
}

Result<Challenge> ChallengeFrom(const json& j, bool plain) {
  if (!j.is_object()) return Malformed("the CA's challenge is not a JSON object");
  Challenge c;
  CF_ASSIGN_OR_RETURN(c.type, ReqString(j, "type", "challenge"));
  CF_ASSIGN_OR_RETURN(c.url, ReqUrl(j, "url", "challenge", plain));
  CF_ASSIGN_OR_RETURN(c.status, ReqString(j, "status", "challenge"));
  CF_ASSIGN_OR_RETURN(c.token, OptString(j, "token", "challenge"));
  // The token ends up in file paths and DNS records (section 8.1): refuse it before any use.
  if (!c.token.empty() && !IsValidToken(c.token)) {
    return Malformed("the CA sent a " + Sanitize(c.type, 40) +
                     " challenge token that is not 1 to 256 base64url characters");
  }
  c.error = OptProblem(j);
  return c;
}

}  // namespace

Status CheckServerUrl(std::string_view url, bool allow_plain_http, std::string_view what) {
  auto parsed = net::ParseUrl(url);
  if (!parsed.ok()) {
    return InvalidArgument("the CA sent an unusable URL for " + std::string(what) + ": " +
                           parsed.error().message());
  }
  if (parsed->scheme != "https" && !(allow_plain_http && parsed->scheme == "http")) {
    return InvalidArgument("the CA sent a non-https URL for " + std::string(what) + " (" +
                           Sanitize(url, 200) + "); only https:// is accepted");
  }
  return Ok();
}

Result<Directory> ParseDirectory(std::string_view body, bool plain) {
  CF_ASSIGN_OR_RETURN(json j, ParseObject(body, "directory"));
  Directory d;
  CF_ASSIGN_OR_RETURN(d.new_nonce, ReqUrl(j, "newNonce", "directory", plain));
  CF_ASSIGN_OR_RETURN(d.new_account, ReqUrl(j, "newAccount", "directory", plain));
  CF_ASSIGN_OR_RETURN(d.new_order, ReqUrl(j, "newOrder", "directory", plain));
  CF_ASSIGN_OR_RETURN(d.revoke_cert, OptUrl(j, "revokeCert", "directory", plain));
  CF_ASSIGN_OR_RETURN(d.key_change, OptUrl(j, "keyChange", "directory", plain));
  CF_ASSIGN_OR_RETURN(d.renewal_info, OptUrl(j, "renewalInfo", "directory", plain));
  auto meta = j.find("meta");
  if (meta != j.end() && meta->is_object()) {
    CF_ASSIGN_OR_RETURN(d.terms_of_service, OptString(*meta, "termsOfService", "directory meta"));
    auto ear = meta->find("externalAccountRequired");
    d.external_account_required = ear != meta->end() && ear->is_boolean() && ear->get<bool>();
    auto profiles = meta->find("profiles");
    if (profiles != meta->end() && profiles->is_object()) {
      for (const auto& [name, desc] : profiles->items()) {
        d.profiles[name] = desc.is_string() ? desc.get<std::string>() : "";
      }
    }
  }
  return d;
}

Result<Account> ParseAccount(std::string_view body, std::string url, bool plain) {
  CF_TRY(CheckServerUrl(url, plain, "the account"));
  Account a;
  a.url = std::move(url);
  // Some CAs answer a deactivation or an existing account with an empty body.
  if (body.empty()) return a;
  CF_ASSIGN_OR_RETURN(json j, ParseObject(body, "account"));
  CF_ASSIGN_OR_RETURN(a.status, OptString(j, "status", "account"));
  CF_ASSIGN_OR_RETURN(a.orders, OptString(j, "orders", "account"));
  auto contact = j.find("contact");
  if (contact != j.end() && contact->is_array()) {
    for (const auto& c : *contact) {
      if (c.is_string()) a.contact.push_back(c.get<std::string>());
    }
  }
  return a;
}

Result<Order> ParseOrder(std::string_view body, std::string url, bool plain) {
  CF_TRY(CheckServerUrl(url, plain, "the order"));
  CF_ASSIGN_OR_RETURN(json j, ParseObject(body, "order"));
  Order o;
  o.url = std::move(url);
  CF_ASSIGN_OR_RETURN(o.status, ReqString(j, "status", "order"));
  CF_ASSIGN_OR_RETURN(o.finalize, ReqUrl(j, "finalize", "order", plain));
  CF_ASSIGN_OR_RETURN(o.certificate, OptUrl(j, "certificate", "order", plain));
  CF_ASSIGN_OR_RETURN(o.profile, OptString(j, "profile", "order"));
  CF_ASSIGN_OR_RETURN(o.replaces, OptString(j, "replaces", "order"));
  auto ids = j.find("identifiers");
  if (ids == j.end() || !ids->is_array()) return Malformed("the CA's order lacks \"identifiers\"");
  for (const auto& id : *ids) {
    CF_ASSIGN_OR_RETURN(Identifier parsed, ParseIdentifier(id, "order"));
    o.identifiers.push_back(std::move(parsed));
  }
  auto authzs = j.find("authorizations");
  if (authzs == j.end() || !authzs->is_array()) {
    return Malformed("the CA's order lacks \"authorizations\"");
  }
  for (const auto& a : *authzs) {
    if (!a.is_string()) return Malformed("the CA's order: an authorization URL is not a string");
    std::string u = a.get<std::string>();
    CF_TRY(CheckServerUrl(u, plain, "an authorization"));
    o.authorizations.push_back(std::move(u));
  }
  o.error = OptProblem(j);
  return o;
}

const Challenge* Authorization::Find(std::string_view type) const {
  for (const auto& c : challenges) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

Result<Authorization> ParseAuthorization(std::string_view body, std::string url, bool plain) {
  CF_TRY(CheckServerUrl(url, plain, "the authorization"));
  CF_ASSIGN_OR_RETURN(json j, ParseObject(body, "authorization"));
  Authorization a;
  a.url = std::move(url);
  CF_ASSIGN_OR_RETURN(a.status, ReqString(j, "status", "authorization"));
  auto id = j.find("identifier");
  if (id == j.end()) return Malformed("the CA's authorization lacks \"identifier\"");
  CF_ASSIGN_OR_RETURN(a.identifier, ParseIdentifier(*id, "authorization"));
  auto wildcard = j.find("wildcard");
  a.wildcard = wildcard != j.end() && wildcard->is_boolean() && wildcard->get<bool>();
  auto challenges = j.find("challenges");
  if (challenges == j.end() || !challenges->is_array()) {
    return Malformed("the CA's authorization lacks \"challenges\"");
  }
  for (const auto& c : *challenges) {
    CF_ASSIGN_OR_RETURN(Challenge parsed, ChallengeFrom(c, plain));
    a.challenges.push_back(std::move(parsed));
  }
  return a;
}

Result<Challenge> ParseChallenge(std::string_view body, bool plain) {
  CF_ASSIGN_OR_RETURN(json j, ParseObject(body, "challenge"));
  return ChallengeFrom(j, plain);
}

}  // namespace certfleet::acme
