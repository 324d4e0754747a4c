// Route-side helpers of the listings (docs/api.md "Pagination"), for the route files: the query,
// the page and the account of a list, and the page of a table bounded by configuration size.
// Stateless; thread-safe.
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>
#include <vector>

#include "api/api_service.h"
#include "api/list_query.h"

namespace certfleet::api {

// A list request's parsed query, its page, and the account it reads.
struct ListRequest {
  ListQuery query;
  PageRequest page;
  model::Account account;
};

// Refuses any parameter not in `known` and a bad limit or cursor (400 naming it) before anything
// is read, then resolves ?account= (id or name) where the caller may `action` on it, else the
// caller's own account (TargetAccount: a foreign account answers 404).
Result<ListRequest> ParseListRequest(ApiDeps& deps, const RequestContext& ctx,
                                     std::string_view listing,
                                     std::initializer_list<std::string_view> known,
                                     policy::Action action);

// 200 with the page of `rows` (a table bounded by configuration size) after the request's
// cursor, in id order.
template <typename T, typename ToJson>
net::HttpResponse SmallPage(std::vector<T> rows, const PageRequest& page, ToJson&& to_json) {
  return JsonResponse(200, PageJson(PageInMemory(std::move(rows), page, kById), page,
                                    std::forward<ToJson>(to_json), kById));
}

}  // namespace certfleet::api
