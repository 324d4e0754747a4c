#include "store/sql/sql_tx.h"

#include <utility>

namespace certfleet::store::sql {

SqlTx::SqlTx(std::unique_ptr<TxLease> lease)
    : lease_(std::move(lease)),
      session_(lease_->conn()),
      accounts_(session_),
      principals_(session_),
      tokens_(session_),
      certificates_(session_),
      versions_(session_),
      blobs_(session_),
      secrets_(session_),
      exports_(session_),
      cas_(session_),
      serials_(session_),
      settings_(session_),
      grants_(session_),
      policies_(session_),
      audit_(session_),
      jobs_(session_),
      agents_(session_),
      enrollment_tokens_(session_),
      deployments_(session_),
      deployment_targets_(session_),
      events_(session_),
      webhooks_(session_),
      webhook_deliveries_(session_),
      renewals_(session_),
      leases_(session_),
      revocations_(session_),
      notices_(session_),
      acme_configs_(session_),
      acme_orders_(session_),
      agent_challenges_(session_),
      stats_(session_),
      agent_certificates_(session_),
      domain_claims_(session_),
      http01_tokens_(session_),
      acme_server_(session_) {}

SqlTx::~SqlTx() {
  // Rolls back whatever is still open and gives the connection back.
  session_.Finish();
  lease_.reset();
}

Status SqlTx::Commit() {
  if (!lease_) return FailedPrecondition("transaction already finished");
  // Success or not, the transaction is over: the lease gives up the connection (and, for
  // SQLite, the writer slot) now rather than when the Tx object dies, so that a committed Tx
  // left in scope does not block the next Begin().
  session_.Finish();
  std::unique_ptr<TxLease> lease = std::move(lease_);
  return lease->Commit();
}

Status Session::CheckOpen() const {
  if (db_ == nullptr) return FailedPrecondition("transaction already finished");
  return Ok();
}

Result<Stmt> Session::Prepare(std::string_view sql, std::string_view context) {
  CF_TRY(CheckOpen());
  return db_->Prepare(sql, context);
}

}  // namespace certfleet::store::sql
