#pragma once
// TextTable: the CLI's tables (`berth list`, `berth mount list`): each column as wide as its
// widest cell, two spaces between columns, so values of any length stay aligned. Value type;
// not thread-safe.
#include <ostream>
#include <string>
#include <vector>

namespace berth::cli {

class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header);
  // A row with fewer cells than the header is padded with empty ones.
  void add(std::vector<std::string> row);
  void print(std::ostream& out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace berth::cli
