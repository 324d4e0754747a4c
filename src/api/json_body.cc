#include "api/json_body.h"

#include "base/validate.h"

namespace certfleet::api {

Result<JsonBody> JsonBody::Parse(const std::string& body) {
  if (body.empty()) return JsonBody(nlohmann::json::object());
  // No exceptions: parse with allow_exceptions = false, which yields a "discarded" value.
  nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Malformed("request body is not valid JSON");
  if (!j.is_object()) return Malformed("request body must be a JSON object");
  return JsonBody(std::move(j));
}

Result<std::optional<std::string>> JsonBody::OptString(const std::string& key, size_t max_len) {
  consumed_.insert(key);
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return InvalidArgument("field \"" + key + "\" must be a string");
  const std::string& s = it->get_ref<const std::string&>();
  if (s.size() > max_len) {
    return InvalidArgument("field \"" + key + "\" is longer than " + std::to_string(max_len));
  }
  return std::optional<std::string>(s);
}

Result<std::string> JsonBody::String(const std::string& key, size_t max_len) {
  CF_ASSIGN_OR_RETURN(auto v, OptString(key, max_len));
  if (!v) return InvalidArgument("field \"" + key + "\" is required");
  return std::move(*v);
}

Result<std::optional<SecretBytes>> JsonBody::OptSecret(const std::string& key, size_t max_len) {
  consumed_.insert(key);
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return std::optional<SecretBytes>();
  if (!it->is_string()) return InvalidArgument("field \"" + key + "\" must be a string");
  std::string& s = it->get_ref<std::string&>();
  if (s.size() > max_len) {
    SecureWipe(s.data(), s.size());
    return InvalidArgument("field \"" + key + "\" is longer than " + std::to_string(max_len));
  }
  return std::optional<SecretBytes>(SecretBytes::FromString(std::move(s)));
}

Result<std::optional<bool>> JsonBody::OptBool(const std::string& key) {
  consumed_.insert(key);
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return InvalidArgument("field \"" + key + "\" must be true or false");
  return std::optional<bool>(it->get<bool>());
}

Result<std::optional<int64_t>> JsonBody::OptInt(const std::string& key, int64_t min, int64_t max) {
  consumed_.insert(key);
  auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return std::optional<int64_t>();
  if (!it->is_number_integer()) return InvalidArgument("field \"" + key + "\" must be an integer");
  const bool too_big =
      it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX);
  const int64_t v = too_big ? INT64_MAX : it->get<int64_t>();
  if (too_big || v < min || v > max) {
    return InvalidArgument("field \"" + key + "\" must be between " + std::to_string(min) +
                           " and " + std::to_string(max));
  }
  return std::optional<int64_t>(v);
}

Result<std::optional<std::vector<std::string>>> JsonBody::OptStringArray(const std::string& key,
                                                                         size_t max_items,
                                                                         size_t max_len) {
  consumed_.insert(key);
  auto it = j_.find(key);
  using Out = std::optional<std::vector<std::string>>;
  if (it == j_.end() || it->is_null()) return Out();
  if (!it->is_array()) return InvalidArgument("field \"" + key + "\" must be an array of strings");
  if (it->size() > max_items) {
    return InvalidArgument("field \"" + key + "\" has more than " + std::to_string(max_items) +
                           " items");
  }
  std::vector<std::string> out;
  for (const auto& v : *it) {
    if (!v.is_string()) return InvalidArgument("field \"" + key + "\" must contain only strings");
    if (v.get_ref<const std::string&>().size() > max_len) {
      return InvalidArgument("an item of field \"" + key + "\" is too long");
    }
    out.push_back(v.get<std::string>());
  }
  return Out(std::move(out));
}

Result<std::optional<std::map<std::string, std::string>>> JsonBody::OptStringMap(
    const std::string& key) {
  consumed_.insert(key);
  auto it = j_.find(key);
  using Out = std::optional<std::map<std::string, std::string>>;
  if (it == j_.end() || it->is_null()) return Out();
  if (!it->is_object()) return InvalidArgument("field \"" + key + "\" must be an object");
  std::map<std::string, std::string> out;
  for (auto& [k, v] : it->items()) {
    if (!v.is_string()) {
      return InvalidArgument("field \"" + key + "\" must map names to strings");
    }
    out[k] = v.get<std::string>();
  }
  return Out(std::move(out));
}

Status JsonBody::NoOtherFields() const {
  for (auto it = j_.begin(); it != j_.end(); ++it) {
    if (!consumed_.count(it.key())) {
      return InvalidArgument("unknown field " + QuoteForMessage(it.key()));
    }
  }
  return Ok();
}

}  // namespace certfleet::api
