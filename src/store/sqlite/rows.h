// The SQLite implementations of the repositories in store/store.h. Each one maps model values to
// rows and back (CONVENTIONS.md #7) over the Session of one transaction; they hold no state of
// their own and are used by one thread at a time, like their Tx.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/db.h"
#include "store/store.h"

namespace certfleet::store::sqlite {

// The connection of one open transaction. Finish() detaches it when the transaction ends
// (commit, successful or not), after which every statement is refused with FailedPrecondition:
// the connection goes back to the pool and may already serve another Tx.
class Session {
 public:
  explicit Session(Db& db) : db_(&db) {}
  Result<Stmt> Prepare(std::string_view sql, std::string_view context);
  void Finish() { db_ = nullptr; }
  bool finished() const { return db_ == nullptr; }
  // Only valid after a successful Prepare on this Session (so the Tx is still open).
  Db& db() {
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
  Db* db_;  // null once finished
};

class SqliteAccounts final : public AccountRepo {
 public:
  explicit SqliteAccounts(Session& s) : s_(s) {}
  Status Insert(const model::Account& a) override;
  Result<model::Account> Get(const std::string& id) override;
  Result<model::Account> GetByName(const std::string& name) override;
  Result<std::vector<model::Account>> List() override;

 private:
  Session& s_;
};

class SqlitePrincipals final : public PrincipalRepo {
 public:
  explicit SqlitePrincipals(Session& s) : s_(s) {}
  Status Insert(const model::Principal& p) override;
  Result<model::Principal> Get(const std::string& id) override;
  Result<model::Principal> GetByName(const std::string& account_id,
                                     const std::string& name) override;
  Result<std::vector<model::Principal>> ListByAccount(const std::string& account_id) override;
  Status Update(const model::Principal& p) override;

 private:
  Session& s_;
};

class SqliteTokens final : public TokenRepo {
 public:
  explicit SqliteTokens(Session& s) : s_(s) {}
  Status Insert(const model::ApiToken& t) override;
  Result<model::ApiToken> GetByHash(const std::string& hash_hex) override;
  Result<std::vector<model::ApiToken>> ListByPrincipal(const std::string& principal_id) override;
  Status Revoke(const std::string& id) override;
  Result<model::ApiToken> Get(const std::string& id) override;

 private:
  Session& s_;
};

class SqliteCertificates final : public CertificateRepo {
 public:
  explicit SqliteCertificates(Session& s) : s_(s) {}
  Status Insert(const model::Certificate& c) override;
  Result<model::Certificate> Get(const std::string& id) override;
  Result<std::vector<model::Certificate>> List(const CertificateFilter& f) override;
  Status Update(const model::Certificate& c) override;

 private:
  Session& s_;
};

class SqliteVersions final : public VersionRepo {
 public:
  explicit SqliteVersions(Session& s) : s_(s) {}
  Status Insert(const model::CertificateVersion& v) override;
  Result<model::CertificateVersion> Get(const std::string& id) override;
  Result<std::vector<model::CertificateVersion>> ListByCertificate(
      const std::string& certificate_id) override;

 private:
  Session& s_;
};

class SqliteBlobs final : public BlobRepo {
 public:
  explicit SqliteBlobs(Session& s) : s_(s) {}
  Status Insert(const model::SealedBlob& b) override;
  Result<model::SealedBlob> Get(const std::string& id) override;
  Status UpdateWrapping(const std::string& id, const std::string& kek_id,
                        const std::string& wrapped_dek) override;
  Result<std::vector<std::string>> ListNotWrappedBy(const std::string& kek_id,
                                                    size_t limit) override;

 private:
  Session& s_;
};

class SqliteSecrets final : public SecretRepo {
 public:
  explicit SqliteSecrets(Session& s) : s_(s) {}
  Status Insert(const model::Secret& s) override;
  Result<model::Secret> Get(const std::string& id) override;
  Result<std::vector<model::Secret>> ListByAccount(const std::string& account_id) override;
  Status AddVersion(const model::SecretVersion& v, TimePoint updated_at) override;
  Result<model::SecretVersion> GetVersion(const std::string& secret_id, int version) override;

 private:
  Session& s_;
};

class SqliteExports final : public ExportRepo {
 public:
  explicit SqliteExports(Session& s) : s_(s) {}
  Status Insert(const model::ExportRecord& e) override;
  Result<std::vector<model::ExportRecord>> List(const ExportFilter& f) override;

 private:
  Session& s_;
};

class SqliteCas final : public CaRepo {
 public:
  explicit SqliteCas(Session& s) : s_(s) {}
  Status Insert(const model::CaRecord& c) override;
  Result<model::CaRecord> Get(const std::string& id) override;
  Result<model::CaRecord> GetActive(model::CaRole role) override;
  Result<std::vector<model::CaRecord>> List() override;

 private:
  Session& s_;
};

class SqliteSerials final : public SerialRepo {
 public:
  explicit SqliteSerials(Session& s) : s_(s) {}
  Status Reserve(const std::string& serial_hex, const std::string& ca_id, TimePoint at) override;
  Result<bool> Exists(const std::string& serial_hex) override;

 private:
  Session& s_;
};

class SqliteSettings final : public SettingRepo {
 public:
  explicit SqliteSettings(Session& s) : s_(s) {}
  Result<std::optional<std::string>> Get(const std::string& key) override;
  Status Put(const std::string& key, const std::string& value) override;

 private:
  Session& s_;
};

class SqliteGrants final : public GrantRepo {
 public:
  explicit SqliteGrants(Session& s) : s_(s) {}
  Status Insert(const model::Grant& g) override;
  Result<model::Grant> Get(const std::string& id) override;
  Result<std::vector<model::Grant>> ListByAccount(const std::string& account_id) override;
  Result<std::vector<model::Grant>> ListActive(const std::string& from_account_id,
                                               const std::string& to_account_id) override;
  Status Revoke(const std::string& id, TimePoint at) override;

 private:
  Session& s_;
};

class SqlitePolicies final : public PolicyRepo {
 public:
  explicit SqlitePolicies(Session& s) : s_(s) {}
  Result<model::PolicyDocument> Get(const std::string& account_id) override;
  Status Put(const model::PolicyDocument& doc) override;

 private:
  Session& s_;
};

class SqliteAudit final : public AuditRepo {
 public:
  explicit SqliteAudit(Session& s) : s_(s) {}
  Status Insert(const model::AuditRecord& r) override;
  Result<std::vector<model::AuditRecord>> List(const AuditFilter& f) override;

 private:
  Session& s_;
};

class SqliteJobs final : public JobRepo {
 public:
  explicit SqliteJobs(Session& s) : s_(s) {}
  Status Insert(const model::Job& j) override;
  Result<model::Job> Get(const std::string& id) override;
  Result<model::Job> GetByIdempotencyKey(const std::string& type, const std::string& key) override;
  Status Update(const model::Job& j) override;
  Result<std::vector<model::Job>> Claim(const std::string& owner, TimePoint now, Seconds lease,
                                        const std::vector<std::string>& types,
                                        size_t limit) override;
  Result<std::vector<model::Job>> List(const JobFilter& f) override;

 private:
  Session& s_;
};

class SqliteAgents final : public AgentRepo {
 public:
  explicit SqliteAgents(Session& s) : s_(s) {}
  Status Insert(const model::Agent& a) override;
  Result<model::Agent> Get(const std::string& id) override;
  Result<model::Agent> GetByCertSerial(const std::string& serial_hex) override;
  Result<std::vector<model::Agent>> ListByAccount(const std::string& account_id) override;
  Result<std::vector<model::Agent>> List() override;
  Status Update(const model::Agent& a) override;
  Result<int64_t> NextSeq(const std::string& id) override;

 private:
  Session& s_;
};

class SqliteEnrollmentTokens final : public EnrollmentTokenRepo {
 public:
  explicit SqliteEnrollmentTokens(Session& s) : s_(s) {}
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

class SqliteAgentCertificates final : public AgentCertificateRepo {
 public:
  explicit SqliteAgentCertificates(Session& s) : s_(s) {}
  Status Insert(const model::AgentCertificate& c) override;
  Result<model::AgentCertificate> Get(const std::string& serial_hex) override;
  Result<std::vector<model::AgentCertificate>> ListByAgent(const std::string& agent_id) override;

 private:
  Session& s_;
};

class SqliteDeployments final : public DeploymentRepo {
 public:
  explicit SqliteDeployments(Session& s) : s_(s) {}
  Status Insert(const model::Deployment& d) override;
  Result<model::Deployment> Get(const std::string& id) override;
  Result<std::vector<model::Deployment>> List(const DeploymentFilter& f) override;
  Status Update(const model::Deployment& d) override;

 private:
  Session& s_;
};

class SqliteDeploymentTargets final : public DeploymentTargetRepo {
 public:
  explicit SqliteDeploymentTargets(Session& s) : s_(s) {}
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

class SqliteEvents final : public EventRepo {
 public:
  explicit SqliteEvents(Session& s) : s_(s) {}
  Result<int64_t> Append(const model::Event& e) override;
  Result<model::Event> Get(const std::string& id) override;
  Result<std::vector<model::Event>> ListAfter(int64_t after_seq, size_t limit) override;

 private:
  Session& s_;
};

class SqliteWebhooks final : public WebhookRepo {
 public:
  explicit SqliteWebhooks(Session& s) : s_(s) {}
  Status Insert(const model::WebhookSubscription& w) override;
  Result<model::WebhookSubscription> Get(const std::string& id) override;
  Result<std::vector<model::WebhookSubscription>> ListByAccount(
      const std::string& account_id) override;
  Result<std::vector<model::WebhookSubscription>> ListActive() override;
  Status SetActive(const std::string& id, bool active, TimePoint at) override;

 private:
  Session& s_;
};

class SqliteWebhookDeliveries final : public WebhookDeliveryRepo {
 public:
  explicit SqliteWebhookDeliveries(Session& s) : s_(s) {}
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

class SqliteRenewals final : public RenewalRepo {
 public:
  explicit SqliteRenewals(Session& s) : s_(s) {}
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
extern const char kRenewalUnplannedSql[];
extern const char kRenewalDueSql[];

class SqliteLeases final : public LeaseRepo {
 public:
  explicit SqliteLeases(Session& s) : s_(s) {}
  Result<std::optional<model::Lease>> Get(const std::string& name) override;
  Status Put(const model::Lease& l) override;
  Status Delete(const std::string& name, const std::string& owner) override;

 private:
  Session& s_;
};

class SqliteRevocations final : public RevocationRepo {
 public:
  explicit SqliteRevocations(Session& s) : s_(s) {}
  Status Insert(const model::Revocation& r) override;
  Result<std::vector<model::Revocation>> ListByCa(const std::string& ca_id) override;
  Result<std::vector<model::Revocation>> ListByCertificate(
      const std::string& certificate_id) override;

 private:
  Session& s_;
};

class SqliteNotices final : public NoticeRepo {
 public:
  explicit SqliteNotices(Session& s) : s_(s) {}
  Result<std::optional<Notice>> Get(const std::string& kind,
                                    const std::string& subject_id) override;
  Status Put(const Notice& n) override;

 private:
  Session& s_;
};

class SqliteAcmeConfigs final : public AcmeConfigRepo {
 public:
  explicit SqliteAcmeConfigs(Session& s) : s_(s) {}
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

class SqliteAgentChallenges final : public AgentChallengeRepo {
 public:
  explicit SqliteAgentChallenges(Session& s) : s_(s) {}
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

class SqliteAcmeOrders final : public AcmeOrderRepo {
 public:
  explicit SqliteAcmeOrders(Session& s) : s_(s) {}
  Result<std::optional<AcmeOrder>> Get(const std::string& order_key) override;
  Status Put(const AcmeOrder& o) override;

 private:
  Session& s_;
};

class SqliteDomainClaims final : public DomainClaimRepo {
 public:
  explicit SqliteDomainClaims(Session& s) : s_(s) {}
  Status Insert(const model::DomainClaim& c) override;
  Result<model::DomainClaim> Get(const std::string& id) override;
  Result<std::vector<model::DomainClaim>> ListByAccount(const std::string& account_id) override;
  Result<std::vector<model::DomainClaim>> List() override;
  Status Delete(const std::string& id) override;

 private:
  Session& s_;
};

class SqliteStats final : public StatsRepo {
 public:
  explicit SqliteStats(Session& s) : s_(s) {}
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

 private:
  Result<std::vector<NamedCount>> Counts(const char* sql, const char* table);
  Result<int64_t> Scalar(const char* sql, const char* table, std::optional<int64_t> arg);
  Session& s_;
};

}  // namespace certfleet::store::sqlite
