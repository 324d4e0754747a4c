#include "output.h"

#include <gtest/gtest.h>

#include <sstream>

namespace certfleet::cli {
namespace {

TEST(Table, AlignsColumnsWithoutTrailingBlanks) {
  Table t({"ID", "NAME", "STATUS"});
  t.AddRow({"crt_1", "web", "issued"});
  t.AddRow({"crt_22", "a-much-longer-name", ""});
  std::ostringstream out;
  t.Print(out);
  EXPECT_EQ(out.str(),
            "ID      NAME                STATUS\n"
            "crt_1   web                 issued\n"
            "crt_22  a-much-longer-name\n");
}

TEST(PrintKeyValues, AlignsValues) {
  std::ostringstream out;
  PrintKeyValues(out, {{"id", "crt_1"}, {"not after", "2027"}});
  EXPECT_EQ(out.str(), "id:        crt_1\nnot after: 2027\n");
}

TEST(Cell, RendersJsonValues) {
  EXPECT_EQ(Cell(nullptr), "-");
  EXPECT_EQ(Cell(true), "yes");
  EXPECT_EQ(Cell(false), "no");
  EXPECT_EQ(Cell(3), "3");
  EXPECT_EQ(Cell(nlohmann::json::array({"a.test", "b.test"})), "a.test, b.test");
  EXPECT_EQ(Cell(nlohmann::json::object()), "-");
  EXPECT_EQ(Cell(nlohmann::json{{"env", "dev"}, {"team", "x"}}), "env=dev, team=x");
}

TEST(Cell, SanitizesControlCharacters) { EXPECT_EQ(Cell("evil\x1b[2Jname\n"), "evil?[2Jname?"); }

TEST(Field, MissingIsDash) {
  nlohmann::json c = {{"id", "crt_1"}, {"serial", nullptr}};
  EXPECT_EQ(Field(c, "id"), "crt_1");
  EXPECT_EQ(Field(c, "serial"), "-");
  EXPECT_EQ(Field(c, "nope"), "-");
  EXPECT_EQ(Field(nlohmann::json::array(), "id"), "-");
}

}  // namespace
}  // namespace certfleet::cli

namespace certfleet::cli {
namespace {

TEST(PrintItems, OneRowPerItem) {
  nlohmann::json items = nlohmann::json::array(
      {{{"id", "acc_1"}, {"name", "default"}}, {{"id", "acc_22"}, {"name", nullptr}}});
  std::ostringstream out;
  PrintItems(out, items, {{"ID", "id"}, {"NAME", "name"}});
  EXPECT_EQ(out.str(), "ID      NAME\nacc_1   default\nacc_22  -\n");
}

TEST(PrintItems, HeaderOnlyForEmptyOrNonArray) {
  std::ostringstream out;
  PrintItems(out, nlohmann::json::object(), {{"ID", "id"}});
  EXPECT_EQ(out.str(), "ID\n");
}

TEST(PrintFields, LabelsInOrder) {
  std::ostringstream out;
  PrintFields(out, {{"id", "grt_1"}, {"revoked", false}}, {{"id", "id"}, {"revoked", "revoked"}});
  EXPECT_EQ(out.str(), "id:      grt_1\nrevoked: no\n");
}

TEST(SanitizeText, KeepsLinesAndTabs) {
  EXPECT_EQ(SanitizeText("[request]\n\tallow_wildcards = false\x1b\r\n"),
            "[request]\n\tallow_wildcards = false??\n");
}

}  // namespace
}  // namespace certfleet::cli
