// Simulated time: integer picoseconds (SystemC's default resolution), and cycle conversion.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace sim {

using Picos = uint64_t;
inline constexpr Picos kNever = std::numeric_limits<Picos>::max();
inline constexpr Picos kPsPerNs = 1000;
inline constexpr Picos kPsPerUs = 1000 * kPsPerNs;
inline constexpr Picos kPsPerMs = 1000 * kPsPerUs;
inline constexpr Picos kPsPerSec = 1000 * kPsPerMs;

inline constexpr Picos ns(double v) { return static_cast<Picos>(v * 1e3 + 0.5); }
inline constexpr Picos us(double v) { return static_cast<Picos>(v * 1e6 + 0.5); }
inline constexpr Picos ms(double v) { return static_cast<Picos>(v * 1e9 + 0.5); }
inline double to_ns(Picos p) { return static_cast<double>(p) / 1e3; }
inline double to_us(Picos p) { return static_cast<double>(p) / 1e6; }
inline double to_sec(Picos p) { return static_cast<double>(p) / 1e12; }

// A clock domain: converts cycles to picoseconds and back. Rounds to the nearest
// picosecond; the error stays below 1 ps per conversion, far under any cost.
class Clock {
 public:
  Clock() = default;
  explicit Clock(double mhz) : mhz_(mhz), ps_per_cycle_(1e6 / mhz) {}
  double mhz() const { return mhz_; }
  Picos cycles(double c) const { return static_cast<Picos>(c * ps_per_cycle_ + 0.5); }
  // Whole cycles elapsed at time t (a counter such as the TSC).
  uint64_t count_at(Picos t) const {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(t) * static_cast<uint64_t>(mhz_ * 1000.0 + 0.5)) / 1'000'000'000ull);
  }
  // Earliest time at which count_at(t) >= count.
  Picos time_of_count(uint64_t count) const {
    const uint64_t khz = static_cast<uint64_t>(mhz_ * 1000.0 + 0.5);
    unsigned __int128 num = static_cast<unsigned __int128>(count) * 1'000'000'000ull;
    return static_cast<Picos>((num + khz - 1) / khz);
  }
  double to_cycles(Picos p) const { return static_cast<double>(p) / ps_per_cycle_; }

 private:
  double mhz_ = 1000.0;
  double ps_per_cycle_ = 1000.0;
};

}  // namespace sim
