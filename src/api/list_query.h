// The query string of list endpoints (docs/api.md "Pagination"): every parameter is known or the
// request is refused, `limit` is bounded, and the `cursor` is opaque to clients. A listing is
// never cut silently: a page that is not the last carries `next_cursor`.
// Pure functions; thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "base/error.h"
#include "net/http.h"

namespace certfleet::api {

inline constexpr size_t kDefaultPageLimit = 100;
inline constexpr size_t kMaxPageLimit = 1000;

// A request's query parameters, percent-decoded, in the order sent.
class ListQuery {
 public:
  // InvalidArgument for a badly escaped name or value, or a parameter that is not in `known`
  // (the message names it).
  static Result<ListQuery> Parse(const net::HttpRequest& request,
                                 std::initializer_list<std::string_view> known);

  // The value of a parameter that may appear once; InvalidArgument naming it if repeated.
  Result<std::optional<std::string>> One(std::string_view name) const;
  // Every value of a repeatable parameter, in order.
  std::vector<std::string> All(std::string_view name) const;
  // `limit`: kDefaultPageLimit when absent; InvalidArgument unless a number from 1 to
  // kMaxPageLimit.
  Result<size_t> Limit() const;
  bool Has(std::string_view name) const;

 private:
  std::vector<std::pair<std::string, std::string>> params_;
};

// Where the next page starts: the last row's sort key and id, under the order they came in.
struct PageCursor {
  std::string sort;  // the order's name, such as "created_at"
  int64_t key = 0;   // that row's sort key (seconds)
  std::string id;
};

// Opaque to clients: unpadded base64url of a versioned text form.
std::string EncodeCursor(const PageCursor& cursor);
// InvalidArgument "invalid cursor" for anything EncodeCursor did not make.
Result<PageCursor> DecodeCursor(std::string_view text);

// ---- Parameters the listings share.

// An RFC 3339 time; InvalidArgument naming the parameter.
Result<std::optional<TimePoint>> QueryTime(const ListQuery& q, std::string_view name);
// Every `tag` given as key:value (or key=value); InvalidArgument for an empty key.
Result<std::vector<std::pair<std::string, std::string>>> QueryTags(const ListQuery& q);
// A single-value parameter that must be one of `allowed`; InvalidArgument listing them.
Result<std::optional<std::string>> QueryChoice(const ListQuery& q, std::string_view name,
                                               std::initializer_list<std::string_view> allowed);
// A single-value parameter that, when given, must not be empty or longer than `max`.
Result<std::optional<std::string>> QueryText(const ListQuery& q, std::string_view name,
                                             size_t max = 256);

// ---- Pages.

// The paging of one request to a listing that is not the certificates' (whose cursors name
// their sort): the page size, and the row to resume after.
struct PageRequest {
  std::string listing;  // the cursor's name for the listing, such as "agents"
  size_t limit = kDefaultPageLimit;
  std::optional<PageCursor> after;  // absent on the first page
  // Rows to fetch: one more than shown says whether another page follows.
  size_t fetch() const { return limit + 1; }
  std::string after_id() const { return after ? after->id : std::string(); }
  int64_t after_key() const { return after ? after->key : 0; }
};

// `limit` and `cursor`. A cursor another listing handed out is refused: "invalid cursor".
Result<PageRequest> ParsePage(const ListQuery& q, std::string_view listing);

// Where a row sits in its listing's order: (key, id) ascending, key 0 for listings by id alone.
struct RowKey {
  int64_t key = 0;
  std::string id;
};
inline constexpr auto kById = [](const auto& row) { return RowKey{0, row.id}; };

// {"items": [...], "next_cursor": ...} for rows fetched with page.fetch(): at most page.limit
// items, and a cursor after the last of them only when a row beyond it was fetched.
template <typename T, typename ToJson, typename KeyOf>
nlohmann::json PageJson(const std::vector<T>& rows, const PageRequest& page, ToJson&& to_json,
                        KeyOf&& key_of) {
  nlohmann::json items = nlohmann::json::array();
  const size_t n = std::min(rows.size(), page.limit);
  for (size_t i = 0; i < n; ++i) items.push_back(to_json(rows[i]));
  nlohmann::json next = nullptr;
  if (rows.size() > n && n > 0) {
    RowKey k = key_of(rows[n - 1]);
    next = EncodeCursor({.sort = page.listing, .key = k.key, .id = std::move(k.id)});
  }
  return {{"items", std::move(items)}, {"next_cursor", std::move(next)}};
}

// For tables bounded by configuration size (accounts, principals, tokens, grants, domain claims,
// webhooks, issuers, solvers, enrollment tokens, inventory rows; docs/api.md "Pagination"): the
// rows after the request's cursor in (key, id) order, page.fetch() of them at most, for PageJson.
template <typename T, typename KeyOf>
std::vector<T> PageInMemory(std::vector<T> rows, const PageRequest& page, KeyOf&& key_of) {
  auto less = [&](const T& a, const T& b) {
    RowKey x = key_of(a), y = key_of(b);
    return std::tie(x.key, x.id) < std::tie(y.key, y.id);
  };
  std::stable_sort(rows.begin(), rows.end(), less);
  auto first = rows.begin();
  if (page.after) {
    first = std::find_if(rows.begin(), rows.end(), [&](const T& r) {
      RowKey k = key_of(r);
      return std::tie(k.key, k.id) > std::tie(page.after->key, page.after->id);
    });
  }
  const size_t n = std::min(page.fetch(), static_cast<size_t>(rows.end() - first));
  return std::vector<T>(std::make_move_iterator(first), std::make_move_iterator(first + n));
}

}  // namespace certfleet::api
