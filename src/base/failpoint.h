// Failpoints: crash tests kill a process at a named step, to show that the store stays
// consistent and the work resumes (CONVENTIONS.md, "a crash or kill at any step").
//
// Failpoint("renewal.committed") does nothing unless the environment variable
// CERTFLEET_FAILPOINT, read once per process, names exactly that point; then the process logs the
// point and sends itself SIGKILL (no destructors, no flushing beyond the log line: as close to a
// power cut as a test can get). Production never sets the variable. Thread-safe.
#pragma once

#include <string_view>

namespace certfleet {

void Failpoint(std::string_view name);

}  // namespace certfleet
