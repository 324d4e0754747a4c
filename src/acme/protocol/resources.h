// ACME resources as the client sees them (RFC 8555 section 7.1) and their parsers.
//
// Contract of every Parse* function: it never throws; it returns Malformed, naming the resource
// and the member, for a body that is not JSON, is not an object, or lacks a required member;
// and it refuses (InvalidArgument) any URL the server hands out unless it is an absolute
// https:// URL, or http:// when `allow_plain_http` is set (tests only). Challenge tokens are
// checked with IsValidToken (jws.h) before anything else sees them. Unknown members are ignored.
// Values are plain copies; thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/protocol/problem.h"
#include "base/clock.h"
#include "base/error.h"

namespace certfleet::acme {

// Refuses a URL from the server (see above); `what` names it in the message.
Status CheckServerUrl(std::string_view url, bool allow_plain_http, std::string_view what);

struct Directory {
  std::string new_nonce;
  std::string new_account;
  std::string new_order;
  std::string revoke_cert;
  std::string key_change;
  std::string renewal_info;  // ARI (RFC 9773); empty when the CA does not offer it
  // meta
  std::string terms_of_service;
  bool external_account_required = false;
  std::map<std::string, std::string> profiles;  // name -> description (draft-aaron-acme-profiles)
};
Result<Directory> ParseDirectory(std::string_view body, bool allow_plain_http);

struct Account {
  std::string url;     // the "kid" for later requests (Location of newAccount)
  std::string status;  // "valid", "deactivated", "revoked"
  std::vector<std::string> contact;
  std::string orders;
};
Result<Account> ParseAccount(std::string_view body, std::string url, bool allow_plain_http);

struct Identifier {
  std::string type = "dns";
  std::string value;
  bool operator==(const Identifier&) const = default;
};

struct Order {
  std::string url;
  std::string status;  // "pending", "ready", "processing", "valid", "invalid"
  std::vector<Identifier> identifiers;
  std::vector<std::string> authorizations;
  std::string finalize;
  std::string certificate;  // set once valid
  std::string profile;
  std::string replaces;
  std::optional<Problem> error;
};
Result<Order> ParseOrder(std::string_view body, std::string url, bool allow_plain_http);

struct Challenge {
  std::string type;  // "dns-01", "http-01", "tls-alpn-01", ...
  std::string url;
  std::string status;  // "pending", "processing", "valid", "invalid"
  std::string token;   // checked with IsValidToken
  std::optional<Problem> error;
};

struct Authorization {
  std::string url;
  std::string status;  // "pending", "valid", "invalid", "deactivated", "expired", "revoked"
  Identifier identifier;
  bool wildcard = false;
  std::vector<Challenge> challenges;

  // The first challenge of `type`, or nullptr.
  const Challenge* Find(std::string_view type) const;
};
Result<Authorization> ParseAuthorization(std::string_view body, std::string url,
                                         bool allow_plain_http);
Result<Challenge> ParseChallenge(std::string_view body, bool allow_plain_http);

}  // namespace certfleet::acme
