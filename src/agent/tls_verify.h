// Checks which certificate a TLS endpoint serves after a reload.
//
// net's HTTPS client does not expose the peer certificate, so this file runs a small OpenSSL
// client handshake itself (the one place outside crypto/x509/net where the agent touches
// OpenSSL; everything is RAII and the error queue is cleared). The peer is NOT authenticated:
// the result is only compared with the serial the agent just installed. Thread-safe.
#pragma once
#include <chrono>
#include <string>

#include "base/error.h"

namespace certfleet::agent {

// Connects to "host:port", sends `sni` (if non-empty), completes the handshake and returns the
// served leaf's serial as x509::Certificate::serial_hex() formats it. Unavailable on connect or
// handshake failure; Timeout if it takes longer than `timeout`.
Result<std::string> FetchServedSerial(const std::string& address, const std::string& sni,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace certfleet::agent
