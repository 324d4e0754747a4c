#include "acme/protocol/problem.h"

#include <nlohmann/json.hpp>

namespace certfleet::acme {
namespace {

std::string StringMember(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

ErrorCode CodeFor(const Problem& p) {
  std::string_view t = p.short_type();
  if (t == "unauthorized" || t == "accountDoesNotExist" || t == "externalAccountRequired") {
    return ErrorCode::kUnauthorized;
  }
  if (t == "rateLimited") return ErrorCode::kRateLimited;
  if (t == "alreadyRevoked" || t == "orderNotReady" || t == "alreadyReplaced") {
    return ErrorCode::kConflict;
  }
  if (t == "malformed" || t == "badCSR" || t == "badSignatureAlgorithm" || t == "badPublicKey" ||
      t == "badRevocationReason" || t == "unsupportedIdentifier" || t == "unsupportedContact" ||
      t == "invalidContact" || t == "rejectedIdentifier" || t == "caa") {
    return ErrorCode::kInvalidArgument;
  }
  if (t == "serverInternal" || t == "badNonce") return ErrorCode::kUnavailable;
  if (t == "connection" || t == "dns" || t == "tls" || t == "incorrectResponse") {
    return ErrorCode::kFailedPrecondition;  // validation failed: the challenge was not met
  }
  if (p.status == 403) return ErrorCode::kForbidden;
  if (p.status == 404) return ErrorCode::kNotFound;
  if (p.status >= 500) return ErrorCode::kUnavailable;
  return ErrorCode::kFailedPrecondition;
}

}  // namespace

std::string_view Problem::short_type() const {
  std::string_view t = type;
  if (t.substr(0, kAcmeErrorPrefix.size()) == kAcmeErrorPrefix)
    t.remove_prefix(kAcmeErrorPrefix.size());
  return t;
}

std::string Sanitize(std::string_view text, size_t max_bytes) {
  std::string out;
  for (char c : text) {
    if (out.size() >= max_bytes) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? ' ' : c);
  }
  return out;
}

std::optional<Problem> ParseProblem(std::string_view body, int http_status) {
  // allow_exceptions = false: a malformed body yields a discarded value, never a throw.
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  Problem p;
  p.type = StringMember(j, "type");
  if (p.type.empty()) return std::nullopt;
  p.detail = StringMember(j, "detail");
  auto status = j.find("status");
  p.status = status != j.end() && status->is_number_integer() ? status->get<int>() : http_status;
  auto subs = j.find("subproblems");
  if (subs != j.end() && subs->is_array()) {
    for (const auto& s : *subs) {
      if (!s.is_object() || p.subproblems.size() >= 20) continue;
      Subproblem sp{StringMember(s, "type"), StringMember(s, "detail"), ""};
      auto id = s.find("identifier");
      if (id != s.end() && id->is_object()) sp.identifier = StringMember(*id, "value");
      p.subproblems.push_back(std::move(sp));
    }
  }
  return p;
}

Error ProblemError(const Problem& problem, std::string_view what,
                   std::optional<std::chrono::seconds> retry_after) {
  std::string msg = "the CA refused: " + Sanitize(problem.short_type(), 100);
  if (!problem.detail.empty()) msg += ": " + Sanitize(problem.detail);
  for (const auto& sp : problem.subproblems) {
    msg += "; " + Sanitize(sp.identifier, 100) + ": " +
           Sanitize(std::string_view(sp.type).substr(
                        sp.type.rfind(':') == std::string::npos ? 0 : sp.type.rfind(':') + 1),
                    100) +
           ": " + Sanitize(sp.detail);
  }
  msg += " (" + std::string(what) + ")";
  Error e(CodeFor(problem), std::move(msg));
  if (problem.Is("badNonce") || problem.Is("serverInternal") || problem.Is("rateLimited")) {
    e.WithRetry(retry_after);
  }
  return e;
}

}  // namespace certfleet::acme
