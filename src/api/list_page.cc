#include "api/list_page.h"

namespace certfleet::api {

Result<ListRequest> ParseListRequest(ApiDeps& deps, const RequestContext& ctx,
                                     std::string_view listing,
                                     std::initializer_list<std::string_view> known,
                                     policy::Action action) {
  ListRequest out;
  CF_ASSIGN_OR_RETURN(out.query, ListQuery::Parse(ctx.request, known));
  CF_ASSIGN_OR_RETURN(out.page, ParsePage(out.query, listing));
  CF_ASSIGN_OR_RETURN(auto account_key, out.query.One("account"));
  CF_ASSIGN_OR_RETURN(out.account, TargetAccount(deps, ctx, account_key, action));
  return out;
}

}  // namespace certfleet::api
