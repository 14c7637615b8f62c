// PAUSE-loop-exiting window arithmetic (arch/x86/kvm/x86.h __grow_ple_window /
// __shrink_ple_window), on unsigned 64-bit values as since ~4.19.
#pragma once

#include <algorithm>
#include <cstdint>

namespace kvm {

inline uint32_t grow_ple_window(uint32_t val, uint32_t base, uint32_t modifier, uint32_t max) {
  if (modifier < 1) return base;
  uint64_t v = val;
  v = modifier < base ? v * modifier : v + modifier;
  return static_cast<uint32_t>(std::min<uint64_t>(v, max));
}

inline uint32_t shrink_ple_window(uint32_t val, uint32_t base, uint32_t modifier, uint32_t min) {
  if (modifier < 1) return base;
  uint64_t v = val;
  v = modifier < base ? v / modifier : (v > modifier ? v - modifier : 0);
  return static_cast<uint32_t>(std::max<uint64_t>(v, min));
}

}  // namespace kvm
