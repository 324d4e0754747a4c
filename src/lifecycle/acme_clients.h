// ACME clients for configured issuers (issue #6): the one place that turns an issuer's stored
// configuration and sealed account key into an acme::Client.
#pragma once

#include <memory>

#include <nlohmann/json.hpp>

#include "acme/client/client.h"
#include "base/clock.h"
#include "base/error.h"
#include "crypto/key.h"
#include "lifecycle/acme_config_service.h"
#include "secrets/secret_store.h"
#include "store/store.h"

namespace certfleet::lifecycle {

// A client for the directory in `config` (an issuer's config_json), signing with `key`. Fetches
// the directory: Unavailable/InvalidArgument errors name the directory URL. Every connection it
// makes is checked with `address_allowed` (the account's outbound filter, AccountAddressFilter;
// empty: none); a refusal is the generic net::PrivateDestinationRefused.
Result<std::unique_ptr<acme::Client>> NewAcmeClient(const nlohmann::json& config,
                                                    std::shared_ptr<const crypto::PrivateKey> key,
                                                    const Clock& clock,
                                                    const AcmeConfigOptions& options,
                                                    net::AddressFilter address_allowed);

// The client of a stored issuer, with its account URL set (no request to the CA beyond the
// directory), checked against the issuer's account's outbound filter. Opens the sealed account key
// in a short transaction of its own, before any network call.
Result<std::unique_ptr<acme::Client>> OpenIssuerClient(store::Store& store,
                                                       secrets::SecretStore& secrets,
                                                       const store::AcmeConfig& issuer,
                                                       const Clock& clock,
                                                       const AcmeConfigOptions& options);

}  // namespace certfleet::lifecycle
