#include <gtest/gtest.h>

#include <sstream>

#include "server/cli/TextTable.h"

namespace berth::cli {
namespace {

std::string printed(const TextTable& table) {
  std::ostringstream out;
  table.print(out);
  return out.str();
}

// `berth list` once printed "containerd172.30.16.2": widths come from the values now.
TEST(TextTableTest, ColumnsAreAsWideAsTheirWidestCell) {
  TextTable table({"PROFILE", "RUNTIME", "ADDRESS"});
  table.add({"a-profile-name-of-thirty-one-ch", "containerd", "172.30.16.2"});
  table.add({"b", "docker", ""});
  EXPECT_EQ(printed(table),
            "PROFILE                          RUNTIME     ADDRESS\n"
            "a-profile-name-of-thirty-one-ch  containerd  172.30.16.2\n"
            "b                                docker\n");
}

TEST(TextTableTest, ShortRowsArePadded) {
  TextTable table({"NAME", "STATUS", "ARCH"});
  table.add({"keep", "Deleted"});
  table.add({"x", "Running", "x86_64"});
  EXPECT_EQ(printed(table),
            "NAME  STATUS   ARCH\n"
            "keep  Deleted\n"
            "x     Running  x86_64\n");
}

}  // namespace
}  // namespace berth::cli
