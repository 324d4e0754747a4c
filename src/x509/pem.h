// PEM framing (RFC 7468) for the x509 sources. Internal to src/x509. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "base/error.h"

namespace certfleet::x509::internal {

// Decodes every PEM block in `pem`, in order; text between blocks is ignored (RFC 7468
// section 2). Every block's label must be one of `labels`; any other label is Malformed and
// names the label only. The payload of a rejected block, which may be a private key, is wiped
// before it is freed.
Result<std::vector<std::string>> ReadPemBlocks(std::string_view pem,
                                               std::initializer_list<std::string_view> labels);
// One block with 64-column base64 lines.
std::string WritePem(std::string_view label, std::string_view der);

}  // namespace certfleet::x509::internal
