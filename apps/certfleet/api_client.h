// ApiClient: the CLI's only way to the REST API (docs/api.md). It loads the trust anchors and the
// bearer token named by the global options, sends JSON requests and turns every non-2xx answer
// into an Error (ErrorFromResponse in responses.h: the problem document's code and detail), ready
// for the CLI's one error printer in main.cc.
//
// The token is held in SecretBytes and only copied into the Authorization header for the duration
// of one request; it never appears in messages. The raw response body is wiped once parsed, so a
// secret in a response (a new token, a secret's value) lives only in the returned JSON, which the
// caller wipes with WipeStringMember() when done. Not thread-safe (the CLI is single-threaded).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/secret_bytes.h"
#include "cli.h"
#include "net/https_client.h"

namespace certfleet::cli {

class ApiClient {
 public:
  // Reads the CA bundle and the token file named in `options`. InvalidArgument / NotFound with
  // the file name on failure, or the HttpsClient's error.
  static Result<std::unique_ptr<ApiClient>> Create(const GlobalOptions& options);
  // For tests: an already-built transport and token.
  ApiClient(std::string server, SecretBytes token, std::unique_ptr<net::HttpsClient> http);

  // `path` starts with "/v1/...". On 2xx returns the parsed JSON body (null for an empty body).
  Result<nlohmann::json> Get(std::string_view path);
  // GET of a non-JSON representation (`accept`, such as "text/csv"): the body as it came. Errors
  // as Get.
  Result<std::string> GetText(std::string_view path, std::string_view accept);
  Result<nlohmann::json> Post(std::string_view path, const nlohmann::json& body);
  Result<nlohmann::json> Put(std::string_view path, const nlohmann::json& body);
  Result<nlohmann::json> Patch(std::string_view path, const nlohmann::json& body);
  // Like Post, for a body that carries secret material (e.g. an export passphrase): the serialized
  // body is wiped once the request has been sent.
  Result<nlohmann::json> PostSecret(std::string_view path, const SecretBytes& body);

 private:
  Result<nlohmann::json> Call(const std::string& method, std::string_view path,
                              std::string_view body);
  // Sends the request with the token; a 2xx response, or the error it stands for.
  Result<net::HttpResponse> Send(const std::string& method, std::string_view path,
                                 std::string_view body, std::string_view accept);

  std::string server_;  // without a trailing '/'
  SecretBytes token_;
  std::unique_ptr<net::HttpsClient> http_;
};

// Overwrites the string member `key` of `object` (if it is one) with zeros and erases it: for
// secrets the API returns (tokens, secret values) once they have been printed or written.
void WipeStringMember(nlohmann::json& object, std::string_view key);

// Percent-encodes one path segment (a resource id) for use in a URL path.
std::string PathSegment(std::string_view id);

}  // namespace certfleet::cli
