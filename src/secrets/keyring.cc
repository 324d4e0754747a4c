#include "secrets/keyring.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <cstdio>
#include <filesystem>

#include "base/files.h"
#include "base/log.h"

namespace certfleet::secrets {

namespace fs = std::filesystem;

std::vector<KekProvider*> KekRing::retired() const {
  std::vector<KekProvider*> out;
  for (const auto& k : retired_) out.push_back(k.get());
  return out;
}

Status KekRing::LoadRetiredFileKeks(const std::string& data_dir, Random& random,
                                    bool include_kek_key) {
  std::vector<std::string> paths;
  if (include_kek_key && fs::exists(data_dir + "/kek.key")) paths.push_back(data_dir + "/kek.key");
  std::error_code ec;
  if (fs::is_directory(data_dir + "/kek.d", ec)) {
    for (const auto& entry : fs::directory_iterator(data_dir + "/kek.d", ec)) {
      if (entry.path().extension() == ".key") paths.push_back(entry.path().string());
    }
  }
  for (const std::string& p : paths) {
    CF_ASSIGN_OR_RETURN(std::unique_ptr<FileKek> k, FileKek::LoadOrCreate(p, random));
    if (k->id() == active_->id()) continue;
    retired_.push_back(std::move(k));
  }
  return Ok();
}

Status RotateFileKek(const std::string& data_dir, Random& random) {
  const std::string active = data_dir + "/kek.key";
  CF_ASSIGN_OR_RETURN(std::unique_ptr<FileKek> old, FileKek::LoadOrCreate(active, random));
  CF_TRY(MakeDirs(data_dir + "/kek.d", 0700));
  const std::string retired = data_dir + "/kek.d/" + old->id() + ".key";
  // Link first, then remove: at every instant the old key exists under at least one name.
  if (::link(active.c_str(), retired.c_str()) != 0 && errno != EEXIST) {
    return Unavailable("cannot retire " + active + " into " + retired);
  }
  if (::unlink(active.c_str()) != 0) return Unavailable("cannot remove " + active);
  CF_ASSIGN_OR_RETURN(std::unique_ptr<FileKek> fresh, FileKek::LoadOrCreate(active, random));
  log::Info("key-encryption key rotated", {{"retired", old->id()}, {"active", fresh->id()}});
  return Ok();
}

Result<int64_t> RewrapAll(store::Store& store, const Sealer& sealer, size_t batch) {
  int64_t total = 0;
  while (true) {
    CF_ASSIGN_OR_RETURN(auto tx, store.Begin());
    CF_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                        tx->blobs().ListNotWrappedBy(sealer.active().id(), batch));
    if (ids.empty()) break;
    for (const std::string& id : ids) {
      CF_ASSIGN_OR_RETURN(model::SealedBlob blob, tx->blobs().Get(id));
      CF_ASSIGN_OR_RETURN(std::string wrapped, sealer.Rewrap(blob));
      CF_TRY(tx->blobs().UpdateWrapping(id, sealer.active().id(), wrapped));
    }
    CF_TRY(tx->Commit());
    total += int64_t(ids.size());
  }
  return total;
}

}  // namespace certfleet::secrets
