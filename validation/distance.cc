#include "validation/distance.h"

#include <algorithm>
#include <cmath>

namespace validation {

Distribution::Distribution(const std::vector<double>& samples) {
  std::vector<std::pair<double, double>> w;
  w.reserve(samples.size());
  for (double s : samples) w.emplace_back(s, 1.0);
  *this = Distribution(std::move(w));
}

Distribution::Distribution(std::vector<std::pair<double, double>> weighted) {
  std::erase_if(weighted, [](const auto& p) { return !(p.second > 0) || !std::isfinite(p.first) || !std::isfinite(p.second); });
  std::sort(weighted.begin(), weighted.end());
  for (const auto& [v, w] : weighted) {
    if (!pts_.empty() && pts_.back().first == v) pts_.back().second += w;
    else pts_.emplace_back(v, w);
    total_ += w;
  }
}

double Distribution::mean() const {
  if (empty()) return 0;
  double s = 0;
  for (const auto& [v, w] : pts_) s += v * w;
  return s / total_;
}

double Distribution::quantile(double q) const {
  if (empty()) return 0;
  const double target = std::clamp(q, 0.0, 1.0) * total_;
  double acc = 0;
  for (const auto& [v, w] : pts_) {
    acc += w;
    if (acc >= target * (1 - 1e-12)) return v;
  }
  return pts_.back().first;
}

double Distribution::cdf(double x) const {
  if (empty()) return 0;
  double acc = 0;
  for (const auto& [v, w] : pts_) {
    if (v > x) break;
    acc += w;
  }
  return acc / total_;
}

std::vector<std::pair<double, double>> Distribution::cdf_points() const {
  std::vector<std::pair<double, double>> out;
  double acc = 0;
  for (const auto& [v, w] : pts_) {
    acc += w;
    out.emplace_back(v, acc / total_);
  }
  return out;
}

namespace {

// Walks the union of both distributions' values, calling f(x, next_x, F(x), G(x)) for each
// step where the two CDFs are constant on [x, next_x).
template <class F>
void walk(const Distribution& a, const Distribution& b, F&& f) {
  const auto& pa = a.points();
  const auto& pb = b.points();
  size_t i = 0, j = 0;
  double fa = 0, fb = 0;
  while (i < pa.size() || j < pb.size()) {
    const double x = (j >= pb.size() || (i < pa.size() && pa[i].first <= pb[j].first)) ? pa[i].first : pb[j].first;
    while (i < pa.size() && pa[i].first == x) fa += pa[i++].second / a.total_weight();
    while (j < pb.size() && pb[j].first == x) fb += pb[j++].second / b.total_weight();
    double next = x;
    if (i < pa.size()) next = pa[i].first;
    if (j < pb.size()) next = (i < pa.size()) ? std::min(next, pb[j].first) : pb[j].first;
    f(x, next, fa, fb);
  }
}

}  // namespace

double ks_distance(const Distribution& a, const Distribution& b) {
  if (a.empty() || b.empty()) return 1.0;
  double d = 0;
  walk(a, b, [&](double, double, double fa, double fb) { d = std::max(d, std::abs(fa - fb)); });
  return std::min(d, 1.0);
}

double wasserstein1(const Distribution& a, const Distribution& b) {
  if (a.empty() || b.empty()) return 0.0;
  double w = 0;
  walk(a, b, [&](double x, double next, double fa, double fb) { w += std::abs(fa - fb) * (next - x); });
  return w;
}

}  // namespace validation
