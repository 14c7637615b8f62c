// Halt-polling window arithmetic (virt/kvm/kvm_main.c: grow_halt_poll_ns,
// shrink_halt_poll_ns, and the update at the end of kvm_vcpu_halt).
#pragma once

#include <cstdint>

namespace kvm {

struct HaltPollParams {
  uint64_t max_ns = 200000;
  uint32_t grow = 2;
  uint64_t grow_start = 10000;
  uint32_t shrink = 2;  // 0: reset to 0
};

inline uint64_t grow_halt_poll_ns(uint64_t val, const HaltPollParams& p) {
  if (p.grow == 0) return val;
  uint64_t v = val * p.grow;
  if (v < p.grow_start) v = p.grow_start;
  if (v > p.max_ns) v = p.max_ns;
  return v;
}

inline uint64_t shrink_halt_poll_ns(uint64_t val, const HaltPollParams& p) {
  if (p.shrink == 0) return 0;
  uint64_t v = val / p.shrink;
  if (v < p.grow_start) v = 0;
  return v;
}

// The new polling window after a halt of `halt_ns` (reference §6). `valid` is false when
// the wake-up was not a real event (a signal, a spurious wake).
inline uint64_t update_halt_poll_ns(uint64_t poll_ns, uint64_t halt_ns, bool valid, const HaltPollParams& p) {
  if (poll_ns > p.max_ns) poll_ns = p.max_ns;
  if (!valid) return shrink_halt_poll_ns(poll_ns, p);
  if (p.max_ns == 0) return 0;
  if (halt_ns <= poll_ns) return poll_ns;                     // the poll caught it: keep
  if (poll_ns && halt_ns > p.max_ns) return shrink_halt_poll_ns(poll_ns, p);  // too long to poll for
  if (poll_ns < p.max_ns && halt_ns < p.max_ns) return grow_halt_poll_ns(poll_ns, p);
  return poll_ns;
}

}  // namespace kvm
