#include "output.h"

#include <algorithm>

namespace certfleet::cli {

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(headers_.size());
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(headers_.size(), 0);
  for (size_t i = 0; i < headers_.size(); ++i) widths[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_row = [&](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out << line << '\n';
  };
  print_row(headers_);
  for (const auto& row : rows_) print_row(row);
}

void PrintKeyValues(std::ostream& out,
                    const std::vector<std::pair<std::string, std::string>>& lines) {
  size_t width = 0;
  for (const auto& [key, value] : lines) width = std::max(width, key.size());
  for (const auto& [key, value] : lines) {
    out << key << ':' << std::string(width - key.size() + 1, ' ') << value << '\n';
  }
}

std::string SanitizeForTerminal(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

std::string SanitizeText(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\n' && c != '\t') || u == 0x7f) c = '?';
  }
  return out;
}

std::string Cell(const nlohmann::json& value) {
  switch (value.type()) {
    case nlohmann::json::value_t::null:
    case nlohmann::json::value_t::discarded:
      return "-";
    case nlohmann::json::value_t::string:
      return SanitizeForTerminal(value.get<std::string>());
    case nlohmann::json::value_t::boolean:
      return value.get<bool>() ? "yes" : "no";
    case nlohmann::json::value_t::array: {
      std::string joined;
      for (const auto& item : value) {
        if (!joined.empty()) joined += ", ";
        joined += Cell(item);
      }
      return joined.empty() ? "-" : joined;
    }
    case nlohmann::json::value_t::object: {
      std::string joined;
      for (const auto& [k, v] : value.items()) {
        if (!joined.empty()) joined += ", ";
        joined += SanitizeForTerminal(k) + "=" + Cell(v);
      }
      return joined.empty() ? "-" : joined;
    }
    default:
      return SanitizeForTerminal(value.dump());
  }
}

std::string Field(const nlohmann::json& object, std::string_view key) {
  if (!object.is_object()) return "-";
  auto it = object.find(key);
  return it == object.end() ? "-" : Cell(*it);
}

void PrintItems(std::ostream& out, const nlohmann::json& items,
                const std::vector<Column>& columns) {
  std::vector<std::string> headers;
  for (const Column& c : columns) headers.emplace_back(c.label);
  Table table(std::move(headers));
  if (items.is_array()) {
    for (const auto& item : items) {
      std::vector<std::string> cells;
      for (const Column& c : columns) cells.push_back(Field(item, c.field));
      table.AddRow(std::move(cells));
    }
  }
  table.Print(out);
}

void PrintFields(std::ostream& out, const nlohmann::json& object,
                 const std::vector<Column>& fields) {
  std::vector<std::pair<std::string, std::string>> lines;
  for (const Column& c : fields) lines.emplace_back(std::string(c.label), Field(object, c.field));
  PrintKeyValues(out, lines);
}

void PrintJson(std::ostream& out, const nlohmann::json& value) {
  // Replace invalid UTF-8 rather than throwing on a hostile or broken response.
  out << value.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

}  // namespace certfleet::cli
