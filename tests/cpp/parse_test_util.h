// Shared helpers of the parser tests: sample files, line counting, garbling.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <string_view>

namespace parse_test {

inline std::string read_sample(const std::string& name) {
  std::string path = std::string(KVMSIM_SOURCE_DIR) + "/validation/samples/" + name;
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline size_t count_lines(std::string_view s) {
  size_t n = static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  return n + (!s.empty() && s.back() != '\n' ? 1 : 0);
}

inline std::string garble(std::string text, std::mt19937& rng) {
  size_t at = std::uniform_int_distribution<size_t>(0, text.size() - 1)(rng);  // inside a line
  int n = std::uniform_int_distribution<int>(1, 4)(rng);
  for (int i = 0; i < n; ++i) {
    char c = static_cast<char>(std::uniform_int_distribution<int>(0, 255)(rng));
    if (c == '\n') c = '#';
    text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c);
  }
  return text;
}

}  // namespace parse_test
