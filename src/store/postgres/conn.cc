#include "store/postgres/conn.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <utility>

namespace certfleet::store::postgres {
namespace {

// Type OIDs (pg_type.h is server-side only).
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

// Caps the bound parameters: the mappers never come near it; a bug that does must not make the
// server allocate for it.
constexpr int kMaxParams = 1000;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

std::string Field(const PGresult* r, int code) {
  if (r == nullptr) return {};
  const char* v = PQresultErrorField(r, code);
  return v != nullptr ? v : "";
}

std::string ConnMessage(PGconn* c) {
  if (c == nullptr) return "no connection";
  std::string m = PQerrorMessage(c);
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  // libpq prefixes multi-line text; the first line is what matters.
  if (auto nl = m.find('\n'); nl != std::string::npos) m.resize(nl);
  return m;
}

bool IsOk(const PGresult* r) {
  if (r == nullptr) return false;
  const auto st = PQresultStatus(r);
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

int64_t ParseInt(const char* v) {
  if (v == nullptr || *v == '\0') return 0;
  // Booleans come back as t/f; the mappers read them as 0/1 like SQLite's.
  if (v[0] == 't' && v[1] == '\0') return 1;
  if (v[0] == 'f' && v[1] == '\0') return 0;
  return std::strtoll(v, nullptr, 10);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// bytea in text form is "\x" followed by hex digits (bytea_output = hex, set at connect).
std::string DecodeBytea(const char* v, int len) {
  std::string out;
  if (len < 2 || v[0] != '\\' || v[1] != 'x') return std::string(v, static_cast<size_t>(len));
  out.reserve(static_cast<size_t>(len - 2) / 2);
  for (int i = 2; i + 1 < len; i += 2) {
    const int hi = HexValue(v[i]);
    const int lo = HexValue(v[i + 1]);
    if (hi < 0 || lo < 0) break;
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

bool IsSelect(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size() && (sql[i] == ' ' || sql[i] == '\n' || sql[i] == '(')) ++i;
  return sql.size() - i >= 6 && strncasecmp(sql.data() + i, "SELECT", 6) == 0;
}

}  // namespace

Error PgError(PGconn* conn, const PGresult* result, std::string_view context) {
  const std::string state = Field(result, PG_DIAG_SQLSTATE);
  std::string detail = Field(result, PG_DIAG_MESSAGE_PRIMARY);
  if (detail.empty()) detail = ConnMessage(conn);
  const std::string ctx(context);
  const std::string msg = ctx + ": " + detail;
  if (state == "23505") return Conflict(ctx + ": already exists (" + detail + ")");
  if (state == "23503") {
    return FailedPrecondition(ctx + ": referenced row does not exist (" + detail + ")");
  }
  if (state == "P0001") return FailedPrecondition(msg);
  if (state.rfind("23", 0) == 0 || state.rfind("22", 0) == 0) return InvalidArgument(msg);
  // Connection exceptions, insufficient resources, operator intervention (shutdown, cancel,
  // statement timeout), lock_not_available, serialization failure and deadlock.
  if (state.rfind("08", 0) == 0 || state.rfind("53", 0) == 0 || state.rfind("57", 0) == 0 ||
      state == "55P03" || state == "40001" || state == "40P01") {
    return Unavailable(msg).WithRetry();
  }
  if (conn == nullptr || PQstatus(conn) != CONNECTION_OK) {
    return Unavailable(ctx + ": database connection lost (" + detail + ")").WithRetry();
  }
  return Internal(msg);
}

std::string RewriteParameters(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
      out.push_back(c);
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      out.push_back(c);
      continue;
    }
    if (c == '?' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      out.push_back('$');
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// One execution: the parameters are collected by Bind*, sent by the first Step(), and the rows
// read from the one result.
class PgStmt final : public sql::StmtImpl {
 public:
  PgStmt(PgConn& conn, std::string sql, std::string_view context)
      : conn_(conn), sql_(std::move(sql)), context_(context) {}

  Status BindText(int i, std::string_view text) override {
    return Set(i, kTextOid, std::string(text));
  }
  Status BindInt(int i, int64_t v) override {
    std::string be(8, '\0');
    auto u = static_cast<uint64_t>(v);
    for (int b = 7; b >= 0; --b) {
      be[static_cast<size_t>(b)] = static_cast<char>(u & 0xff);
      u >>= 8;
    }
    return Set(i, kInt8Oid, std::move(be));
  }
  Status BindBlob(int i, std::string_view bytes) override {
    return Set(i, kByteaOid, std::string(bytes));
  }
  // Every nullable column the mappers bind is an integer (times, counts); a text NULL is written
  // as NULLIF(?N, ''). So a NULL goes as int8, which PostgreSQL needs no inference for.
  Status BindNull(int i) override { return Set(i, kInt8Oid, std::nullopt); }

  Result<bool> Step() override {
    if (!result_) CF_TRY(Execute());
    if (row_ + 1 >= PQntuples(result_.get())) {
      row_ = PQntuples(result_.get());
      return false;
    }
    ++row_;
    return true;
  }

  bool IsNull(int col) const override { return PQgetisnull(result_.get(), row_, col) != 0; }
  int64_t Int(int col) const override { return ParseInt(PQgetvalue(result_.get(), row_, col)); }
  std::string Text(int col) const override {
    return std::string(PQgetvalue(result_.get(), row_, col),
                       static_cast<size_t>(PQgetlength(result_.get(), row_, col)));
  }
  std::string Blob(int col) const override {
    return DecodeBytea(PQgetvalue(result_.get(), row_, col), PQgetlength(result_.get(), row_, col));
  }

 private:
  Status Set(int i, Oid type, std::optional<std::string> value) {
    if (i < 1 || i > kMaxParams) {
      return InvalidArgument(std::string(context_) + ": parameter index " + std::to_string(i) +
                             " out of range");
    }
    const auto n = static_cast<size_t>(i);
    if (values_.size() < n) {
      // Parameters never bound are NULL, as in SQLite; typed as text so that one the SQL does
      // not use (the mappers leave out unused filters) needs no type inference.
      values_.resize(n);
      types_.resize(n, kTextOid);
    }
    values_[n - 1] = std::move(value);
    types_[n - 1] = type;
    return Ok();
  }

  Status Execute() {
    PGconn* c = conn_.get();
    CF_ASSIGN_OR_RETURN(std::string name, conn_.Prepared(sql_, types_, context_));
    const bool savepoint = conn_.statement_savepoints_ && !IsSelect(sql_);
    if (savepoint) CF_TRY(conn_.Exec("SAVEPOINT cf_stmt", context_));
    std::vector<const char*> ptrs(values_.size());
    std::vector<int> lengths(values_.size());
    std::vector<int> formats(values_.size(), 1);
    for (size_t k = 0; k < values_.size(); ++k) {
      if (values_[k]) {
        ptrs[k] = values_[k]->data();
        lengths[k] = static_cast<int>(values_[k]->size());
      }
    }
    result_.reset(PQexecPrepared(c, name.c_str(), static_cast<int>(values_.size()), ptrs.data(),
                                 lengths.data(), formats.data(), 0));
    if (!IsOk(result_.get())) {
      Error e = PgError(c, result_.get(), context_);
      result_.reset();
      if (savepoint) (void)conn_.Exec("ROLLBACK TO SAVEPOINT cf_stmt", context_);
      return e;
    }
    if (savepoint) CF_TRY(conn_.Exec("RELEASE SAVEPOINT cf_stmt", context_));
    const char* tuples = PQcmdTuples(result_.get());
    conn_.changes_ = (tuples != nullptr && *tuples != '\0') ? std::strtoll(tuples, nullptr, 10) : 0;
    row_ = -1;
    return Ok();
  }

  PgConn& conn_;
  std::string sql_;
  std::string_view context_;  // callers pass string literals
  std::vector<std::optional<std::string>> values_;
  std::vector<Oid> types_;
  ResultPtr result_;
  int row_ = -1;
};

Result<std::unique_ptr<PgConn>> PgConn::Open(const ConnectOptions& o) {
  std::vector<const char*> keys = {"dbname", "application_name", "connect_timeout"};
  std::vector<const char*> values = {o.conninfo.c_str(), "certfleetd", "5"};
  if (!o.password.empty()) {
    keys.push_back("password");
    values.push_back(o.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  // expand_dbname = 1: "dbname" may hold a whole URL or key=value string; the keys after it
  // override what it says.
  PGconn* raw = PQconnectdbParams(keys.data(), values.data(), 1);
  std::unique_ptr<PgConn> conn(new PgConn(raw));
  if (raw == nullptr || PQstatus(raw) != CONNECTION_OK) {
    return Unavailable("postgres: cannot connect: " + ConnMessage(raw)).WithRetry();
  }
  // Notices (e.g. "relation already exists, skipping") are not errors; keep them off stderr.
  PQsetNoticeProcessor(
      raw, [](void*, const char*) {}, nullptr);
  std::string setup =
      "SET client_min_messages = warning; SET bytea_output = hex; "
      "SET idle_in_transaction_session_timeout = '60s'; SET lock_timeout = " +
      std::to_string(o.lock_timeout_ms) + ";";
  if (!o.schema.empty()) {
    char* quoted = PQescapeIdentifier(raw, o.schema.data(), o.schema.size());
    if (quoted == nullptr) return InvalidArgument("postgres: invalid schema name");
    setup += " SET search_path TO ";
    setup += quoted;
    setup += ";";
    PQfreemem(quoted);
  }
  CF_TRY(conn->Exec(setup.c_str(), "connect"));
  return conn;
}

PgConn::~PgConn() {
  if (conn_ != nullptr) PQfinish(conn_);
}

Result<sql::Stmt> PgConn::Prepare(std::string_view sql, std::string_view context) {
  return sql::Stmt(std::make_unique<PgStmt>(*this, RewriteParameters(sql), context));
}

Result<std::string> PgConn::Prepared(const std::string& sql, const std::vector<Oid>& types,
                                     std::string_view context) {
  std::string key;
  key.reserve(types.size() * 3 + sql.size() + 1);
  for (Oid t : types) key += std::to_string(t) + ",";
  key += "|";
  key += sql;
  auto it = prepared_.find(key);
  if (it != prepared_.end()) return it->second;
  std::string name = "cf" + std::to_string(prepared_.size() + 1);
  ResultPtr r(
      PQprepare(conn_, name.c_str(), sql.c_str(), static_cast<int>(types.size()), types.data()));
  if (!IsOk(r.get())) return PgError(conn_, r.get(), context);
  prepared_.emplace(std::move(key), name);
  return name;
}

Status PgConn::Exec(const char* sql, std::string_view context) {
  ResultPtr r(PQexec(conn_, sql));
  if (!IsOk(r.get())) return PgError(conn_, r.get(), context);
  return Ok();
}

}  // namespace certfleet::store::postgres
