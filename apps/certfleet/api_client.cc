#include "api_client.h"

#include <utility>

#include "files.h"
#include "responses.h"

namespace certfleet::cli {
namespace {

// Token files and CA bundles are small; anything larger is a wrong path.
constexpr size_t kMaxTokenBytes = 4096;
constexpr size_t kMaxCaBundleBytes = 1 << 20;
// RSA-4096 key generation happens inside the request on the server; allow for a slow machine.
constexpr std::chrono::milliseconds kRequestTimeout{120000};

// nlohmann::json::dump throws on strings that are not UTF-8 (a policy file in Latin-1, say);
// report that as bad input instead of letting the exception escape.
Result<std::string> Serialize(const nlohmann::json& body) {
  try {
    return body.dump();
  } catch (const nlohmann::json::exception&) {
    return InvalidArgument("the request contains text that is not valid UTF-8");
  }
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

std::string PathSegment(std::string_view id) { return net::UrlEncode(id); }

void WipeStringMember(nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return;
  auto it = object.find(key);
  if (it == object.end()) return;
  if (it->is_string()) {
    auto& s = it->get_ref<std::string&>();
    SecureWipe(s.data(), s.size());
  }
  object.erase(it);
}

Result<std::unique_ptr<ApiClient>> ApiClient::Create(const GlobalOptions& options) {
  net::ClientOptions client_options;
  client_options.timeout = kRequestTimeout;
  if (!options.ca_file.empty()) {
    auto ca = ReadSmallFile(options.ca_file, kMaxCaBundleBytes);
    if (!ca.ok()) {
      return Error(ca.error().code(), "cannot read CA bundle (--ca): " + ca.error().message());
    }
    client_options.trust_pem = std::move(ca).value();
  }

  auto raw = ReadSmallSecretFile(options.token_file, kMaxTokenBytes);
  if (!raw.ok()) {
    return Error(raw.error().code(), "cannot read token (--token-file): " + raw.error().message());
  }
  std::string_view token = raw->view();
  while (!token.empty() && IsSpace(token.front())) token.remove_prefix(1);
  while (!token.empty() && IsSpace(token.back())) token.remove_suffix(1);
  if (token.empty()) {
    return InvalidArgument("token file " + options.token_file + " is empty");
  }

  std::string server = options.server;
  while (!server.empty() && server.back() == '/') server.pop_back();
  auto url = net::ParseUrl(server + "/");
  if (!url.ok()) {
    return InvalidArgument("bad --server URL " + options.server + ": " + url.error().message());
  }
  if (url->scheme != "https") {
    // Bearer tokens never travel in clear text.
    return InvalidArgument("--server must be an https:// URL");
  }

  auto http = net::HttpsClient::Create(std::move(client_options));
  if (!http.ok()) {
    return Error(http.error().code(), "cannot set up TLS (check --ca " + options.ca_file +
                                          "): " + http.error().message());
  }
  return std::make_unique<ApiClient>(std::move(server), SecretBytes::FromView(token),
                                     std::move(http).value());
}

ApiClient::ApiClient(std::string server, SecretBytes token, std::unique_ptr<net::HttpsClient> http)
    : server_(std::move(server)), token_(std::move(token)), http_(std::move(http)) {}

Result<nlohmann::json> ApiClient::Get(std::string_view path) { return Call("GET", path, ""); }

Result<nlohmann::json> ApiClient::Post(std::string_view path, const nlohmann::json& body) {
  CF_ASSIGN_OR_RETURN(std::string serialized, Serialize(body));
  return Call("POST", path, serialized);
}

Result<nlohmann::json> ApiClient::Put(std::string_view path, const nlohmann::json& body) {
  CF_ASSIGN_OR_RETURN(std::string serialized, Serialize(body));
  return Call("PUT", path, serialized);
}

Result<nlohmann::json> ApiClient::Patch(std::string_view path, const nlohmann::json& body) {
  CF_ASSIGN_OR_RETURN(std::string serialized, Serialize(body));
  return Call("PATCH", path, serialized);
}

Result<nlohmann::json> ApiClient::PostSecret(std::string_view path, const SecretBytes& body) {
  return Call("POST", path, body.view());
}

Result<net::HttpResponse> ApiClient::Send(const std::string& method, std::string_view path,
                                          std::string_view body, std::string_view accept) {
  std::map<std::string, std::string> headers;
  headers["Accept"] = std::string(accept);
  if (method != "GET") headers["Content-Type"] = "application/json";
  std::string authorization = "Bearer ";
  authorization.append(token_.view());
  headers["Authorization"] = std::move(authorization);
  std::string request_body(body);

  auto response = http_->Do(method, server_ + std::string(path), headers, request_body);

  // The header and body copies may hold the token or a passphrase: wipe them before anything else.
  for (auto& [name, value] : headers) SecureWipe(value.data(), value.size());
  SecureWipe(request_body.data(), request_body.size());

  if (!response.ok()) {
    return Error(response.error().code(),
                 "cannot reach " + server_ + ": " + response.error().message());
  }
  if (response->status < 200 || response->status >= 300) return ErrorFromResponse(*response);
  return std::move(*response);
}

Result<std::string> ApiClient::GetText(std::string_view path, std::string_view accept) {
  CF_ASSIGN_OR_RETURN(net::HttpResponse response, Send("GET", path, "", accept));
  return std::move(response.body);
}

Result<nlohmann::json> ApiClient::Call(const std::string& method, std::string_view path,
                                       std::string_view body) {
  CF_ASSIGN_OR_RETURN(net::HttpResponse response, Send(method, path, body, "application/json"));
  if (response.body.empty()) return nlohmann::json();
  auto parsed = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  // The body may carry a token or a secret value; from here on only `parsed` holds it.
  SecureWipe(response.body.data(), response.body.size());
  if (parsed.is_discarded()) {
    return Malformed("the server answered HTTP " + std::to_string(response.status) +
                     " with a body that is not JSON");
  }
  return parsed;
}

}  // namespace certfleet::cli
