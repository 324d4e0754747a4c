#include "api/list_query.h"

#include <algorithm>
#include <charconv>

#include "base/encoding.h"
#include "base/time_util.h"

namespace certfleet::api {
namespace {

constexpr std::string_view kCursorVersion = "c1";

Error BadCursor() {
  return InvalidArgument(
      "invalid cursor: pass the next_cursor of the previous page unchanged, with the same sort");
}

bool ParseInt(std::string_view text, int64_t& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && p == text.data() + text.size() && !text.empty();
}

}  // namespace

Result<ListQuery> ListQuery::Parse(const net::HttpRequest& request,
                                   std::initializer_list<std::string_view> known) {
  ListQuery q;
  std::string_view t = request.target;
  const size_t mark = t.find('?');
  if (mark == std::string_view::npos) return q;
  std::string_view rest = t.substr(mark + 1);
  rest = rest.substr(0, rest.find('#'));
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto name = net::UrlDecode(pair.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::optional<std::string>(std::string())
                                              : net::UrlDecode(pair.substr(eq + 1));
    if (!name || !value) return InvalidArgument("badly escaped query parameter");
    if (std::find(known.begin(), known.end(), *name) == known.end()) {
      std::string names;
      for (std::string_view k : known) names += (names.empty() ? "" : ", ") + std::string(k);
      return InvalidArgument("unknown query parameter \"" + name->substr(0, 64) +
                             "\" (known: " + names + ")");
    }
    q.params_.emplace_back(std::move(*name), std::move(*value));
  }
  return q;
}

Result<std::optional<std::string>> ListQuery::One(std::string_view name) const {
  std::optional<std::string> found;
  for (const auto& [n, v] : params_) {
    if (n != name) continue;
    if (found) return InvalidArgument("query parameter \"" + n + "\" given more than once");
    found = v;
  }
  return found;
}

std::vector<std::string> ListQuery::All(std::string_view name) const {
  std::vector<std::string> out;
  for (const auto& [n, v] : params_) {
    if (n == name) out.push_back(v);
  }
  return out;
}

bool ListQuery::Has(std::string_view name) const {
  return std::any_of(params_.begin(), params_.end(),
                     [&](const auto& p) { return p.first == name; });
}

Result<size_t> ListQuery::Limit() const {
  CF_ASSIGN_OR_RETURN(auto text, One("limit"));
  if (!text) return kDefaultPageLimit;
  int64_t n = 0;
  if (!ParseInt(*text, n) || n < 1 || n > static_cast<int64_t>(kMaxPageLimit)) {
    return InvalidArgument("query parameter \"limit\" must be a number from 1 to " +
                           std::to_string(kMaxPageLimit));
  }
  return static_cast<size_t>(n);
}

std::string EncodeCursor(const PageCursor& cursor) {
  return Base64UrlEncode(std::string(kCursorVersion) + "|" + cursor.sort + "|" +
                         std::to_string(cursor.key) + "|" + cursor.id);
}

Result<PageCursor> DecodeCursor(std::string_view text) {
  if (text.empty() || text.size() > 512 || !IsBase64Url(text)) return BadCursor();
  auto raw = Base64UrlDecode(text);
  if (!raw.ok()) return BadCursor();
  std::vector<std::string_view> parts;
  std::string_view rest = *raw;
  for (size_t bar; (bar = rest.find('|')) != std::string_view::npos;) {
    parts.push_back(rest.substr(0, bar));
    rest = rest.substr(bar + 1);
  }
  parts.push_back(rest);
  if (parts.size() != 4 || parts[0] != kCursorVersion || parts[1].empty() || parts[3].empty()) {
    return BadCursor();
  }
  PageCursor c{.sort = std::string(parts[1]), .key = 0, .id = std::string(parts[3])};
  if (!ParseInt(parts[2], c.key)) return BadCursor();
  // Ids are printable ASCII without spaces; anything else did not come from us.
  for (char ch : c.id) {
    if (ch <= ' ' || ch > '~') return BadCursor();
  }
  return c;
}

Result<std::optional<TimePoint>> QueryTime(const ListQuery& q, std::string_view name) {
  CF_ASSIGN_OR_RETURN(auto text, q.One(name));
  if (!text) return std::optional<TimePoint>();
  auto t = ParseRfc3339(*text);
  if (!t.ok()) {
    return InvalidArgument("query parameter \"" + std::string(name) +
                           "\" must be an RFC 3339 time such as 2026-01-01T00:00:00Z");
  }
  return std::optional<TimePoint>(*t);
}

Result<std::vector<std::pair<std::string, std::string>>> QueryTags(const ListQuery& q) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const std::string& tag : q.All("tag")) {
    // key:value (the documented form) or key=value; the key may not be empty.
    const size_t sep = tag.find_first_of(":=");
    if (sep == std::string::npos || sep == 0) {
      return InvalidArgument("query parameter \"tag\" must be key:value, such as env:prod");
    }
    out.emplace_back(tag.substr(0, sep), tag.substr(sep + 1));
  }
  return out;
}

Result<std::optional<std::string>> QueryChoice(const ListQuery& q, std::string_view name,
                                               std::initializer_list<std::string_view> allowed) {
  CF_ASSIGN_OR_RETURN(auto text, q.One(name));
  if (!text || std::find(allowed.begin(), allowed.end(), *text) != allowed.end()) return text;
  std::string names;
  for (std::string_view a : allowed) names += (names.empty() ? "" : ", ") + std::string(a);
  return InvalidArgument("query parameter \"" + std::string(name) + "\" must be one of " + names);
}

Result<std::optional<std::string>> QueryText(const ListQuery& q, std::string_view name,
                                             size_t max) {
  CF_ASSIGN_OR_RETURN(auto text, q.One(name));
  if (text && (text->empty() || text->size() > max)) {
    return InvalidArgument("query parameter \"" + std::string(name) + "\" must be 1 to " +
                           std::to_string(max) + " characters");
  }
  return text;
}

Result<PageRequest> ParsePage(const ListQuery& q, std::string_view listing) {
  PageRequest page;
  page.listing = std::string(listing);
  CF_ASSIGN_OR_RETURN(page.limit, q.Limit());
  CF_ASSIGN_OR_RETURN(auto text, q.One("cursor"));
  if (text) {
    CF_ASSIGN_OR_RETURN(PageCursor cursor, DecodeCursor(*text));
    if (cursor.sort != listing) {
      return InvalidArgument("invalid cursor: it continues another listing, not " +
                             std::string(listing));
    }
    page.after = std::move(cursor);
  }
  return page;
}

}  // namespace certfleet::api
