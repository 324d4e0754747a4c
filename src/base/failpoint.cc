#include "base/failpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/log.h"

namespace certfleet {

void Failpoint(std::string_view name) {
  static const std::string armed = [] {
    const char* v = std::getenv("CERTFLEET_FAILPOINT");
    return std::string(v != nullptr ? v : "");
  }();
  if (armed.empty() || armed != name) return;
  log::Warn("failpoint reached: killing this process", {{"failpoint", std::string(name)}});
  ::kill(::getpid(), SIGKILL);
  ::_exit(137);  // not reached
}

}  // namespace certfleet
