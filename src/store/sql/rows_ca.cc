// Internal CA records and reserved serials.
#include "store/sql/codec.h"
#include "store/sql/rows.h"

namespace certfleet::store::sql {
namespace {

constexpr std::string_view kCaCols =
    "id, role, cert_pem, key_blob_id, parent_id, active, created_at";

Result<model::CaRecord> ReadCa(const Stmt& s) {
  model::CaRecord c;
  c.id = s.Text(0);
  CF_ASSIGN_OR_RETURN(c.role, DecodeEnum(model::ParseCaRole(s.Text(1)), "ca_records.role"));
  c.cert_pem = s.Text(2);
  c.key_blob_id = s.Text(3);
  c.parent_id = s.Text(4);
  c.active = s.Int(5) != 0;
  c.created_at = DecodeTime(s.Int(6));
  return c;
}

}  // namespace

// ---- CA records

Status SqlCas::Insert(const model::CaRecord& c) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO ca_records (" + std::string(kCaCols) +
                                             ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                                         "ca_records"));
  return s.Bind(1, c.id)
      .Bind(2, model::CaRoleName(c.role))
      .Bind(3, c.cert_pem)
      .Bind(4, c.key_blob_id)
      .Bind(5, c.parent_id)
      .Bind(6, c.active)
      .Bind(7, EncodeTime(c.created_at))
      .Run();
}

Result<model::CaRecord> SqlCas::Get(const std::string& id) {
  CF_ASSIGN_OR_RETURN(
      auto s, s_.Prepare("SELECT " + std::string(kCaCols) + " FROM ca_records WHERE id = ?1",
                         "ca_records"));
  s.Bind(1, id);
  return SingleRow<model::CaRecord>(s, ReadCa, "CA record " + id + " not found");
}

Result<model::CaRecord> SqlCas::GetActive(model::CaRole role) {
  // Newest first; the id breaks ties between records created within the same second, since
  // ids sort by creation time.
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT " + std::string(kCaCols) +
                                             " FROM ca_records WHERE role = ?1 AND active = 1 "
                                             "ORDER BY created_at DESC, id DESC LIMIT 1",
                                         "ca_records"));
  s.Bind(1, model::CaRoleName(role));
  return SingleRow<model::CaRecord>(
      s, ReadCa, "no active " + std::string(model::CaRoleName(role)) + " CA record");
}

Result<std::vector<model::CaRecord>> SqlCas::List() {
  CF_ASSIGN_OR_RETURN(
      auto s,
      s_.Prepare("SELECT " + std::string(kCaCols) + " FROM ca_records ORDER BY id", "ca_records"));
  return CollectRows<model::CaRecord>(s, ReadCa);
}

// ---- serials

Status SqlSerials::Reserve(const std::string& serial_hex, const std::string& ca_id, TimePoint at) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("INSERT INTO serials (serial_hex, ca_id, reserved_at) "
                                         "VALUES (?1, ?2, ?3)",
                                         "serials"));
  return s.Bind(1, serial_hex).Bind(2, ca_id).Bind(3, EncodeTime(at)).Run();
}

Result<bool> SqlSerials::Exists(const std::string& serial_hex) {
  CF_ASSIGN_OR_RETURN(auto s, s_.Prepare("SELECT 1 FROM serials WHERE serial_hex = ?1", "serials"));
  s.Bind(1, serial_hex);
  return s.Step();
}

}  // namespace certfleet::store::sql
