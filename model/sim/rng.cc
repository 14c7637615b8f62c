#include "sim/rng.h"

#include <cmath>

namespace sim {

double Rng::exponential(double mean) { return -mean * std::log1p(-uniform()); }

}  // namespace sim
