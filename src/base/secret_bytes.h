// SecretBytes: the only container for key material and passphrases (CONVENTIONS.md #5).
// Move-only (copying needs an explicit Clone()), wiped on destruction and on reassignment, and
// without any printer: streaming or fmt-formatting one is a compile error.
// Not thread-safe; treat like a std::string you own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace certfleet {

class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(size_t size) : data_(size, 0) {}
  // Takes the bytes of `view`; the caller remains responsible for wiping its own copy.
  static SecretBytes FromView(std::string_view view);
  // Takes ownership of `s` and wipes the source string's buffer.
  static SecretBytes FromString(std::string&& s);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  SecretBytes Clone() const { return FromView(view()); }

  uint8_t* data() { return data_.data(); }
  const uint8_t* data() const { return data_.data(); }
  size_t size() const { return data_.size(); }
  bool empty() const { return data_.empty(); }
  void Resize(size_t n);
  void Append(std::string_view bytes);
  // A borrowed view for passing to crypto calls. Never log it.
  std::string_view view() const {
    return {reinterpret_cast<const char*>(data_.data()), data_.size()};
  }
  // Constant-time comparison.
  bool Equals(const SecretBytes& other) const;

 private:
  void Wipe();
  std::vector<uint8_t> data_;
};

// Deliberately no operator<< and no fmt::formatter: these declarations make any attempt to
// print a SecretBytes fail to compile.
template <typename Stream>
Stream& operator<<(Stream&, const SecretBytes&) = delete;

// Wipes a buffer in a way the optimizer cannot drop.
void SecureWipe(void* p, size_t n);

}  // namespace certfleet

namespace fmt {
template <typename T, typename Char, typename Enable>
struct formatter;
template <>
struct formatter<certfleet::SecretBytes, char, void>;  // declared, never defined
}  // namespace fmt
