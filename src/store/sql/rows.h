// The SQL implementations of the repositories in store/store.h, shared by the SQLite and the
// PostgreSQL backends (store/sql/stmt.h). Each one maps model values to rows and back
// (CONVENTIONS.md #7) over the Session of one transaction; they hold no state of their own and
// are used by one thread at a time, like their Tx.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/sql/stmt.h"
#include "store/store.h"

namespace certfleet::store::sql {

// The connection of one open transaction. Finish() detaches it when the transaction ends
// (commit, successful or not), after which every statement is refused with FailedPrecondition:
// the connection goes back to the pool and may already serve another Tx.
class Session {
 public:
  explicit Session(Conn& db) : db_(&db) {}
  Result<Stmt> Prepare(std::string_view sql, std::string_view context);
  void Finish() { db_ = nullptr; }
  bool finished() const { return db_ == nullptr; }
  Dialect dialect() const { return db_ != nullptr ? db_->dialect() : Dialect::kSqlite; }
  // Only valid after a successful Prepare on this Session (so the Tx is still open).
  Conn& db() {
    CF_CHECK(db_ != nullptr);
    return *db_;
  }

  // Runs `fn` (returning Status) inside a SAVEPOINT so that a multi-statement operation either
  // applies fully or leaves the transaction as it was.
  template <typename F>
  Status Atomically(F fn) {
    CF_TRY(CheckOpen());
    CF_TRY(db_->Exec("SAVEPOINT op", "savepoint"));
    Status s = fn();
    if (!s.ok()) {
      // ROLLBACK TO keeps the savepoint open; RELEASE then drops it.
      (void)db_->Exec("ROLLBACK TO op; RELEASE op", "savepoint");
      return s;
    }
    CF_TRY(db_->Exec("RELEASE op", "savepoint"));
    return Ok();
  }

 private:
  Status CheckOpen() const;
  Conn* db_;  // null once finished
};

class SqlAccounts final : public AccountRepo {
 public:
  explicit SqlAccounts(Session& s) : s_(s) {}
  Status Insert(const model::Account& a) override;
  Result<model::Account> Get(const std::string& id) override;
  Result<model::Account> GetByName(const std::string& name) override;
  Result<std::vector<model::Account>> List() override;

 private:
  Session& s_;
};

class SqlPrincipals final : public PrincipalRepo {
 public:
  explicit SqlPrincipals(Session& s) : s_(s) {}
  Status Insert(const model::Principal& p) override;
  Result<model::Principal> Get(const std::string& id) override;
  Result<model::Principal> GetByName(const std::string& account_id,
                                     const std::string& name) override;
  Result<std::vector<model::Principal>> ListByAccount(const std::string& account_id) override;
  Status Update(const model::Principal& p) override;

 private:
  Session& s_;
};

class SqlTokens final : public TokenRepo {
 public:
  explicit SqlTokens(Session& s) : s_(s) {}
  Status Insert(const model::ApiToken& t) override;
  Result<model::ApiToken> GetByHash(const std::string& hash_hex) override;
  Result<std::vector<model::ApiToken>> ListByPrincipal(const std::string& principal_id) override;
  Status Revoke(const std::string& id) override;
  Result<model::ApiToken> Get(const std::string& id) override;

 private:
  Session& s_;
};

class SqlCertificates final : public CertificateRepo {
 public:
  explicit SqlCertificates(Session& s) : s_(s) {}
  Status Insert(const model::Certificate& c) override;
  Result<model::Certificate> Get(const std::string& id) override;
  Result<model::Certificate> GetByName(const std::string& account_id,
                                       const std::string& name) override;
  Result<std::vector<model::Certificate>> List(const CertificateFilter& f) override;
  Status Update(const model::Certificate& c) override;

 private:
  Session& s_;
};

class SqlVersions final : public VersionRepo {
 public:
  explicit SqlVersions(Session& s) : s_(s) {}
  Status Insert(const model::CertificateVersion& v) override;
  Result<model::CertificateVersion> Get(const std::string& id) override;
  Result<model::CertificateVersion> GetBySerial(const std::string& serial_hex) override;
  Result<std::vector<model::CertificateVersion>> ListByCertificate(
      const std::string& certificate_id) override;

 private:
  Session& s_;
};

class SqlBlobs final : public BlobRepo {
 public:
  explicit SqlBlobs(Session& s) : s_(s) {}
  Status Insert(const model::SealedBlob& b) override;
  Result<model::SealedBlob> Get(const std::string& id) override;
  Status UpdateWrapping(const std::string& id, const std::string& kek_id,
                        const std::string& wrapped_dek) override;
  Result<std::vector<std::string>> ListNotWrappedBy(const std::string& kek_id,
                                                    size_t limit) override;

 private:
  Session& s_;
};

class SqlSecrets final : public SecretRepo {
 public:
  explicit SqlSecrets(Session& s) : s_(s) {}
  Status Insert(const model::Secret& s) override;
  Result<model::Secret> Get(const std::string& id) override;
  Result<std::vector<model::Secret>> ListByAccount(const std::string& account_id) override;
  Result<std::vector<model::Secret>> List(const SecretFilter& f) override;
  Status AddVersion(const model::SecretVersion& v, TimePoint updated_at) override;
  Result<model::SecretVersion> GetVersion(const std::string& secret_id, int version) override;

 private:
  Session& s_;
};

class SqlExports final : public ExportRepo {
 public:
  explicit SqlExports(Session& s) : s_(s) {}
  Status Insert(const model::ExportRecord& e) override;
  Result<std::vector<model::ExportRecord>> List(const ExportFilter& f) override;
  Result<std::vector<ExportSummary>> Summarize(const ExportFilter& f) override;

 private:
  Session& s_;
};

class SqlCas final : public CaRepo {
 public:
  explicit SqlCas(Session& s) : s_(s) {}
  Status Insert(const model::CaRecord& c) override;
  Result<model::CaRecord> Get(const std::string& id) override;
  Result<model::CaRecord> GetActive(model::CaRole role) override;
  Result<std::vector<model::CaRecord>> List() override;

 private:
  Session& s_;
};

class SqlSerials final : public SerialRepo {
 public:
  explicit SqlSerials(Session& s) : s_(s) {}
  Status Reserve(const std::string& serial_hex, const std::string& ca_id, TimePoint at) override;
  Result<bool> Exists(const std::string& serial_hex) override;

 private:
  Session& s_;
};

class SqlSettings final : public SettingRepo {
 public:
  explicit SqlSettings(Session& s) : s_(s) {}
  Result<std::optional<std::string>> Get(const std::string& key) override;
  Status Put(const std::string& key, const std::string& value) override;

 private:
  Session& s_;
};

class SqlGrants final : public GrantRepo {
 public:
  explicit SqlGrants(Session& s) : s_(s) {}
  Status Insert(const model::Grant& g) override;
  Result<model::Grant> Get(const std::string& id) override;
  Result<std::vector<model::Grant>> ListByAccount(const std::string& account_id) override;
  Result<std::vector<model::Grant>> ListActive(const std::string& from_account_id,
                                               const std::string& to_account_id) override;
  Status Revoke(const std::string& id, TimePoint at) override;

 private:
  Session& s_;
};

class SqlPolicies final : public PolicyRepo {
 public:
  explicit SqlPolicies(Session& s) : s_(s) {}
  Result<model::PolicyDocument> Get(const std::string& account_id) override;
  Status Put(const model::PolicyDocument& doc) override;

 private:
  Session& s_;
};

class SqlAudit final : public AuditRepo {
 public:
  explicit SqlAudit(Session& s) : s_(s) {}
  Status Insert(const model::AuditRecord& r) override;
  Result<std::vector<model::AuditRecord>> List(const AuditFilter& f) override;

 private:
  Session& s_;
};

class SqlJobs final : public JobRepo {
 public:
  explicit SqlJobs(Session& s) : s_(s) {}
  Status Insert(const model::Job& j) override;
  Result<model::Job> Get(const std::string& id) override;
  Result<model::Job> GetByIdempotencyKey(const std::string& type, const std::string& key) override;
  Status Update(const model::Job& j) override;
  Result<std::vector<model::Job>> Claim(const std::string& owner, TimePoint now, Seconds lease,
                                        const std::vector<std::string>& types,
                                        size_t limit) override;
  Result<bool> ExtendLease(const std::string& id, const std::string& owner, TimePoint expected,
                           TimePoint until) override;
  Result<std::vector<model::Job>> List(const JobFilter& f) override;

 private:
  Session& s_;
};

class SqlAgents final : public AgentRepo {
 public:
  explicit SqlAgents(Session& s) : s_(s) {}
  Status Insert(const model::Agent& a) override;
  Result<model::Agent> Get(const std::string& id) override;
  Result<model::Agent> GetByCertSerial(const std::string& serial_hex) override;
  Result<std::vector<model::Agent>> ListByAccount(const std::string& account_id) override;
  Result<std::vector<model::Agent>> List() override;
  Result<std::vector<model::Agent>> List(const AgentFilter& f) override;
  Status Update(const model::Agent& a) override;
  Result<int64_t> NextSeq(const std::string& id) override;

 private:
  Session& s_;
};

class SqlEnrollmentTokens final : public EnrollmentTokenRepo {
 public:
  explicit SqlEnrollmentTokens(Session& s) : s_(s) {}
  Status Insert(const model::EnrollmentToken& t) override;
  Result<model::EnrollmentToken> Get(const std::string& id) override;
  Result<model::EnrollmentToken> GetByHash(const std::string& hash_hex) override;
  Result<std::vector<model::EnrollmentToken>> ListByAccount(const std::string& account_id) override;
  Status MarkUsed(const std::string& id, const std::string& agent_id, TimePoint at) override;
  Status SetUsedKey(const std::string& id, const std::string& key_sha256) override;
  Status Revoke(const std::string& id, TimePoint at) override;

 private:
  Session& s_;
};

class SqlAgentCertificates final : public AgentCertificateRepo {
 public:
  explicit SqlAgentCertificates(Session& s) : s_(s) {}
  Status Insert(const model::AgentCertificate& c) override;
  Result<model::AgentCertificate> Get(const std::string& serial_hex) override;
  Result<std::vector<model::AgentCertificate>> ListByAgent(const std::string& agent_id) override;

 private:
  Session& s_;
};

class SqlDeployments final : public DeploymentRepo {
 public:
  explicit SqlDeployments(Session& s) : s_(s) {}
  Status Insert(const model::Deployment& d) override;
  Result<model::Deployment> Get(const std::string& id) override;
  Result<std::vector<model::Deployment>> List(const DeploymentFilter& f) override;
  Status Update(const model::Deployment& d) override;

 private:
  Session& s_;
};

class SqlDeploymentTargets final : public DeploymentTargetRepo {
 public:
  explicit SqlDeploymentTargets(Session& s) : s_(s) {}
  Status Insert(const model::DeploymentTarget& t) override;
  Result<model::DeploymentTarget> Get(const std::string& id) override;
  Result<model::DeploymentTarget> GetByDeploymentAgent(const std::string& deployment_id,
                                                       const std::string& agent_id) override;
  Result<std::vector<model::DeploymentTarget>> ListByDeployment(
      const std::string& deployment_id) override;
  Result<std::vector<model::DeploymentTarget>> ListByAgent(const std::string& agent_id) override;
  Result<std::vector<model::DeploymentTarget>> ListPendingByAgent(
      const std::string& agent_id) override;
  Status Update(const model::DeploymentTarget& t) override;

 private:
  Session& s_;
};

class SqlEvents final : public EventRepo {
 public:
  explicit SqlEvents(Session& s) : s_(s) {}
  Result<int64_t> Append(const model::Event& e) override;
  Result<model::Event> Get(const std::string& id) override;
  Result<std::vector<model::Event>> ListAfter(int64_t after_seq, size_t limit) override;

 private:
  Session& s_;
};

class SqlWebhooks final : public WebhookRepo {
 public:
  explicit SqlWebhooks(Session& s) : s_(s) {}
  Status Insert(const model::WebhookSubscription& w) override;
  Result<model::WebhookSubscription> Get(const std::string& id) override;
  Result<std::vector<model::WebhookSubscription>> ListByAccount(
      const std::string& account_id) override;
  Result<std::vector<model::WebhookSubscription>> ListActive() override;
  Status SetActive(const std::string& id, bool active, TimePoint at) override;

 private:
  Session& s_;
};

class SqlWebhookDeliveries final : public WebhookDeliveryRepo {
 public:
  explicit SqlWebhookDeliveries(Session& s) : s_(s) {}
  Status Insert(const model::WebhookDelivery& d) override;
  Result<model::WebhookDelivery> Get(const std::string& id) override;
  Result<std::vector<model::WebhookDelivery>> ListBySubscription(const std::string& subscription_id,
                                                                 const std::string& before_id,
                                                                 size_t limit) override;
  Result<std::vector<model::WebhookDelivery>> ListDue(TimePoint now, size_t limit) override;
  Status Update(const model::WebhookDelivery& d) override;

 private:
  Session& s_;
};

class SqlRenewals final : public RenewalRepo {
 public:
  explicit SqlRenewals(Session& s) : s_(s) {}
  Result<model::RenewalState> Get(const std::string& certificate_id) override;
  Status Put(const model::RenewalState& r) override;
  Result<std::vector<RenewalCandidate>> ListUnplanned(const std::string& after_id,
                                                      size_t limit) override;
  Result<std::vector<model::RenewalState>> ListDue(TimePoint now, size_t limit) override;
  Result<int64_t> CountUnplanned() override;

 private:
  Session& s_;
};

// The renewal sweep's two queries (rows_renewals.cc), exposed for the query-plan test: both
// must be index range scans (issue #14).
const std::string& RenewalUnplannedSql(Dialect d);
const std::string& RenewalDueSql(Dialect d);

class SqlLeases final : public LeaseRepo {
 public:
  explicit SqlLeases(Session& s) : s_(s) {}
  Result<std::optional<model::Lease>> Get(const std::string& name) override;
  Status Put(const model::Lease& l) override;
  Status Delete(const std::string& name, const std::string& owner) override;

 private:
  Session& s_;
};

class SqlRevocations final : public RevocationRepo {
 public:
  explicit SqlRevocations(Session& s) : s_(s) {}
  Status Insert(const model::Revocation& r) override;
  Result<std::vector<model::Revocation>> ListByCa(const std::string& ca_id) override;
  Result<std::vector<model::Revocation>> ListByCertificate(
      const std::string& certificate_id) override;

 private:
  Session& s_;
};

class SqlNotices final : public NoticeRepo {
 public:
  explicit SqlNotices(Session& s) : s_(s) {}
  Result<std::optional<Notice>> Get(const std::string& kind,
                                    const std::string& subject_id) override;
  Status Put(const Notice& n) override;

 private:
  Session& s_;
};

class SqlAcmeConfigs final : public AcmeConfigRepo {
 public:
  explicit SqlAcmeConfigs(Session& s) : s_(s) {}
  Status Insert(const AcmeConfig& c) override;
  Result<AcmeConfig> GetByName(const std::string& account_id, const std::string& kind,
                               const std::string& name) override;
  Result<std::vector<AcmeConfig>> List(const std::string& account_id,
                                       const std::string& kind) override;
  Status UpdateConfig(const std::string& id, const std::string& config_json,
                      TimePoint updated_at) override;

 private:
  Session& s_;
};

class SqlAgentChallenges final : public AgentChallengeRepo {
 public:
  explicit SqlAgentChallenges(Session& s) : s_(s) {}
  Result<std::optional<AgentChallenge>> Get(const std::string& agent_id,
                                            const std::string& token) override;
  Status Put(const AgentChallenge& c) override;
  Result<std::vector<AgentChallenge>> ListWork(const std::string& agent_id, size_t limit) override;
  Result<std::vector<AgentChallenge>> ListByToken(const std::string& account_id,
                                                  const std::string& token) override;
  Result<std::vector<AgentChallenge>> ListStale(const std::string& account_id,
                                                TimePoint updated_before, size_t limit) override;
  Status Delete(const std::string& agent_id, const std::string& token) override;

 private:
  Session& s_;
};

class SqlAcmeOrders final : public AcmeOrderRepo {
 public:
  explicit SqlAcmeOrders(Session& s) : s_(s) {}
  Result<std::optional<AcmeOrder>> Get(const std::string& order_key) override;
  Status Put(const AcmeOrder& o) override;

 private:
  Session& s_;
};

class SqlDomainClaims final : public DomainClaimRepo {
 public:
  explicit SqlDomainClaims(Session& s) : s_(s) {}
  Status Insert(const model::DomainClaim& c) override;
  Result<model::DomainClaim> Get(const std::string& id) override;
  Result<std::vector<model::DomainClaim>> ListByAccount(const std::string& account_id) override;
  Result<std::vector<model::DomainClaim>> List() override;
  Status Delete(const std::string& id) override;

 private:
  Session& s_;
};

class SqlHttp01Tokens final : public Http01TokenRepo {
 public:
  explicit SqlHttp01Tokens(Session& s) : s_(s) {}
  Result<std::optional<Http01Token>> Get(const std::string& identifier,
                                         const std::string& token) override;
  Status Put(const Http01Token& t) override;
  Status Delete(const std::string& identifier, const std::string& token,
                const std::string& owner) override;
  Result<int64_t> DeleteCreatedBefore(TimePoint before) override;
  Result<int64_t> Count() override;

 private:
  Session& s_;
};

// The ACME server's rows (store/acme_server.h; rows_acme_server.cc).
class SqlAcmeServer final : public AcmeServerRepo {
 public:
  explicit SqlAcmeServer(Session& s) : s_(s) {}
  Status InsertEabKey(const AcmeEabKey& k) override;
  Result<std::optional<AcmeEabKey>> GetEabKey(const std::string& kid) override;
  Result<bool> BindEabKey(const std::string& kid, const std::string& acme_account_id,
                          TimePoint at) override;
  Result<std::vector<AcmeEabKey>> ListEabKeys(const std::string& account_id) override;
  Status DeleteEabKey(const std::string& kid) override;

  Status InsertAccount(const AcmeServerAccount& a) override;
  Result<std::optional<AcmeServerAccount>> GetAccount(const std::string& id) override;
  Result<std::optional<AcmeServerAccount>> FindAccountByThumbprint(
      const std::string& thumbprint) override;
  Status UpdateAccount(const AcmeServerAccount& a) override;

  Status InsertOrder(const AcmeServerOrder& o) override;
  Result<std::optional<AcmeServerOrder>> GetOrder(const std::string& id) override;
  Status UpdateOrder(const AcmeServerOrder& o) override;
  Result<std::vector<AcmeServerOrder>> ListOrders(const std::string& acme_account_id,
                                                  const std::string& after_id,
                                                  size_t limit) override;
  Result<int64_t> CountOrdersSince(const std::string& account_id, TimePoint since) override;

  Status InsertAuthz(const AcmeServerAuthz& a) override;
  Result<std::optional<AcmeServerAuthz>> GetAuthz(const std::string& id) override;
  Status UpdateAuthz(const AcmeServerAuthz& a) override;
  Result<std::vector<AcmeServerAuthz>> ListAuthzsByOrder(const std::string& order_id) override;
  Result<int64_t> CountPendingAuthzs(const std::string& account_id, TimePoint now) override;

  Status InsertChallenge(const AcmeServerChallenge& c) override;
  Result<std::optional<AcmeServerChallenge>> GetChallenge(const std::string& id) override;
  Status UpdateChallenge(const AcmeServerChallenge& c) override;
  Result<std::vector<AcmeServerChallenge>> ListChallengesByAuthz(
      const std::string& authz_id) override;
  Result<int64_t> CountFailedChallengesSince(const std::string& account_id,
                                             TimePoint since) override;

 private:
  Session& s_;
};

class SqlStats final : public StatsRepo {
 public:
  explicit SqlStats(Session& s) : s_(s) {}
  Result<std::vector<CertificateExpiry>> ListCertificateExpiry(
      std::optional<TimePoint> not_after_before, const std::string& after_id,
      size_t limit) override;
  Result<std::vector<NamedCount>> CountCertificatesByStatus() override;
  Result<std::vector<NamedCount>> CountDeploymentsByState() override;
  Result<std::vector<NamedCount>> CountTargetsByState() override;
  Result<std::vector<NamedCount>> CountDeliveriesByStatus() override;
  Result<std::vector<NamedCount>> CountEventsByType() override;
  Result<int64_t> CountFailedDeliveryAttempts() override;
  Result<JobQueueStats> JobQueue(TimePoint now) override;
  Result<int64_t> CountAgentsSeenSince(TimePoint since) override;
  Result<int64_t> CountAgents() override;
  Result<DashboardCounts> CountDashboard(const DashboardQuery& q) override;

 private:
  Result<std::vector<NamedCount>> Counts(const char* sql, const char* table);
  Result<int64_t> Scalar(const char* sql, const char* table, std::optional<int64_t> arg);
  Session& s_;
};

}  // namespace certfleet::store::sql
