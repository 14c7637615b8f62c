// Statistics: running summaries and log-linear latency histograms (HDR style, fixed
// memory, O(1) record), used on the hot path.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace sim {

// count / min / max / mean / variance (Welford would be overkill: values are bounded).
struct Summary {
  uint64_t count = 0;
  double sum = 0, sum_sq = 0;
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();

  void add(double v) {
    ++count; sum += v; sum_sq += v * v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  double mean() const { return count ? sum / count : 0.0; }
  double stddev() const {
    if (count < 2) return 0.0;
    double var = (sum_sq - sum * sum / count) / (count - 1);
    return var > 0 ? std::sqrt(var) : 0.0;
  }
  void merge(const Summary& o) {
    count += o.count; sum += o.sum; sum_sq += o.sum_sq;
    min = std::min(min, o.min); max = std::max(max, o.max);
  }
};

// Log-linear histogram of non-negative integers (e.g. nanoseconds): 2^kSubBits linear
// buckets per power of two, so the relative error of a percentile is below 1/2^kSubBits.
class Histogram {
 public:
  static constexpr int kSubBits = 6;
  static constexpr int kSub = 1 << kSubBits;
  Histogram() : buckets_((64 - kSubBits + 1) * kSub, 0) {}

  void record(uint64_t v) {
    ++buckets_[index(v)];
    summary_.add(static_cast<double>(v));
  }
  uint64_t count() const { return summary_.count; }
  const Summary& summary() const { return summary_; }
  // Value at quantile q in [0,1]: the midpoint of the bucket holding it (exact below kSub).
  double quantile(double q) const;
  // Non-empty buckets as (lower bound, upper bound exclusive, count).
  struct Bucket { uint64_t lo, hi, count; };
  std::vector<Bucket> buckets() const;
  void merge(const Histogram& o) {
    for (size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
    summary_.merge(o.summary_);
  }

 private:
  static size_t index(uint64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - kSubBits;
    return static_cast<size_t>((shift + 1) * kSub + ((v >> shift) - kSub));
  }
  static uint64_t lower_bound_of(size_t i) {
    if (i < static_cast<size_t>(kSub)) return i;
    size_t shift = i / kSub - 1;
    return (static_cast<uint64_t>(kSub) + i % kSub) << shift;
  }
  std::vector<uint64_t> buckets_;
  Summary summary_;
};

}  // namespace sim
