// Chain verification and PEM chains.
#include <openssl/x509_vfy.h>

#include "base/time_util.h"
#include "x509/certificate.h"
#include "x509/certificate_internal.h"
#include "x509/ossl.h"

namespace certfleet::x509 {

Status VerifyChain(const Certificate& leaf, const std::vector<Certificate>& intermediates,
                   const std::vector<Certificate>& roots, TimePoint at, Purpose purpose) {
  using internal::OsslError;
  internal::X509StorePtr store(X509_STORE_new());
  internal::X509StackPtr untrusted(sk_X509_new_null());
  internal::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !untrusted || !ctx) return OsslError(ErrorCode::kInternal, "X509_STORE setup");
  // Verification needs every key decoded (certificate_internal.h); `keep` owns the X509s the
  // borrowed stack and the context point to until verification is over.
  std::vector<std::shared_ptr<X509>> keep;
  for (const Certificate& root : roots) {
    keep.push_back(X509WithKey(root));
    // X509_STORE_add_cert takes its own reference.
    if (X509_STORE_add_cert(store.get(), keep.back().get()) != 1) {
      return OsslError(ErrorCode::kInternal, "X509_STORE_add_cert");
    }
  }
  for (const Certificate& c : intermediates) {
    keep.push_back(X509WithKey(c));
    if (sk_X509_push(untrusted.get(), keep.back().get()) <= 0) {
      return OsslError(ErrorCode::kInternal, "sk_X509_push");
    }
  }
  keep.push_back(X509WithKey(leaf));
  if (X509_STORE_CTX_init(ctx.get(), store.get(), keep.back().get(), untrusted.get()) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_STORE_CTX_init");
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  // Sets X509_V_FLAG_USE_CHECK_TIME: validity is judged at `at`, not at the wall clock.
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(ToUnixSeconds(at)));
  // Default flags, as TLS peers verify: X509_V_FLAG_X509_STRICT would reject some deployed
  // third-party chains that this function must accept (e.g. CA certificates without SKID).
  int ossl_purpose = purpose == Purpose::kServerAuth   ? X509_PURPOSE_SSL_SERVER
                     : purpose == Purpose::kClientAuth ? X509_PURPOSE_SSL_CLIENT
                                                       : 0;
  if (ossl_purpose != 0 && X509_STORE_CTX_set_purpose(ctx.get(), ossl_purpose) != 1) {
    return OsslError(ErrorCode::kInternal, "X509_STORE_CTX_set_purpose");
  }
  int rc = X509_verify_cert(ctx.get());
  if (rc == 1) return Ok();
  int err = X509_STORE_CTX_get_error(ctx.get());
  int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  internal::ClearOsslErrors();
  if (rc < 0 || err == X509_V_OK) {
    return Internal("certificate verification could not run");
  }
  return Forbidden(std::string(X509_verify_cert_error_string(err)) + " (at depth " +
                   std::to_string(depth) + ")");
}

std::string ChainToPem(const std::vector<Certificate>& certs) {
  std::string out;
  for (const Certificate& c : certs) out += c.ToPem();
  return out;
}

}  // namespace certfleet::x509
