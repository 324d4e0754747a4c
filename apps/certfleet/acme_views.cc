#include "acme_views.h"

#include "args.h"
#include "output.h"

namespace certfleet::cli {
namespace {

// Rules come back as [{"solver": "dns", "domain_suffix": "example.com"}, ...].
std::string RulesCell(const nlohmann::json& rules) {
  std::string out;
  for (const auto& r : rules) {
    if (!out.empty()) out += ", ";
    if (!r.is_object()) {
      out += Cell(r);
      continue;
    }
    out += Field(r, "solver");
    const auto suffix = r.find("domain_suffix");
    if (suffix != r.end() && suffix->is_string() &&
        !suffix->get_ref<const std::string&>().empty()) {
      out += ":" + SanitizeForTerminal(suffix->get_ref<const std::string&>());
    }
  }
  return out.empty() ? "-" : out;
}

std::string ConfigValueCell(std::string_view key, const nlohmann::json& value) {
  if (key == "solvers" && value.is_array()) return RulesCell(value);
  if (key == "selector" && value.is_object()) {  // agent-http01: the serving agents' tags
    std::string out;
    for (const auto& [k, v] : value.items()) {
      if (!out.empty()) out += ",";
      out += SanitizeForTerminal(k) + "=" +
             (v.is_string() ? SanitizeForTerminal(v.get<std::string>()) : Cell(v));
    }
    return out.empty() ? "-" : out;
  }
  if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    if (s.empty()) return "-";
    // A trust bundle: its size says enough; the PEM itself is in --json.
    if (s.find('\n') != std::string::npos) return std::to_string(s.size()) + " bytes";
  }
  return Cell(value);
}

std::string Label(std::string_view key) {
  std::string label(key);
  for (char& c : label) {
    if (c == '_') c = ' ';
  }
  return SanitizeForTerminal(label);
}

}  // namespace

SecretBytes JsonWithSecretMember(const nlohmann::json& rest, std::string_view key,
                                 const SecretBytes& secret) {
  // ExportBodyWithPassphrase gives {"passphrase":"<escaped>"}; keep its escaped string.
  const SecretBytes one = ExportBodyWithPassphrase(secret);
  const std::string_view value = one.view().substr(std::string_view("{\"passphrase\":").size());
  std::string head = rest.is_object() ? rest.dump() : std::string("{}");
  head.pop_back();  // the closing '}'
  SecretBytes body;
  body.Append(head);
  if (head.size() > 1) body.Append(",");
  body.Append(nlohmann::json(std::string(key)).dump());
  body.Append(":");
  body.Append(value);  // ends with the closing '}'
  return body;
}

std::vector<std::pair<std::string, std::string>> AcmeViewLines(const nlohmann::json& view) {
  std::vector<std::pair<std::string, std::string>> lines = {
      {"id", Field(view, "id")},     {"account", Field(view, "account_id")},
      {"kind", Field(view, "kind")}, {"name", Field(view, "name")},
      {"type", Field(view, "type")},
  };
  const auto config = view.find("config");
  if (config != view.end() && config->is_object()) {
    for (const auto& [key, value] : config->items()) {
      lines.emplace_back(Label(key), ConfigValueCell(key, value));
    }
  }
  if (Field(view, "kind") == "issuer") lines.emplace_back("has eab", Field(view, "has_eab"));
  lines.emplace_back("created by", Field(view, "created_by"));
  lines.emplace_back("created at", Field(view, "created_at"));
  lines.emplace_back("updated at", Field(view, "updated_at"));
  return lines;
}

std::string ConfigCell(const nlohmann::json& view, std::string_view key) {
  const auto config = view.find("config");
  if (config == view.end() || !config->is_object()) return "-";
  const auto value = config->find(std::string(key));
  if (value == config->end()) return "-";
  return ConfigValueCell(key, *value);
}

Result<IssuanceState> IssuanceStateOf(const nlohmann::json& certificate) {
  const auto status = certificate.is_object() ? certificate.find("status") : certificate.end();
  if (!certificate.is_object() || status == certificate.end() || !status->is_string()) {
    return Malformed("the server's certificate has no \"status\"");
  }
  const std::string& s = status->get_ref<const std::string&>();
  if (s == "pending") return IssuanceState::kPending;
  if (s == "failed") return IssuanceState::kFailed;
  return IssuanceState::kDone;
}

}  // namespace certfleet::cli
