// Human-readable output for the CLI: aligned tables for lists, "key: value" lines for single
// resources, and rendering of JSON values as table cells. Everything printed here may come from
// the server, so cells are sanitized (control characters replaced) before they reach a terminal.
// Pure functions over streams; thread-compatible.
#pragma once

#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace certfleet::cli {

// A table with a header row. Columns are separated by two spaces and padded to the widest cell;
// the last column is not padded, so lines carry no trailing blanks.
class Table {
 public:
  explicit Table(std::vector<std::string> headers);
  // Missing cells are printed empty; extra cells are a caller bug and are dropped.
  void AddRow(std::vector<std::string> cells);
  void Print(std::ostream& out) const;
  size_t rows() const { return rows_.size(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// Prints "key: value" lines with the values aligned after the longest key.
void PrintKeyValues(std::ostream& out,
                    const std::vector<std::pair<std::string, std::string>>& lines);

// One JSON value as a cell: null/missing -> "-", strings as is, booleans "yes"/"no", arrays
// joined with ", ", objects as "k=v" joined with ", ". Sanitized.
std::string Cell(const nlohmann::json& value);
// The member `key` of `object` as a cell ("-" when absent).
std::string Field(const nlohmann::json& object, std::string_view key);

// One column of a list table (or one line of a "key: value" block): the label and the API field.
struct Column {
  std::string_view label;
  std::string_view field;
};

// A table with one row per element of the JSON array `items` (cells rendered by Field) and one
// column per entry of `columns`, headed by the labels.
void PrintItems(std::ostream& out, const nlohmann::json& items, const std::vector<Column>& columns);

// "label: value" lines for the listed fields of one JSON object, in the order given.
void PrintFields(std::ostream& out, const nlohmann::json& object,
                 const std::vector<Column>& fields);

// Pretty-printed JSON (2-space indent) and a newline, for --json.
void PrintJson(std::ostream& out, const nlohmann::json& value);

// Replaces bytes below 0x20 and DEL with '?', so server-controlled strings cannot emit terminal
// escape sequences.
std::string SanitizeForTerminal(std::string_view s);
// The same, but line feeds and tabs are kept: for multi-line documents such as a policy's TOML.
std::string SanitizeText(std::string_view s);

}  // namespace certfleet::cli
