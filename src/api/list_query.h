// The query string of list endpoints (docs/api.md "Pagination"): every parameter is known or the
// request is refused, `limit` is bounded, and the `cursor` is opaque to clients. A listing is
// never cut silently: a page that is not the last carries `next_cursor`.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

}  // namespace certfleet::api
