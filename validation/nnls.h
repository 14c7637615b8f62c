// Non-negative least squares, min ||A x - b||_2 subject to x >= 0 (Lawson and Hanson,
// "Solving Least Squares Problems", 1974, ch. 23): the active-set method that keeps a
// passive set P of free variables, solves the unconstrained problem on P, and steps back
// to the boundary whenever that solution leaves the feasible region.
#pragma once

#include <Eigen/Dense>

namespace validation {

// Returns x >= 0; `iterations` (if given) receives the outer iterations used.
Eigen::VectorXd nnls(const Eigen::MatrixXd& A, const Eigen::VectorXd& b, int* iterations = nullptr);

}  // namespace validation
