// One-dimensional distances between two distributions given as weighted samples (an
// empirical sample has weight 1 per value; a histogram has its bucket value weighted by the
// bucket's count), used by `kvmsim compare` to score latency distributions:
//   Kolmogorov-Smirnov  D  = sup_x |F(x) - G(x)|                       (0..1, unitless)
//   Wasserstein-1       W1 = integral |F(x) - G(x)| dx                 (in the samples' unit)
// F and G are the right-continuous empirical CDFs. W1 is also the least mean distance that
// moving one distribution's mass onto the other needs (earth mover's distance).
#pragma once

#include <utility>
#include <vector>

namespace validation {

class Distribution {
 public:
  Distribution() = default;
  explicit Distribution(const std::vector<double>& samples);             // weight 1 each
  explicit Distribution(std::vector<std::pair<double, double>> weighted);  // (value, weight >= 0)

  bool empty() const { return total_ <= 0; }
  double total_weight() const { return total_; }
  double mean() const;
  // Smallest value v with F(v) >= q (q in [0, 1]); 0 when empty.
  double quantile(double q) const;
  double cdf(double x) const;  // F(x) = share of the mass at values <= x
  // Points of the CDF's steps: (value, F(value)), for plots.
  std::vector<std::pair<double, double>> cdf_points() const;
  const std::vector<std::pair<double, double>>& points() const { return pts_; }

 private:
  std::vector<std::pair<double, double>> pts_;  // sorted by value, merged, weight > 0
  double total_ = 0;
};

double ks_distance(const Distribution& a, const Distribution& b);
double wasserstein1(const Distribution& a, const Distribution& b);

}  // namespace validation
