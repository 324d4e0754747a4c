#include "base/secret_bytes.h"

#include <string.h>

namespace certfleet {

void SecureWipe(void* p, size_t n) {
  if (p != nullptr && n > 0) explicit_bzero(p, n);
}

SecretBytes SecretBytes::FromView(std::string_view view) {
  SecretBytes s(view.size());
  if (!view.empty()) memcpy(s.data_.data(), view.data(), view.size());
  return s;
}

SecretBytes SecretBytes::FromString(std::string&& str) {
  SecretBytes s = FromView(str);
  SecureWipe(str.data(), str.size());
  str.clear();
  return s;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)) {
  other.data_.clear();
}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    Wipe();
    data_ = std::move(other.data_);
    other.data_.clear();
  }
  return *this;
}

SecretBytes::~SecretBytes() { Wipe(); }

void SecretBytes::Wipe() { SecureWipe(data_.data(), data_.capacity()); }

void SecretBytes::Resize(size_t n) {
  // Growing may reallocate; copy through a fresh buffer so the old one gets wiped.
  if (n > data_.capacity()) {
    std::vector<uint8_t> bigger(n, 0);
    std::copy(data_.begin(), data_.end(), bigger.begin());
    Wipe();
    data_.swap(bigger);
    return;
  }
  if (n < data_.size()) SecureWipe(data_.data() + n, data_.size() - n);
  data_.resize(n, 0);
}

void SecretBytes::Append(std::string_view bytes) {
  size_t old = data_.size();
  Resize(old + bytes.size());
  if (!bytes.empty()) memcpy(data_.data() + old, bytes.data(), bytes.size());
}

bool SecretBytes::Equals(const SecretBytes& other) const {
  if (size() != other.size()) return false;
  uint8_t diff = 0;
  for (size_t i = 0; i < size(); ++i) diff |= data_[i] ^ other.data_[i];
  return diff == 0;
}

}  // namespace certfleet
