// The guest kernel's idle drivers (issue 6): idle=poll, default_idle (HLT), intel_idle
// (MWAIT, arch/x86/include/asm/mwait.h and drivers/idle/intel_idle.c) and cpuidle-haltpoll
// (drivers/cpuidle/cpuidle-haltpoll.c, governors/haltpoll.c).
#include <algorithm>

#include "guest/guest_cpu.h"
#include "hw/platform.h"
#include "kvm/steal_time.h"

namespace guest {

Task<> GuestCpu::idle_task() {
  switch (idle_) {
    case Idle::Poll: return poll_idle_loop(*this);
    case Idle::Mwait: return mwait_idle_loop(*this);
    case Idle::Haltpoll: return haltpoll_idle_loop(*this);
    case Idle::Halt: break;
  }
  return idle_loop(*this);
}

// intel_idle with the menu governor's timer-based choice: the deepest state whose target
// residency fits before the next timer; MWAIT hint = (state - 1) << 4 (C1E: sub-state 1).
Task<> GuestCpu::mwait_idle_loop(GuestCpu& g) {
  static constexpr uint64_t kHint[hw::kNumCStates] = {0x00, 0x00, 0x01, 0x10, 0x20, 0x30};
  for (;;) {
    const GuestVm* vm = g.vm();
    uint64_t hint = 0x00;
    if (vm && vm->power && vm->power->present) {
      const uint64_t now = co_await g.rdtsc();
      const double idle_us = g.next_timer_tsc == ~0ull ? 1e12
                             : g.next_timer_tsc > now ? static_cast<double>(g.next_timer_tsc - now) / vm->tsc_mhz : 0.0;
      hint = kHint[static_cast<int>(vm->power->deepest_for(idle_us))];
    }
    co_await g.sti();
    co_await g.op({hw::OpKind::Monitor});
    co_await g.op({hw::OpKind::Mwait, 0, hint});
  }
}

// cpuidle-haltpoll: poll (PAUSE, IRQs on) up to poll_limit_ns, then HLT; the limit grows
// (x2, from 50 us, up to guest_halt_poll_ns) after a short idle and shrinks (/2) after a
// long one. At init the guest turns host halt polling off (MSR_KVM_POLL_CONTROL = 0).
Task<> GuestCpu::haltpoll_idle_loop(GuestCpu& g) {
  constexpr uint64_t kGrowStart = 50000, kGrow = 2, kShrink = 2;
  co_await g.wrmsr(kvm::MSR_KVM_POLL_CONTROL, 0);
  const double tsc_mhz = g.vm() ? g.vm()->tsc_mhz : 1000.0;
  const uint64_t max_ns = g.vm() ? g.vm()->guest_halt_poll_ns : 200000;
  const uint64_t chunk = std::max<uint64_t>(1, static_cast<uint64_t>(1000.0 / std::max(1.0, g.costs().cpu_pause)));
  for (;;) {
    co_await g.sti();
    const uint64_t t0 = co_await g.rdtsc();
    const uint64_t irqs = g.interrupts_taken();
    uint64_t block_ns = 0;
    bool woke_polling = false;
    if (g.haltpoll_limit_ns) {
      ++g.haltpoll_polls;
      for (;;) {
        co_await g.pause(chunk);
        const uint64_t t = co_await g.rdtsc();
        block_ns = static_cast<uint64_t>(static_cast<double>(t - t0) * 1000.0 / tsc_mhz);
        if (g.interrupts_taken() != irqs) { woke_polling = true; break; }
        if (block_ns >= g.haltpoll_limit_ns) break;
      }
    }
    if (woke_polling) {
      ++g.haltpoll_poll_hits;
    } else {
      co_await g.hlt();
      const uint64_t t1 = co_await g.rdtsc();
      block_ns = static_cast<uint64_t>(static_cast<double>(t1 - t0) * 1000.0 / tsc_mhz);
    }
    // adjust_poll_limit
    if (block_ns > g.haltpoll_limit_ns && block_ns <= max_ns) {
      g.haltpoll_limit_ns = std::min(max_ns, std::max(g.haltpoll_limit_ns * kGrow, kGrowStart));
    } else if (block_ns > max_ns) {
      g.haltpoll_limit_ns /= kShrink;
    }
  }
}

}  // namespace guest
