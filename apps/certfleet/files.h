// Local file handling for the CLI: reading small (possibly secret) input files and writing output
// files atomically with their final permissions from the start (docs/architecture.md, security
// model: "files holding keys are created 0600 from the start and renamed into place"). Errors name
// the path and the system error; they never include file contents. Thread-compatible (no shared
// state).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "base/error.h"
#include "base/secret_bytes.h"

namespace certfleet::cli {

// Reads a regular file of at most `max_bytes`. NotFound if missing, InvalidArgument if not a
// regular file or too large, Unavailable for other I/O errors. Unlike base/files.h's
// ReadFileLimited this follows symlinks: CA bundles (/etc/ssl/certs) and mounted token files
// are routinely symlinks, and the CLI only reads files its user names.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);
// The same, straight into SecretBytes (no intermediate std::string holds the bytes).
Result<SecretBytes> ReadSmallSecretFile(const std::string& path, size_t max_bytes);

// Makes sure `dir` exists as a directory. Missing components are created with mode 0700; an
// existing directory is left as it is. InvalidArgument if a component is not a directory.
Status EnsureDirectory(const std::string& dir);

// Writes `data` to dir/name so that readers see either the old file or the complete new one,
// with exactly `mode` from the first byte (base/files.h WriteFileAtomic: O_CREAT|O_EXCL|O_NOFOLLOW
// temporary file, fsync, rename over dir/name, fsync of the directory). On failure dir/name is
// untouched. `name` must be a plain file name (no '/'), else InvalidArgument.
Status WriteFileAtomic(const std::string& dir, std::string_view name, std::string_view data,
                       mode_t mode);

}  // namespace certfleet::cli
