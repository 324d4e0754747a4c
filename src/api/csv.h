// CSV export (RFC 4180) for inventory listings such as GET /v1/certificates?format=csv.
// Cells that a spreadsheet would run as a formula (starting with = + - @, tab or carriage
// return) get a leading single quote (OWASP "CSV Injection"). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace certfleet::api {

// One cell: neutralized against formulas, then quoted with doubled quotes when it holds a comma,
// a quote, CR or LF, or starts or ends with a space.
std::string CsvCell(std::string_view value);
// One record: the cells joined by commas and ended by CRLF (RFC 4180 section 2).
std::string CsvRow(const std::vector<std::string>& cells);

}  // namespace certfleet::api
