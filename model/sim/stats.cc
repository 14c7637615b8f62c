#include "sim/stats.h"

namespace sim {

double Histogram::quantile(double q) const {
  const uint64_t n = summary_.count;
  if (n == 0) return 0.0;
  q = std::clamp(q, 0.0, 1.0);
  // Rank of the wanted sample (1-based), nearest-rank definition.
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) {
      uint64_t lo = lower_bound_of(i);
      uint64_t hi = lower_bound_of(i + 1);
      double mid = (hi - lo <= 1) ? static_cast<double>(lo) : (lo + hi - 1) / 2.0;
      return std::clamp(mid, summary_.min, summary_.max);
    }
  }
  return summary_.max;
}

std::vector<Histogram::Bucket> Histogram::buckets() const {
  std::vector<Bucket> out;
  for (size_t i = 0; i < buckets_.size(); ++i)
    if (buckets_[i]) out.push_back({lower_bound_of(i), lower_bound_of(i + 1), buckets_[i]});
  return out;
}

}  // namespace sim
