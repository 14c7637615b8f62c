// A model of rt-tests' cyclictest (src/cyclictest/cyclictest.c, `-p 99 -n -m -a`): on each
// of `threads` CPUs a priority-99 thread sleeps with clock_nanosleep(TIMER_ABSTIME) to an
// absolute `interval` grid and measures its wake-up latency = the time it reads after
// waking - the time it asked for. Nothing is drawn from a latency distribution: the value
// is whatever the interrupt path (exits, handlers, injection, guest IRQ and wake-up,
// scheduling) takes in the simulated machine.
//
// The guest kernel's part of a loop, as a NO_HZ idle Linux guest runs it with the
// lapic-deadline clockevent:
//   sleep:  hrtimer_start -> program IA32_TSC_DEADLINE, idle (sti; hlt)
//   expiry: timer interrupt (entry, hrtimer_interrupt -> hrtimer_wakeup, EOI)
//   wake:   tick_nohz_idle_exit restarts the tick (programs TSC_DEADLINE again), schedule()
//           to cyclictest, clock_gettime
// `native` (bare metal) runs the same program as a host task: the host kernel's hrtimer and
// scheduler (model/host/native_task.h) do those steps in root mode and are charged there.
//
// Optional network receive (iperf on an SR-IOV VF): the VF's MSI handler runs NAPI in
// softirq with interrupts enabled; a timer interrupt can nest, but the woken cyclictest
// thread runs only when the softirq is done.
//
// Metrics: cyclictest.{min,avg,max,p50,p99,p999,p9999}_us, .loops, .interval_us, .threads,
// .overruns; files: cyclictest.txt (rt-tests' -q -h output), cyclictest_histogram.csv.
#pragma once

#include <cstdint>
#include <functional>

#include "guest/workload.h"

namespace guest {

struct CyclictestParams {
  uint64_t loops = 10000;
  double interval_us = 1000;
  int threads = 1;           // thread i runs on vCPU i
  int priority = 99;
  int histogram_us = 1000;   // -h: buckets of 1 us
  bool native = false;       // bare metal
  bool guest_tick_restart = true;  // NO_HZ idle guest: restart the tick on waking
  bool lazy_fpu = false;     // guest.lazy_fpu: CLTS when switching from idle to cyclictest
  double guest_hz = 250;
  // The guest's clockevent: lapic-deadline (IA32_TSC_DEADLINE) or lapic one-shot (TMICT at
  // divide 1; seed 001's qemu64 guest CPU had no tsc-deadline). The one-shot timer counts at
  // the frequency the guest calibrated: KVM's emulated APIC bus (1 GHz), or the physical one
  // when TMICT passes through (DirectIRQ) or on bare metal.
  bool oneshot = false;
  double apic_timer_mhz = 1000.0;
  // Network receive on vCPU 0: the VF's MSI vector in the guest, and its NAPI poll.
  uint8_t nic_vector = 0;    // 0: no NIC
  std::function<uint64_t()> nic_take_packets;
};

std::unique_ptr<Workload> make_cyclictest_workload(const CyclictestParams& p);

}  // namespace guest
