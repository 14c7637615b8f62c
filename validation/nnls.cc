#include "validation/nnls.h"

#include <limits>
#include <vector>

namespace validation {

Eigen::VectorXd nnls(const Eigen::MatrixXd& A, const Eigen::VectorXd& b, int* iterations) {
  const Eigen::Index n = A.cols();
  Eigen::VectorXd x = Eigen::VectorXd::Zero(n);
  std::vector<bool> passive(static_cast<size_t>(n), false);
  const double tol = 10 * std::numeric_limits<double>::epsilon() * A.norm() * std::max<Eigen::Index>(A.rows(), n);
  const int max_iter = 3 * static_cast<int>(n) + 10;
  int it = 0;
  // Least squares on the passive columns only.
  auto solve_passive = [&](Eigen::VectorXd& z) {
    std::vector<Eigen::Index> idx;
    for (Eigen::Index j = 0; j < n; ++j)
      if (passive[static_cast<size_t>(j)]) idx.push_back(j);
    Eigen::MatrixXd Ap(A.rows(), static_cast<Eigen::Index>(idx.size()));
    for (size_t k = 0; k < idx.size(); ++k) Ap.col(static_cast<Eigen::Index>(k)) = A.col(idx[k]);
    const Eigen::VectorXd zp = Ap.completeOrthogonalDecomposition().solve(b);
    z = Eigen::VectorXd::Zero(n);
    for (size_t k = 0; k < idx.size(); ++k) z(idx[k]) = zp(static_cast<Eigen::Index>(k));
  };
  for (; it < max_iter; ++it) {
    const Eigen::VectorXd w = A.transpose() * (b - A * x);  // negative gradient
    Eigen::Index best = -1;
    double best_w = tol;
    for (Eigen::Index j = 0; j < n; ++j)
      if (!passive[static_cast<size_t>(j)] && w(j) > best_w) {
        best_w = w(j);
        best = j;
      }
    if (best < 0) break;  // Kuhn-Tucker conditions hold
    passive[static_cast<size_t>(best)] = true;
    for (int inner = 0; inner < max_iter; ++inner) {
      Eigen::VectorXd z;
      solve_passive(z);
      bool feasible = true;
      for (Eigen::Index j = 0; j < n; ++j)
        if (passive[static_cast<size_t>(j)] && z(j) <= 0) feasible = false;
      if (feasible) {
        x = z;
        break;
      }
      // Step from x toward z as far as feasibility allows; drop the variables that hit 0.
      double alpha = 1.0;
      for (Eigen::Index j = 0; j < n; ++j)
        if (passive[static_cast<size_t>(j)] && z(j) <= 0) alpha = std::min(alpha, x(j) / (x(j) - z(j)));
      x += alpha * (z - x);
      for (Eigen::Index j = 0; j < n; ++j)
        if (passive[static_cast<size_t>(j)] && x(j) <= tol) {
          passive[static_cast<size_t>(j)] = false;
          x(j) = 0;
        }
    }
  }
  if (iterations) *iterations = it;
  return x;
}

}  // namespace validation
