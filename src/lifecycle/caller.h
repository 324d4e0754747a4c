// The authenticated caller of a lifecycle operation, as established by the API layer.
#pragma once

#include <string>

#include "model/model.h"

namespace certfleet::lifecycle {

struct Caller {
  std::string principal_id;
  std::string account_id;
  model::Role role = model::Role::kOperator;
  model::Tags tags;
  std::string source_address;
};

}  // namespace certfleet::lifecycle
