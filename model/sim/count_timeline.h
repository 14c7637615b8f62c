// Event counts per time bin over a whole run in bounded memory: at most kMaxBins bins; when
// time outgrows them, neighbouring bins merge and the bin width doubles (a 1-ms timeline of
// a 10-minute run would otherwise grow for the whole run).
#pragma once

#include <cstdint>
#include <vector>

#include "sim/time.h"

namespace sim {

class CountTimeline {
 public:
  static constexpr size_t kMaxBins = 4096;
  explicit CountTimeline(Picos bin = ms(1)) : bin_(bin) {}
  void add(Picos t) {
    size_t i = static_cast<size_t>(t / bin_);
    while (i >= kMaxBins) {
      coarsen();
      i = static_cast<size_t>(t / bin_);
    }
    if (i >= counts_.size()) counts_.resize(i + 1, 0);
    ++counts_[i];
  }
  Picos bin() const { return bin_; }
  const std::vector<uint64_t>& counts() const { return counts_; }
  // The count of the bin of width `wide` (a power-of-two multiple of bin()) at index `i`.
  uint64_t count_in(Picos wide, size_t i) const {
    const size_t k = static_cast<size_t>(wide / bin_);
    uint64_t n = 0;
    for (size_t j = i * k; j < (i + 1) * k && j < counts_.size(); ++j) n += counts_[j];
    return n;
  }

 private:
  void coarsen() {
    for (size_t k = 0; k < counts_.size(); k += 2) counts_[k / 2] = counts_[k] + (k + 1 < counts_.size() ? counts_[k + 1] : 0);
    counts_.resize((counts_.size() + 1) / 2);
    bin_ *= 2;
  }
  Picos bin_;
  std::vector<uint64_t> counts_;
};

}  // namespace sim
