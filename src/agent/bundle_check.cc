#include "agent/bundle_check.h"

namespace certfleet::agent {
namespace {

size_t CountOccurrences(std::string_view s, std::string_view needle) {
  size_t n = 0;
  for (size_t pos = s.find(needle); pos != std::string_view::npos;
       pos = s.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

}  // namespace

Result<CheckedBundle> CheckBundle(const BundleInput& input,
                                  const std::vector<x509::Certificate>& roots, TimePoint now) {
  CF_ASSIGN_OR_RETURN(std::vector<x509::Certificate> certs,
                      x509::Certificate::ParsePemChain(input.fullchain_pem));
  if (certs.empty()) return Malformed("fullchain holds no certificate");
  // A second key hidden in the same file would be installed alongside the one we checked.
  const std::string_view key_pem = input.key_pem.view();
  if (CountOccurrences(key_pem, "-----BEGIN ") != 1 ||
      CountOccurrences(key_pem, "-----END ") != 1) {
    return Malformed("key PEM must hold exactly one key");
  }
  const bool encrypted = key_pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string::npos;
  if (encrypted && !input.passphrase) return InvalidArgument("encrypted key without passphrase");
  Result<crypto::PrivateKey> key =
      encrypted ? crypto::PrivateKey::FromEncryptedPem(key_pem, *input.passphrase)
                : crypto::PrivateKey::FromPem(input.key_pem);
  if (!key.ok()) return std::move(key).error();

  x509::Certificate leaf = certs.front();
  if (leaf.is_ca()) return InvalidArgument("the first certificate of the fullchain is a CA");
  if (!leaf.MatchesKey(*key)) {
    return InvalidArgument("the private key does not match the leaf certificate");
  }
  if (now < leaf.not_before()) return Forbidden("the leaf certificate is not yet valid");
  if (now > leaf.not_after()) return Forbidden("the leaf certificate has expired");
  std::vector<x509::Certificate> chain(certs.begin() + 1, certs.end());
  CF_TRY(x509::VerifyChain(leaf, chain, roots, now, x509::Purpose::kServerAuth));
  return CheckedBundle{std::move(leaf), std::move(chain), std::move(*key)};
}

}  // namespace certfleet::agent
