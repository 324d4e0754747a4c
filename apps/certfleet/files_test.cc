#include "files.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace certfleet::cli {
namespace {

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/certfleet_files_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::string cmd = "rm -rf '" + dir_ + "'";
    ASSERT_EQ(system(cmd.c_str()), 0);
  }
  static mode_t ModeOf(const std::string& path) {
    struct stat st;
    EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
    return st.st_mode & 07777;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // Names in dir_, to check no temporary file is left behind.
  std::vector<std::string> List(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = opendir(dir.c_str());
    while (auto* e = readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
  std::string dir_;
};

TEST_F(FilesTest, WritesWithExactModeRegardlessOfUmask) {
  mode_t old = umask(0077);
  ASSERT_TRUE(WriteFileAtomic(dir_, "cert.pem", "CERT", 0644).ok());
  umask(0);
  ASSERT_TRUE(WriteFileAtomic(dir_, "key.pem", "KEY", 0600).ok());
  umask(old);
  EXPECT_EQ(ModeOf(dir_ + "/cert.pem"), 0644u);
  EXPECT_EQ(ModeOf(dir_ + "/key.pem"), 0600u);
  EXPECT_EQ(Slurp(dir_ + "/key.pem"), "KEY");
  EXPECT_EQ(List(dir_), (std::vector<std::string>{"cert.pem", "key.pem"}));
}

TEST_F(FilesTest, ReplacesExistingFileAndSymlinkItself) {
  ASSERT_EQ(symlink("/etc/passwd", (dir_ + "/key.pem").c_str()), 0);
  ASSERT_TRUE(WriteFileAtomic(dir_, "key.pem", "NEW", 0600).ok());
  struct stat st;
  ASSERT_EQ(lstat((dir_ + "/key.pem").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));  // the link was replaced, not followed
  EXPECT_EQ(Slurp(dir_ + "/key.pem"), "NEW");
}

TEST_F(FilesTest, RejectsBadNames) {
  EXPECT_FALSE(WriteFileAtomic(dir_, "../x", "x", 0600).ok());
  EXPECT_FALSE(WriteFileAtomic(dir_, "", "x", 0600).ok());
  EXPECT_FALSE(WriteFileAtomic(dir_ + "/missing", "x", "x", 0600).ok());
}

TEST_F(FilesTest, EnsureDirectoryCreatesPrivateDirs) {
  mode_t old = umask(0022);
  ASSERT_TRUE(EnsureDirectory(dir_ + "/a/b").ok());
  umask(old);
  EXPECT_EQ(ModeOf(dir_ + "/a"), 0700u);
  EXPECT_EQ(ModeOf(dir_ + "/a/b"), 0700u);
  ASSERT_TRUE(EnsureDirectory(dir_ + "/a/b/").ok());  // existing: fine
  ASSERT_TRUE(WriteFileAtomic(dir_, "file", "x", 0644).ok());
  auto not_dir = EnsureDirectory(dir_ + "/file/sub");
  ASSERT_FALSE(not_dir.ok());
  EXPECT_EQ(not_dir.error().code(), ErrorCode::kInvalidArgument);
}

TEST_F(FilesTest, ReadsSmallFilesWithLimit) {
  ASSERT_TRUE(WriteFileAtomic(dir_, "t", "token\n", 0600).ok());
  auto s = ReadSmallSecretFile(dir_ + "/t", 16);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->view(), "token\n");
  EXPECT_EQ(ReadSmallFile(dir_ + "/t", 3).error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(ReadSmallFile(dir_ + "/missing", 3).error().code(), ErrorCode::kNotFound);
  EXPECT_EQ(ReadSmallFile(dir_, 3).error().code(), ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace certfleet::cli
