// File helpers that get modes and atomicity right from the first byte (docs/architecture.md
// "Security model": files holding keys are created 0600 from the start and renamed into place).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"

namespace certfleet {

// Writes `content` to a temporary file in the same directory created with O_CREAT|O_EXCL and
// `mode`, fsyncs it, renames it over `path` and fsyncs the directory. The final file never exists
// with a wider mode or partial content.
Status WriteFileAtomic(const std::string& path, std::string_view content, mode_t mode);
// Creates `path` only if it does not exist (O_EXCL); Conflict if it does.
Status WriteNewFile(const std::string& path, std::string_view content, mode_t mode);
// Reads a whole regular file of at most max_bytes (TooLarge beyond), refusing symlinks.
Result<std::string> ReadFileLimited(const std::string& path, size_t max_bytes);
Result<SecretBytes> ReadSecretFile(const std::string& path, size_t max_bytes);
// mkdir -p with the given mode for directories it creates.
Status MakeDirs(const std::string& path, mode_t mode);

}  // namespace certfleet
