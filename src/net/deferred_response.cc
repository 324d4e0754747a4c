// DeferredResponse: a one-shot hand-over of an HttpResponse between the thread that completes a
// long-poll request and the server, which attaches its continuation when the handler returns.
// Whichever of Complete and Attach comes second delivers; the mutex only orders the two, and
// `deliver` always runs outside it so that it may take other locks (the server's).
#include <utility>

#include "base/check.h"
#include "net/http.h"
#include "net/internal.h"
#include "net/problem.h"

namespace certfleet::net {

DeferredResponse::~DeferredResponse() {
  // Nobody else can reach this object any more, so no lock. Attached and never completed: the
  // request is waiting on us, and a 503 beats a request that hangs until the client gives up.
  if (deliver_) {
    deliver_(
        EncodeProblem(ErrorCode::kUnavailable, "the request was abandoned before it was answered"));
  }
  if (early_) internal::WipeString(early_->body);  // completed, but never returned to the server
}

bool DeferredResponse::Complete(HttpResponse response) {
  // A response that names a DeferredResponse (perhaps this one) would otherwise keep it alive.
  response.deferred.reset();
  std::function<void(HttpResponse)> deliver;
  {
    std::lock_guard lock(mu_);
    if (completed_) {
      internal::WipeString(response.body);
      return false;
    }
    completed_ = true;
    if (!deliver_) {
      early_ = std::move(response);  // the handler has not returned yet; Attach delivers
      return true;
    }
    deliver = std::move(deliver_);
    deliver_ = nullptr;
  }
  deliver(std::move(response));
  return true;
}

bool DeferredResponse::completed() const {
  std::lock_guard lock(mu_);
  return completed_;
}

bool DeferredResponse::Attach(std::function<void(HttpResponse)> deliver) {
  CF_CHECK(deliver);
  std::optional<HttpResponse> early;
  {
    std::lock_guard lock(mu_);
    if (attached_) return false;
    attached_ = true;
    if (!early_) {
      deliver_ = std::move(deliver);
      return true;
    }
    early.swap(early_);
  }
  deliver(std::move(*early));
  return true;
}

std::shared_ptr<DeferredResponse> MakeDeferred() { return std::make_shared<DeferredResponse>(); }

}  // namespace certfleet::net
