#include "acme/protocol/server_problem.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "acme/protocol/jws_verify.h"

namespace certfleet::acme {
namespace {

using nlohmann::json;

// One RFC 8555 section 6.7 problem type (plus "invalidProfile" of draft-ietf-acme-profiles):
// the ErrorCode an AcmeError of it carries and the HTTP status it is sent with. The statuses are
// Boulder's and Pebble's (letsencrypt/boulder probs/probs.go, letsencrypt/pebble
// acme/problems.go), so clients see what they see from Let's Encrypt and Pebble; where only one
// of them sends a type, or neither does, the line says so.
struct TypeInfo {
  std::string_view type;
  ErrorCode code;
  int status;
  bool retryable;
};
constexpr std::array<TypeInfo, 25> kTypes = {{
    {"accountDoesNotExist", ErrorCode::kNotFound, 400, false},
    {"alreadyRevoked", ErrorCode::kConflict, 400, false},
    {"badCSR", ErrorCode::kInvalidArgument, 400, false},
    {"badNonce", ErrorCode::kUnavailable, 400, true},
    {"badPublicKey", ErrorCode::kInvalidArgument, 400, false},
    {"badRevocationReason", ErrorCode::kInvalidArgument, 400, false},
    {"badSignatureAlgorithm", ErrorCode::kInvalidArgument, 400, false},
    {"caa", ErrorCode::kForbidden, 403, false},
    // Neither sends it: 403, as RFC 8555 section 6.7.1's example of a problem with subproblems.
    {"compound", ErrorCode::kForbidden, 403, false},
    {"connection", ErrorCode::kFailedPrecondition, 400, false},
    {"dns", ErrorCode::kFailedPrecondition, 400, false},
    {"externalAccountRequired", ErrorCode::kUnauthorized, 403, false},  // Pebble
    // Neither sends it: 400 like the other failed-validation types (connection, dns, tls).
    {"incorrectResponse", ErrorCode::kFailedPrecondition, 400, false},
    {"invalidContact", ErrorCode::kInvalidArgument, 400, false},
    {"invalidProfile", ErrorCode::kInvalidArgument, 400, false},  // draft-ietf-acme-profiles
    // The status of "malformed" follows the Error's code (StatusForMalformed).
    {"malformed", ErrorCode::kMalformed, 400, false},
    {"orderNotReady", ErrorCode::kFailedPrecondition, 403, false},
    {"rateLimited", ErrorCode::kRateLimited, 429, true},
    {"rejectedIdentifier", ErrorCode::kForbidden, 400, false},
    {"serverInternal", ErrorCode::kInternal, 500, false},
    {"tls", ErrorCode::kFailedPrecondition, 400, false},
    {"unauthorized", ErrorCode::kUnauthorized, 403, false},
    {"unsupportedContact", ErrorCode::kInvalidArgument, 400, false},
    {"unsupportedIdentifier", ErrorCode::kInvalidArgument, 400, false},
    // Pebble; RFC 8555 section 7.3.3's example.
    {"userActionRequired", ErrorCode::kFailedPrecondition, 403, false},
}};

const TypeInfo* Find(std::string_view type) {
  for (const TypeInfo& info : kTypes) {
    if (info.type == type) return &info;
  }
  return nullptr;
}

const TypeInfo& Info(std::string_view type) {
  const TypeInfo* info = Find(type);
  return info != nullptr ? *info : *Find("serverInternal");
}

// The short type of a full URN or a short name of a known type; nullptr for anything else.
const TypeInfo* FindEither(std::string_view type) {
  if (type.starts_with(kAcmeErrorPrefix)) type.remove_prefix(kAcmeErrorPrefix.size());
  return Find(type);
}

// The cause an AcmeError keeps: "<URN>" or "<URN>\n<subproblems as a JSON array>".
struct Marker {
  const TypeInfo* info;
  std::string_view subproblems_json;  // empty when there are none
};

std::optional<Marker> ReadMarker(const Error& cause) {
  std::string_view text = cause.message();
  if (!text.starts_with(kAcmeErrorPrefix)) return std::nullopt;
  std::string_view rest;
  if (size_t nl = text.find('\n'); nl != std::string_view::npos) {
    rest = text.substr(nl + 1);
    text = text.substr(0, nl);
  }
  const TypeInfo* info = Find(text.substr(kAcmeErrorPrefix.size()));
  if (info == nullptr) return std::nullopt;
  return Marker{info, rest};
}

// The Error made by AcmeError within `error`'s chain (the error itself or one that wraps it)
// and what its marker says; nullopt for an Error that never was an AcmeError.
struct Found {
  const Error* holder;
  Marker marker;
};
std::optional<Found> FindAcme(const Error& error) {
  for (const Error* e = &error; e != nullptr; e = e->cause()) {
    if (e->cause() == nullptr) break;
    if (std::optional<Marker> m = ReadMarker(*e->cause())) return Found{e, *m};
  }
  return std::nullopt;
}

// "malformed" is sent with the status that names the refusal best (Boulder and Pebble send
// malformed 404, 405, 409 and 415 too).
int StatusForMalformed(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kFailedPrecondition:
      return 403;
    default:
      return 400;
  }
}

// The type and status of an Error that is not an AcmeError, by its code.
std::pair<std::string_view, int> ByCode(ErrorCode code) {
  switch (code) {
    case ErrorCode::kUnauthorized:
    case ErrorCode::kForbidden:
      return {"unauthorized", 403};
    case ErrorCode::kRateLimited:
      return {"rateLimited", 429};
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      return {"serverInternal", 503};
    case ErrorCode::kInternal:
      return {"serverInternal", 500};
    case ErrorCode::kNotFound:
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kMalformed:
    case ErrorCode::kTooLarge:
    case ErrorCode::kConflict:
    case ErrorCode::kFailedPrecondition:
      break;
  }
  return {"malformed", StatusForMalformed(code)};
}

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// RFC 8555 section 9.7.7's identifier types: an IPv4 or IPv6 address is "ip" (RFC 8738),
// anything else "dns".
std::string_view IdentifierType(const std::string& value) {
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, value.c_str(), &v4) == 1 || inet_pton(AF_INET6, value.c_str(), &v6) == 1) {
    return "ip";
  }
  return "dns";
}

std::string FullUrn(std::string_view short_type) {
  return std::string(kAcmeErrorPrefix) + std::string(short_type);
}

// What a client may read of an Error that is not an AcmeError: like the REST layer
// (api/problem.h), Internal errors and Unavailable ones not written for clients come from below
// and may name hosts, paths or tables.
std::string DetailByCode(const Error& error) {
  switch (error.code()) {
    case ErrorCode::kInternal:
      return "internal server error";
    case ErrorCode::kUnavailable:
    case ErrorCode::kTimeout:
      if (!error.for_clients()) return "the server is temporarily unavailable; try again later";
      break;
    default:
      break;
  }
  return error.message();
}

}  // namespace

Error AcmeError(std::string_view type, std::string detail) {
  return AcmeError(type, std::move(detail), {});
}

Error AcmeError(std::string_view type, std::string detail, std::vector<Subproblem> subproblems) {
  // An unknown type is a bug of the caller; it is sent as serverInternal rather than as a type
  // that no client knows.
  const TypeInfo& info = Info(type);
  std::string marker = FullUrn(info.type);
  if (!subproblems.empty()) {
    json subs = json::array();
    for (Subproblem& sp : subproblems) {
      const TypeInfo* sub = FindEither(sp.type);
      subs.push_back({{"type", FullUrn(sub != nullptr ? sub->type : "serverInternal")},
                      {"detail", std::move(sp.detail)},
                      {"identifier", std::move(sp.identifier)}});
    }
    marker += "\n" + Dump(subs);
  }
  Error error = Error(info.code, std::move(detail)).WithCause(Error(info.code, std::move(marker)));
  if (info.retryable) error.WithRetry();
  return error;
}

std::string AcmeTypeOf(const Error& error) {
  if (std::optional<Found> found = FindAcme(error)) return std::string(found->marker.info->type);
  return std::string(ByCode(error.code()).first);
}

int AcmeStatusOf(const Error& error) {
  std::optional<Found> found = FindAcme(error);
  if (!found) return ByCode(error.code()).second;
  if (found->marker.info->type == "malformed") return StatusForMalformed(found->holder->code());
  return found->marker.info->status;
}

std::vector<Subproblem> AcmeSubproblemsOf(const Error& error) {
  std::vector<Subproblem> out;
  std::optional<Found> found = FindAcme(error);
  if (!found || found->marker.subproblems_json.empty()) return out;
  json subs = json::parse(found->marker.subproblems_json, nullptr, /*allow_exceptions=*/false);
  if (!subs.is_array()) return out;
  for (const json& s : subs) {
    if (!s.is_object()) continue;
    auto str = [&](const char* name) {
      auto it = s.find(name);
      return it != s.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    out.push_back(Subproblem{str("type"), str("detail"), str("identifier")});
  }
  return out;
}

std::string ToProblemJson(const Error& error) {
  std::optional<Found> found = FindAcme(error);
  json doc = {{"type", FullUrn(AcmeTypeOf(error))},
              {"detail", Sanitize(found ? found->holder->message() : DetailByCode(error), 1000)},
              {"status", AcmeStatusOf(error)}};
  std::vector<Subproblem> subs = AcmeSubproblemsOf(error);
  if (!subs.empty()) {
    json list = json::array();
    for (const Subproblem& sp : subs) {
      json item = {{"type", sp.type}, {"detail", Sanitize(sp.detail, 1000)}};
      if (!sp.identifier.empty()) {
        item["identifier"] = {{"type", IdentifierType(sp.identifier)}, {"value", sp.identifier}};
      }
      list.push_back(std::move(item));
    }
    doc["subproblems"] = std::move(list);
  }
  if (found && found->marker.info->type == "badSignatureAlgorithm") {
    // RFC 8555 section 6.2: "The problem document returned with the error MUST include an
    // "algorithms" field with an array of supported "alg" values." (For an external account
    // binding's MAC, whose only algorithm is HS256, the detail says so.)
    doc["algorithms"] = json::array();
    for (std::string_view alg : kJwsAlgorithms) doc["algorithms"].push_back(alg);
  }
  return Dump(doc);
}

}  // namespace certfleet::acme
