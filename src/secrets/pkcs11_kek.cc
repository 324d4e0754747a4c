#include "secrets/pkcs11_kek.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "base/files.h"
#include "crypto/hash.h"

// p11-kit's copy of the OASIS v2.40 header: self-contained (no CK_PTR/CK_DEFINE_FUNCTION
// boilerplate) and we only use its types and constants; nothing links against p11-kit. Included
// last because it defines, and at its end undefines, many short macro names.
#include <p11-kit/pkcs11.h>

namespace certfleet::secrets {
namespace {

constexpr size_t kIvSize = 12;  // 96-bit IV, the size NIST SP 800-38D 5.2.1.1 recommends
constexpr size_t kTagSize = 16;
constexpr CK_ULONG kKeySize = 32;
constexpr size_t kMaxDekSize = 1024;
constexpr size_t kMaxPinFileSize = 256;
constexpr size_t kMaxIdleSessions = 8;
constexpr size_t kTokenLabelSize = sizeof(CK_TOKEN_INFO::label);
constexpr size_t kMaxKeyLabelSize = 256;
constexpr size_t kKeyIdSize = 16;
constexpr CK_ULONG kMaxKeyMatches = 16;

std::string RvName(CK_RV rv) {
  switch (rv) {
#define CF_RV_NAME(x) \
  case x:             \
    return #x;
    CF_RV_NAME(CKR_OK)
    CF_RV_NAME(CKR_HOST_MEMORY)
    CF_RV_NAME(CKR_SLOT_ID_INVALID)
    CF_RV_NAME(CKR_GENERAL_ERROR)
    CF_RV_NAME(CKR_FUNCTION_FAILED)
    CF_RV_NAME(CKR_ARGUMENTS_BAD)
    CF_RV_NAME(CKR_ATTRIBUTE_SENSITIVE)
    CF_RV_NAME(CKR_ATTRIBUTE_TYPE_INVALID)
    CF_RV_NAME(CKR_DATA_LEN_RANGE)
    CF_RV_NAME(CKR_DEVICE_ERROR)
    CF_RV_NAME(CKR_DEVICE_MEMORY)
    CF_RV_NAME(CKR_DEVICE_REMOVED)
    CF_RV_NAME(CKR_ENCRYPTED_DATA_INVALID)
    CF_RV_NAME(CKR_ENCRYPTED_DATA_LEN_RANGE)
    CF_RV_NAME(CKR_KEY_HANDLE_INVALID)
    CF_RV_NAME(CKR_KEY_FUNCTION_NOT_PERMITTED)
    CF_RV_NAME(CKR_MECHANISM_INVALID)
    CF_RV_NAME(CKR_MECHANISM_PARAM_INVALID)
    CF_RV_NAME(CKR_OPERATION_ACTIVE)
    CF_RV_NAME(CKR_PIN_INCORRECT)
    CF_RV_NAME(CKR_PIN_INVALID)
    CF_RV_NAME(CKR_PIN_LEN_RANGE)
    CF_RV_NAME(CKR_PIN_EXPIRED)
    CF_RV_NAME(CKR_PIN_LOCKED)
    CF_RV_NAME(CKR_SESSION_CLOSED)
    CF_RV_NAME(CKR_SESSION_COUNT)
    CF_RV_NAME(CKR_SESSION_HANDLE_INVALID)
    CF_RV_NAME(CKR_TEMPLATE_INCOMPLETE)
    CF_RV_NAME(CKR_TEMPLATE_INCONSISTENT)
    CF_RV_NAME(CKR_TOKEN_NOT_PRESENT)
    CF_RV_NAME(CKR_TOKEN_NOT_RECOGNIZED)
    CF_RV_NAME(CKR_USER_ALREADY_LOGGED_IN)
    CF_RV_NAME(CKR_USER_NOT_LOGGED_IN)
    CF_RV_NAME(CKR_USER_PIN_NOT_INITIALIZED)
    CF_RV_NAME(CKR_BUFFER_TOO_SMALL)
    CF_RV_NAME(CKR_CRYPTOKI_NOT_INITIALIZED)
    CF_RV_NAME(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef CF_RV_NAME
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "CKR_0x%08lx", static_cast<unsigned long>(rv));
  return buf;
}

// Return values that say the token or our session is unusable, as opposed to the token refusing
// the request. Unwrap() reports these as Unavailable, everything else as Unauthorized.
bool IsTokenUnavailable(CK_RV rv) {
  switch (rv) {
    case CKR_HOST_MEMORY:
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_COUNT:
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_KEY_HANDLE_INVALID:  // the key object was deleted behind our back
      return true;
    default:
      return false;
  }
}

Error TokenError(const std::string& what, CK_RV rv) {
  Error e = Unavailable("PKCS#11 " + what + " failed: " + RvName(rv));
  if (IsTokenUnavailable(rv)) e.WithRetry();
  return e;
}

// Fixed-width, blank-padded CK_UTF8CHAR fields (labels, serial numbers) as trimmed strings.
std::string Trimmed(const CK_UTF8CHAR* p, size_t n) {
  std::string s(reinterpret_cast<const char*>(p), n);
  size_t end = s.find_last_not_of(std::string(" \0", 2));
  return end == std::string::npos ? std::string() : s.substr(0, end + 1);
}

CK_BYTE* Bytes(std::string_view s) {
  // PKCS#11 v2.40 prototypes lack const on input buffers; the module does not write to them.
  return reinterpret_cast<CK_BYTE*>(const_cast<char*>(s.data()));
}

// One loaded and initialized module. PKCS#11 state is per process (C_Initialize may run once),
// so instances are shared through a registry keyed by the module's real path. This is the one
// piece of process-wide state here, and it mirrors the module's own.
class Module {
 public:
  static Result<std::shared_ptr<Module>> Get(const std::string& path);
  ~Module();
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  CK_FUNCTION_LIST* fn() const { return fn_; }

 private:
  Module(void* dl, CK_FUNCTION_LIST* fn, bool finalize) : dl_(dl), fn_(fn), finalize_(finalize) {}

  static std::mutex& RegistryMutex() {
    static std::mutex mu;
    return mu;
  }
  static std::map<std::string, std::weak_ptr<Module>>& Registry() {
    static std::map<std::string, std::weak_ptr<Module>> registry;
    return registry;
  }

  void* dl_;
  CK_FUNCTION_LIST* fn_;
  bool finalize_;  // false if someone else in this process initialized the module first
};

Result<std::shared_ptr<Module>> Module::Get(const std::string& path) {
  std::unique_ptr<char, decltype(&::free)> real(::realpath(path.c_str(), nullptr), &::free);
  if (!real) {
    return Unavailable("PKCS#11 module " + path + ": " + std::strerror(errno));
  }
  // Held while initializing, and by ~Module() while finalizing, so a new instance never sees a
  // module that is half way through C_Finalize.
  std::lock_guard<std::mutex> lock(RegistryMutex());
  std::weak_ptr<Module>& entry = Registry()[real.get()];
  if (std::shared_ptr<Module> existing = entry.lock()) return existing;

  void* dl = ::dlopen(real.get(), RTLD_NOW | RTLD_LOCAL);
  if (dl == nullptr) {
    const char* why = ::dlerror();
    return Unavailable("cannot load PKCS#11 module " + path + ": " + (why ? why : "dlopen"));
  }
  auto get_list = reinterpret_cast<CK_C_GetFunctionList>(::dlsym(dl, "C_GetFunctionList"));
  CK_FUNCTION_LIST* fn = nullptr;
  if (get_list == nullptr || get_list(&fn) != CKR_OK || fn == nullptr) {
    ::dlclose(dl);
    return Unavailable(path + " is not a PKCS#11 module (no usable C_GetFunctionList)");
  }
  // CKF_OS_LOCKING_OK: the module may use native locks, so sessions can be used from several
  // threads at once (one thread per session at a time).
  CK_C_INITIALIZE_ARGS args{};
  args.flags = CKF_OS_LOCKING_OK;
  CK_RV rv = fn->C_Initialize(&args);
  if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
    ::dlclose(dl);
    return Unavailable("PKCS#11 C_Initialize of " + path + " failed: " + RvName(rv));
  }
  std::shared_ptr<Module> module(new Module(dl, fn, rv == CKR_OK));
  entry = module;
  return module;
}

Module::~Module() {
  std::lock_guard<std::mutex> lock(RegistryMutex());
  if (finalize_) fn_->C_Finalize(nullptr);
  ::dlclose(dl_);
}

// An open session; closed on destruction. Holds the module so it outlives its sessions.
class Session {
 public:
  Session(std::shared_ptr<Module> module, CK_SESSION_HANDLE handle)
      : module_(std::move(module)), handle_(handle) {}
  Session(Session&& o) noexcept
      : module_(std::move(o.module_)), handle_(std::exchange(o.handle_, CK_INVALID_HANDLE)) {}
  Session& operator=(Session&& o) noexcept {
    if (this != &o) {
      Close();
      module_ = std::move(o.module_);
      handle_ = std::exchange(o.handle_, CK_INVALID_HANDLE);
    }
    return *this;
  }
  ~Session() { Close(); }

  CK_FUNCTION_LIST* fn() const { return module_->fn(); }
  CK_SESSION_HANDLE handle() const { return handle_; }

 private:
  void Close() {
    if (handle_ != CK_INVALID_HANDLE) module_->fn()->C_CloseSession(handle_);
    handle_ = CK_INVALID_HANDLE;
  }
  std::shared_ptr<Module> module_;
  CK_SESSION_HANDLE handle_;
};

Result<Session> OpenSession(const std::shared_ptr<Module>& module, CK_SLOT_ID slot, bool rw) {
  CK_FLAGS flags = CKF_SERIAL_SESSION | (rw ? CKF_RW_SESSION : 0);
  CK_SESSION_HANDLE h = CK_INVALID_HANDLE;
  CK_RV rv = module->fn()->C_OpenSession(slot, flags, nullptr, nullptr, &h);
  if (rv != CKR_OK) return TokenError("C_OpenSession", rv);
  return Session(module, h);
}

Status ValidateOptions(const Pkcs11KekOptions& o) {
  if (o.module_path.empty() || o.module_path[0] != '/') {
    return InvalidArgument("PKCS#11 module path must be absolute");
  }
  if (o.token_label.empty() || o.token_label.size() > kTokenLabelSize) {
    return InvalidArgument("PKCS#11 token label must be 1..32 bytes");
  }
  if (o.key_label.empty() || o.key_label.size() > kMaxKeyLabelSize) {
    return InvalidArgument("PKCS#11 key label must be 1..256 bytes");
  }
  if (o.pin_file.empty()) return InvalidArgument("PKCS#11 PIN file is not set");
  return Ok();
}

Result<SecretBytes> ReadPin(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return NotFound("PIN file " + path + " does not exist");
    return Unavailable("PIN file " + path + ": " + std::strerror(errno));
  }
  // The same rule as for key files (FileKek): the PIN guards the KEK.
  if ((st.st_mode & 077) != 0) {
    return FailedPrecondition("PIN file " + path +
                              " must not be accessible by group or others (chmod 600)");
  }
  CF_ASSIGN_OR_RETURN(SecretBytes pin, ReadSecretFile(path, kMaxPinFileSize));
  size_t n = pin.size();
  if (n > 0 && pin.data()[n - 1] == '\n') --n;
  if (n > 0 && pin.data()[n - 1] == '\r') --n;
  pin.Resize(n);  // wipes the dropped bytes
  if (pin.empty()) return InvalidArgument("PIN file " + path + " is empty");
  return pin;
}

struct Token {
  CK_SLOT_ID slot;
  std::string serial;
};

Result<Token> FindToken(Module& module, const std::string& label) {
  std::vector<CK_SLOT_ID> slots;
  CK_RV rv = CKR_BUFFER_TOO_SMALL;
  // Slots can appear between the two calls; retry a few times.
  for (int attempt = 0; attempt < 4 && rv == CKR_BUFFER_TOO_SMALL; ++attempt) {
    CK_ULONG n = 0;
    rv = module.fn()->C_GetSlotList(CK_TRUE, nullptr, &n);
    if (rv != CKR_OK) break;
    slots.resize(n);
    rv = module.fn()->C_GetSlotList(CK_TRUE, slots.data(), &n);
    if (rv == CKR_OK) slots.resize(n);
  }
  if (rv != CKR_OK) return TokenError("C_GetSlotList", rv);

  std::vector<std::pair<CK_SLOT_ID, CK_TOKEN_INFO>> matches;
  for (CK_SLOT_ID slot : slots) {
    CK_TOKEN_INFO info;
    if (module.fn()->C_GetTokenInfo(slot, &info) != CKR_OK) continue;
    if (Trimmed(info.label, sizeof info.label) == label) matches.emplace_back(slot, info);
  }
  if (matches.empty()) return NotFound("no PKCS#11 token labelled '" + label + "'");
  if (matches.size() > 1) {
    return FailedPrecondition(std::to_string(matches.size()) + " PKCS#11 tokens are labelled '" +
                              label + "'; labels must be unique");
  }
  const CK_TOKEN_INFO& info = matches[0].second;
  if ((info.flags & CKF_TOKEN_INITIALIZED) == 0 || (info.flags & CKF_USER_PIN_INITIALIZED) == 0) {
    return FailedPrecondition("PKCS#11 token '" + label + "' has no user PIN initialized");
  }
  return Token{matches[0].first, Trimmed(info.serialNumber, sizeof info.serialNumber)};
}

// Logs the user in for the whole application: PKCS#11 login state is shared by all sessions
// of the token, and lasts while at least one of them is open. Takes the PIN by value so it is
// wiped when this returns.
Status Login(Session& session, SecretBytes pin, const std::string& token_label) {
  CK_RV rv = session.fn()->C_Login(session.handle(), CKU_USER, pin.data(), pin.size());
  switch (rv) {
    case CKR_OK:
    case CKR_USER_ALREADY_LOGGED_IN:  // another instance in this process logged in already
      return Ok();
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
      return Unauthorized("PKCS#11 token '" + token_label + "' refused the PIN: " + RvName(rv));
    default:
      return TokenError("C_Login to token '" + token_label + "'", rv);
  }
}

Result<std::vector<CK_OBJECT_HANDLE>> FindKeys(Session& s, const std::string& label) {
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_BBOOL yes = CK_TRUE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_LABEL, Bytes(label), label.size()},
  };
  CK_RV rv = s.fn()->C_FindObjectsInit(s.handle(), tmpl, std::size(tmpl));
  if (rv != CKR_OK) return TokenError("C_FindObjectsInit", rv);
  // More than one match is an error anyway; one bounded batch is enough to tell.
  std::vector<CK_OBJECT_HANDLE> found(kMaxKeyMatches);
  CK_ULONG n = 0;
  rv = s.fn()->C_FindObjects(s.handle(), found.data(), found.size(), &n);
  s.fn()->C_FindObjectsFinal(s.handle());
  if (rv != CKR_OK) return TokenError("C_FindObjects", rv);
  found.resize(n);
  return found;
}

// Generates the KEK inside the token. CKA_ID is random so that a replaced key gets a new id().
Status CreateKey(const std::shared_ptr<Module>& module, CK_SLOT_ID slot, const std::string& label) {
  CF_ASSIGN_OR_RETURN(Session s, OpenSession(module, slot, /*rw=*/true));
  CK_BYTE key_id[kKeyIdSize];
  CK_RV rv = s.fn()->C_GenerateRandom(s.handle(), key_id, sizeof key_id);
  if (rv != CKR_OK) return TokenError("C_GenerateRandom", rv);
  CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
  CK_KEY_TYPE type = CKK_AES;
  CK_ULONG len = kKeySize;
  CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
  CK_ATTRIBUTE tmpl[] = {
      {CKA_CLASS, &cls, sizeof cls},
      {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_VALUE_LEN, &len, sizeof len},
      {CKA_TOKEN, &yes, sizeof yes},
      {CKA_PRIVATE, &yes, sizeof yes},
      {CKA_SENSITIVE, &yes, sizeof yes},
      {CKA_EXTRACTABLE, &no, sizeof no},
      {CKA_ENCRYPT, &yes, sizeof yes},
      {CKA_DECRYPT, &yes, sizeof yes},
      // Only GCM through C_Encrypt/C_Decrypt: no key wrapping, signing or derivation.
      {CKA_WRAP, &no, sizeof no},
      {CKA_UNWRAP, &no, sizeof no},
      {CKA_SIGN, &no, sizeof no},
      {CKA_VERIFY, &no, sizeof no},
      {CKA_DERIVE, &no, sizeof no},
      {CKA_LABEL, Bytes(label), label.size()},
      {CKA_ID, key_id, sizeof key_id},
  };
  CK_MECHANISM mech{CKM_AES_KEY_GEN, nullptr, 0};
  CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
  rv = s.fn()->C_GenerateKey(s.handle(), &mech, tmpl, std::size(tmpl), &key);
  if (rv != CKR_OK) return TokenError("C_GenerateKey for '" + label + "'", rv);
  return Ok();
}

// Refuses a key that does not meet the design (AES-256, sensitive, never extractable, usable
// for encrypt and decrypt), whoever created it.
Status CheckKeyPolicy(Session& s, CK_OBJECT_HANDLE key, const std::string& where) {
  CK_KEY_TYPE type = CK_UNAVAILABLE_INFORMATION;
  CK_ULONG len = 0;
  CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, encrypt = CK_FALSE, decrypt = CK_FALSE;
  CK_ATTRIBUTE attrs[] = {
      {CKA_KEY_TYPE, &type, sizeof type},
      {CKA_VALUE_LEN, &len, sizeof len},
      {CKA_SENSITIVE, &sensitive, sizeof sensitive},
      {CKA_EXTRACTABLE, &extractable, sizeof extractable},
      {CKA_ENCRYPT, &encrypt, sizeof encrypt},
      {CKA_DECRYPT, &decrypt, sizeof decrypt},
  };
  CK_RV rv = s.fn()->C_GetAttributeValue(s.handle(), key, attrs, std::size(attrs));
  if (rv != CKR_OK) {
    return FailedPrecondition("cannot read the attributes of " + where + ": " + RvName(rv));
  }
  if (type != CKK_AES || len != kKeySize) {
    return FailedPrecondition(where + " is not an AES-256 key");
  }
  if (sensitive != CK_TRUE || extractable != CK_FALSE) {
    return FailedPrecondition(where +
                              " can leave the token; it needs CKA_SENSITIVE=true and "
                              "CKA_EXTRACTABLE=false");
  }
  if (encrypt != CK_TRUE || decrypt != CK_TRUE) {
    return FailedPrecondition(where + " does not allow CKA_ENCRYPT and CKA_DECRYPT");
  }
  return Ok();
}

Result<std::string> KeyCkaId(Session& s, CK_OBJECT_HANDLE key) {
  CK_ATTRIBUTE attr{CKA_ID, nullptr, 0};
  CK_RV rv = s.fn()->C_GetAttributeValue(s.handle(), key, &attr, 1);
  // A key without CKA_ID (made by other tools) hashes as empty. Any other failure must not be
  // papered over: a different id() would orphan every record wrapped so far.
  if (rv == CKR_ATTRIBUTE_TYPE_INVALID || (rv == CKR_OK && attr.ulValueLen == 0)) {
    return std::string();
  }
  if (rv != CKR_OK || attr.ulValueLen == CK_UNAVAILABLE_INFORMATION) {
    return TokenError("C_GetAttributeValue(CKA_ID)", rv);
  }
  if (attr.ulValueLen > kMaxKeyLabelSize) return FailedPrecondition("CKA_ID is implausibly long");
  std::string id(attr.ulValueLen, '\0');
  attr.pValue = id.data();
  rv = s.fn()->C_GetAttributeValue(s.handle(), key, &attr, 1);
  if (rv != CKR_OK) return TokenError("C_GetAttributeValue(CKA_ID)", rv);
  id.resize(attr.ulValueLen);
  return id;
}

void AppendLengthPrefixed(std::string& out, std::string_view field) {
  uint32_t n = static_cast<uint32_t>(field.size());
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(n >> shift));
  out.append(field);
}

// Length-prefixed fields under a domain separator: (serial "ab", label "c") and (serial "a",
// label "bc") must not collide.
std::string MakeId(const std::string& serial, const std::string& label, const std::string& cka_id) {
  std::string in("certfleet pkcs11 kek id v1\0", 27);
  AppendLengthPrefixed(in, serial);
  AppendLengthPrefixed(in, label);
  AppendLengthPrefixed(in, cka_id);
  return "pkcs11-" + crypto::Sha256Hex(in).substr(0, 16);
}

CK_GCM_PARAMS GcmParams(CK_BYTE* iv, std::string_view aad) {
  CK_GCM_PARAMS p{};
  p.pIv = iv;
  p.ulIvLen = kIvSize;
  p.ulIvBits = kIvSize * 8;
  p.pAAD = aad.empty() ? nullptr : Bytes(aad);
  p.ulAADLen = aad.size();
  p.ulTagBits = kTagSize * 8;
  return p;
}

}  // namespace

struct Pkcs11Kek::State {
  State(std::shared_ptr<Module> m, CK_SLOT_ID s, std::string label, Session login_session,
        CK_OBJECT_HANDLE k)
      : module(std::move(m)),
        slot(s),
        token_label(std::move(label)),
        login(std::move(login_session)),
        key(k) {}

  // A pooled session, or a new one. Callers hand it back with Release() only after success:
  // a session that saw an error is closed, so no half-finished operation is ever reused.
  Result<Session> Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        Session s = std::move(idle.back());
        idle.pop_back();
        return s;
      }
    }
    // Read-only is enough for C_Encrypt/C_Decrypt; the login covers new sessions too.
    return OpenSession(module, slot, /*rw=*/false);
  }
  void Release(Session s) {
    std::lock_guard<std::mutex> lock(mu);
    if (idle.size() < kMaxIdleSessions) idle.push_back(std::move(s));
  }

  const std::shared_ptr<Module> module;
  const CK_SLOT_ID slot;
  const std::string token_label;
  // Never used after Open(); kept open because the login ends when the last session closes, and
  // the PIN is gone by then.
  Session login;
  const CK_OBJECT_HANDLE key;
  std::mutex mu;
  std::vector<Session> idle;  // guarded by mu
};

Pkcs11Kek::Pkcs11Kek(std::unique_ptr<State> state, std::string id)
    : state_(std::move(state)), id_(std::move(id)) {}

Pkcs11Kek::~Pkcs11Kek() = default;

Result<std::unique_ptr<Pkcs11Kek>> Pkcs11Kek::Open(const Pkcs11KekOptions& o) {
  CF_TRY(ValidateOptions(o));
  CF_ASSIGN_OR_RETURN(SecretBytes pin, ReadPin(o.pin_file));
  CF_ASSIGN_OR_RETURN(std::shared_ptr<Module> module, Module::Get(o.module_path));
  CF_ASSIGN_OR_RETURN(Token token, FindToken(*module, o.token_label));
  CF_ASSIGN_OR_RETURN(Session login, OpenSession(module, token.slot, /*rw=*/false));
  CF_TRY(Login(login, std::move(pin), o.token_label));

  const std::string where = "PKCS#11 key '" + o.key_label + "' on token '" + o.token_label + "'";
  CF_ASSIGN_OR_RETURN(std::vector<CK_OBJECT_HANDLE> keys, FindKeys(login, o.key_label));
  if (keys.empty() && o.create_key_if_missing) {
    CF_TRY(CreateKey(module, token.slot, o.key_label));
    // Search again rather than trusting the new handle: a concurrent creator shows up here.
    CF_ASSIGN_OR_RETURN(keys, FindKeys(login, o.key_label));
  }
  if (keys.empty()) {
    return NotFound(where + " does not exist (create_key_if_missing generates one)");
  }
  if (keys.size() > 1) {
    return FailedPrecondition(where + " is ambiguous: " + std::to_string(keys.size()) +
                              " secret keys carry that label");
  }
  CF_TRY(CheckKeyPolicy(login, keys[0], where));
  CF_ASSIGN_OR_RETURN(std::string cka_id, KeyCkaId(login, keys[0]));

  std::string id = MakeId(token.serial, o.key_label, cka_id);
  auto state = std::make_unique<State>(std::move(module), token.slot, o.token_label,
                                       std::move(login), keys[0]);
  return std::unique_ptr<Pkcs11Kek>(new Pkcs11Kek(std::move(state), std::move(id)));
}

Result<std::string> Pkcs11Kek::Wrap(const SecretBytes& dek, std::string_view aad) {
  if (dek.empty() || dek.size() > kMaxDekSize) {
    return InvalidArgument("data key to wrap must be 1..1024 bytes");
  }
  CF_ASSIGN_OR_RETURN(Session s, state_->Acquire());
  std::string out(kIvSize + dek.size() + kTagSize, '\0');
  CK_BYTE* iv = reinterpret_cast<CK_BYTE*>(out.data());
  // The IV comes from the token's RNG: random 96-bit IVs keep the GCM collision bound of
  // NIST SP 800-38D 8.3 far out of reach (2^32 wraps per key).
  CK_RV rv = s.fn()->C_GenerateRandom(s.handle(), iv, kIvSize);
  if (rv != CKR_OK) return TokenError("C_GenerateRandom", rv);
  CK_GCM_PARAMS gcm = GcmParams(iv, aad);
  CK_MECHANISM mech{CKM_AES_GCM, &gcm, sizeof gcm};
  rv = s.fn()->C_EncryptInit(s.handle(), &mech, state_->key);
  if (rv != CKR_OK) return TokenError("C_EncryptInit with " + id_, rv);
  CK_ULONG out_len = dek.size() + kTagSize;
  rv = s.fn()->C_Encrypt(s.handle(), const_cast<CK_BYTE*>(dek.data()), dek.size(), iv + kIvSize,
                         &out_len);
  if (rv != CKR_OK) return TokenError("C_Encrypt with " + id_, rv);
  if (out_len != dek.size() + kTagSize) {
    return Internal("PKCS#11 AES-GCM returned " + std::to_string(out_len) + " bytes, expected " +
                    std::to_string(dek.size() + kTagSize));
  }
  state_->Release(std::move(s));
  return out;
}

Result<SecretBytes> Pkcs11Kek::Unwrap(std::string_view wrapped, std::string_view aad) {
  // One message for every rejection: which check failed is nobody's business.
  auto rejected = [this] {
    return Unauthorized("wrapped key was not produced by key-encryption key " + id_ +
                        " for this record");
  };
  auto failed = [&](CK_RV rv) {
    if (IsTokenUnavailable(rv)) {
      return Unavailable("PKCS#11 token '" + state_->token_label +
                         "' cannot unwrap right now: " + RvName(rv))
          .WithRetry();
    }
    return rejected();
  };
  if (wrapped.size() <= kIvSize + kTagSize || wrapped.size() > kIvSize + kMaxDekSize + kTagSize) {
    return rejected();
  }
  CF_ASSIGN_OR_RETURN(Session s, state_->Acquire());
  std::string_view ct = wrapped.substr(kIvSize);
  CK_GCM_PARAMS gcm = GcmParams(Bytes(wrapped), aad);
  CK_MECHANISM mech{CKM_AES_GCM, &gcm, sizeof gcm};
  CK_RV rv = s.fn()->C_DecryptInit(s.handle(), &mech, state_->key);
  if (rv != CKR_OK) return failed(rv);
  // The plaintext goes straight into a SecretBytes; the buffer is sized for the ciphertext
  // because some modules check the output size before removing the tag.
  SecretBytes dek(ct.size());
  CK_ULONG len = dek.size();
  rv = s.fn()->C_Decrypt(s.handle(), Bytes(ct), ct.size(), dek.data(), &len);
  if (rv != CKR_OK) return failed(rv);
  if (len != ct.size() - kTagSize) return rejected();
  dek.Resize(len);
  state_->Release(std::move(s));
  return dek;
}

}  // namespace certfleet::secrets
