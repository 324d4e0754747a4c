#include "lifecycle/issuers/internal_issuer.h"

#include "x509/certificate.h"

namespace certfleet::lifecycle {

Result<IssueOutcome> InternalIssuer::Issue(const IssueInput& in, const std::string&) {
  if (in.key == nullptr) return Internal("internal issuer called without a key");
  ca::LeafRequest req{.profile = in.profile,
                      .dns_names = in.domains,
                      .subject_public_key_der = in.key->public_key().spki_der(),
                      .key_type = in.key->type(),
                      .validity = in.validity};
  CF_ASSIGN_OR_RETURN(ca::IssuedLeaf leaf, ca_.Issue(req));
  IssueOutcome out;
  out.leaf_pem = leaf.leaf.ToPem();
  out.chain_pem = x509::ChainToPem(leaf.chain);
  out.issuer_ref = leaf.ca_id;
  out.detail = "issued by the internal CA";
  out.leaf = std::move(leaf.leaf);
  return out;
}

}  // namespace certfleet::lifecycle
