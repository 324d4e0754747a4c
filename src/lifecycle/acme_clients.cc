#include "lifecycle/acme_clients.h"

#include <thread>

namespace certfleet::lifecycle {

Result<std::unique_ptr<acme::Client>> NewAcmeClient(const nlohmann::json& config,
                                                    std::shared_ptr<const crypto::PrivateKey> key,
                                                    const Clock& clock,
                                                    const AcmeConfigOptions& options,
                                                    net::AddressFilter address_allowed) {
  acme::ClientOptions o;
  o.address_allowed = std::move(address_allowed);
  o.directory_url = config.value("directory_url", "");
  o.trust_pem = config.value("trust_pem", "");
  o.allow_plain_http = options.allow_plain_http;
  o.request_timeout = options.request_timeout;
  // A job step should not hold its lease for long: a CA that takes longer than this is retried
  // by the job (the order is resumed, not re-created).
  o.poll_timeout = std::chrono::seconds(300);
  auto client = acme::Client::Create(
      std::move(o), clock, [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); },
      std::move(key));
  if (!client.ok() && client.error().code() == ErrorCode::kForbidden &&
      client.error().message().find(net::kPrivateNetworkRule) != std::string::npos) {
    return std::move(client).error();  // the one generic refusal (issue #13)
  }
  if (!client.ok()) {
    // The tenant's own directory URL: why it cannot be reached is theirs to read.
    return Error(client.error().code(), "ACME directory " + config.value("directory_url", "") +
                                            ": " + client.error().message())
        .ForClients();
  }
  return std::move(client).value();
}

Result<std::unique_ptr<acme::Client>> OpenIssuerClient(store::Store& store,
                                                       secrets::SecretStore& secrets,
                                                       const store::AcmeConfig& issuer,
                                                       const Clock& clock,
                                                       const AcmeConfigOptions& options) {
  nlohmann::json config = nlohmann::json::parse(issuer.config_json, nullptr, false);
  if (!config.is_object()) return Internal("issuer " + issuer.name + ": stored config is not JSON");
  SecretBytes der;
  net::AddressFilter filter;
  {
    CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
    CF_ASSIGN_OR_RETURN(der, secrets.OpenBlob(*tx, issuer.secret_blob_id));
    // At every use: the configuration may have changed since the issuer was created.
    CF_ASSIGN_OR_RETURN(filter, AccountAddressFilter(*tx, issuer.account_id, options));
  }
  CF_ASSIGN_OR_RETURN(crypto::PrivateKey key, crypto::PrivateKey::FromPkcs8Der(der));
  CF_ASSIGN_OR_RETURN(
      auto client, NewAcmeClient(config, std::make_shared<const crypto::PrivateKey>(std::move(key)),
                                 clock, options, std::move(filter)));
  client->set_account_url(config.value("account_url", ""));
  return client;
}

}  // namespace certfleet::lifecycle
