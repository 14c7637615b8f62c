// Issue 3 (latency-critical guests): each mechanism's effect on the exits it removes, the
// cyclictest output read back by validation's parser, configuration errors, and the timer
// edge cases (deadline in the past, beyond the preemption timer, firing while halted and
// while preempted). Short runs of scenarios/rt_cyclictest.yaml's machine.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "guest/guest_cpu.h"
#include "hw/apic_regs.h"
#include "run/runner.h"
#include "run/schema.h"
#include "run/system.h"
#include "run_helpers.h"
#include "sim/config.h"
#include "validation/cyclictest.h"

namespace {

using testutil::exits;
using testutil::metric;

// The seed 001 machine with a short cyclictest and no random noise, in `mode`.
sim::Config rt_config(const std::string& mode, const std::vector<std::string>& sets = {}, uint64_t loops = 400) {
  std::string yaml =
      "platform: core-i7-3770\nrun: {progress: false, max_sim_ms: 5000}\nvm: {vcpus: 1, pin: [3]}\n"
      "workload: {kind: cyclictest}\nrt: {mode: " + mode + ", load: idle}\n"
      "kvm: {lapic_timer_advance_ns: 0, halt_poll_ns: 0}\ncyclictest: {loops: " + std::to_string(loops) + ", histogram_us: 200}\n";
  return testutil::scenario(yaml, sets);
}

run::RunResult run_rt(const std::string& mode, const std::vector<std::string>& sets = {}, uint64_t loops = 400) {
  return run::run_scenario(rt_config(mode, sets, loops));
}

void expect_invariants_zero(const run::RunResult& r) {
  for (const auto& [k, v] : r.metrics)
    if (k.rfind("invariant.", 0) == 0) {
      EXPECT_EQ(v, 0.0) << k;
    }
}

TEST(Cyclictest, OutputParsesBackWithTheCyclictestParser) {
  const auto r = run_rt("kvm", {"rt.load=host_cpu", "host.kthread_hz=200"}, 600);
  const auto c = validation::parse_cyclictest(r.files.at("cyclictest.txt"));
  EXPECT_EQ(c.stats.bad_lines, 0u);
  ASSERT_EQ(c.threads.size(), 1u);
  EXPECT_EQ(c.threads[0].count, 600u);
  EXPECT_EQ(c.threads[0].prio, 99);
  EXPECT_EQ(c.threads[0].interval_us, 1000);
  EXPECT_EQ(c.threads[0].min, static_cast<int64_t>(metric(r, "cyclictest.min_us")));
  EXPECT_EQ(c.threads[0].max, static_cast<int64_t>(metric(r, "cyclictest.max_us")));
  EXPECT_NEAR(static_cast<double>(c.threads[0].avg), metric(r, "cyclictest.avg_us"), 0.51);
  ASSERT_EQ(c.histogram.size(), 200u);
  uint64_t sum = 0;
  for (const auto& b : c.histogram) sum += b.counts.at(0);
  ASSERT_EQ(c.totals.size(), 1u);
  ASSERT_EQ(c.overflows.size(), 1u);
  EXPECT_EQ(sum, c.totals[0]);
  EXPECT_EQ(sum + c.overflows[0], 600u);
  EXPECT_EQ(c.max.at(0), static_cast<uint64_t>(metric(r, "cyclictest.max_us")));
  EXPECT_GT(metric(r, "cyclictest.p9999_us"), metric(r, "cyclictest.p50_us") - 1e-9);
  expect_invariants_zero(r);
}

TEST(Cyclictest, SameSeedSameResultOtherSeedOtherTail) {
  const auto a = run_rt("kvm", {"rt.load=host_cpu", "host.kthread_hz=500"});
  const auto b = run_rt("kvm", {"rt.load=host_cpu", "host.kthread_hz=500"});
  EXPECT_EQ(a.metrics, b.metrics);
  const auto c = run_rt("kvm", {"rt.load=host_cpu", "host.kthread_hz=500", "seed=2"});
  EXPECT_NE(metric(a, "cyclictest.avg_us"), metric(c, "cyclictest.avg_us"));
}

// KVM default, idle guest: per loop one HLT exit and three MSR_WRITEs (arm, EOI, the tick
// restart); the timer fires while the vCPU is blocked (sw hrtimer).
TEST(RtMechanism, KvmDefaultExitsPerLoop) {
  const auto r = run_rt("kvm");
  EXPECT_EQ(exits(r, "HLT"), 401u);  // the last loop's halt is still open at the end... or not
  EXPECT_NEAR(static_cast<double>(exits(r, "MSR_WRITE")), 3.0 * 400, 3.0);
  EXPECT_NEAR(metric(r, "rt.timer_exits"), 2.0 * 400, 3.0);
  EXPECT_GE(metric(r, "timer.sw_armed"), 400.0);  // halted: the timer is an hrtimer
  expect_invariants_zero(r);
}

// Timer passthrough: the guest's TSC_DEADLINE writes do not exit; timer-caused exits fall
// below half of KVM's. With HLT passthrough the timer fires in guest mode: one
// EXTERNAL_INTERRUPT exit each, counted as timer exits, against KVM's hv timer (a
// PREEMPTION_TIMER exit each, plus the two arming exits).
TEST(RtMechanism, TimerPassthroughHalvesTimerExits) {
  const auto kvm = run_rt("kvm");
  const auto tpt = run_rt("kvm_timer_passthrough");
  EXPECT_LT(metric(tpt, "rt.timer_exits"), 0.5 * metric(kvm, "rt.timer_exits"));
  EXPECT_NEAR(static_cast<double>(exits(tpt, "MSR_WRITE")), 400, 3.0);  // only the EOI
  expect_invariants_zero(tpt);
  const std::vector<std::string> in_guest = {"kvm.hlt_in_guest=true", "kvm.hv_timer=true"};
  const auto kvm_g = run_rt("kvm", in_guest);
  auto tpt_sets = in_guest;
  tpt_sets.push_back("kvm.timer_passthrough=true");
  const auto tpt_g = run_rt("kvm", tpt_sets);
  EXPECT_NEAR(static_cast<double>(exits(kvm_g, "PREEMPTION_TIMER")), 400, 3.0);
  EXPECT_NEAR(metric(kvm_g, "rt.timer_exits"), 3.0 * 400, 4.0);
  EXPECT_NEAR(metric(tpt_g, "rt.timer_fire_exits"), 400, 3.0);
  EXPECT_NEAR(metric(tpt_g, "rt.timer_exits"), 400, 3.0);
  EXPECT_LT(metric(tpt_g, "rt.timer_exits"), 0.5 * metric(kvm_g, "rt.timer_exits"));
  expect_invariants_zero(tpt_g);
}

// The host's own timer (its tick with a host task beside the vCPU) rides the preemption
// timer while the guest owns the physical timer.
TEST(RtMechanism, TimerPassthroughMovesHostTimerToPreemptionTimer) {
  const auto r = run_rt("kvm_timer_passthrough", {"kvm.hlt_in_guest=true", "host.busy_cpus=[3]", "vm.vcpu_rt_priority=0"});
  EXPECT_GT(metric(r, "rt.host_timer_preemption_exits"), 10.0);
  EXPECT_EQ(metric(r, "rt.host_timer_preemption_exits"), static_cast<double>(exits(r, "PREEMPTION_TIMER")));
  EXPECT_EQ(metric(r, "cyclictest.loops"), 400.0);
  expect_invariants_zero(r);
}

// Exitless timer (what-if posted interrupts on this CPU): no PREEMPTION_TIMER exits and no
// external interrupts on the vCPU's core; the timer arrives as a posted interrupt.
TEST(RtMechanism, ExitlessTimerRemovesTimerFireExits) {
  const std::vector<std::string> whatif = {"rt.whatif_posted_interrupts=true"};
  auto hv = whatif;
  hv.insert(hv.end(), {"kvm.hlt_in_guest=true", "kvm.hv_timer=true"});
  const auto base = run_rt("kvm_isolated", hv);
  const auto ex = run_rt("kvm_exitless_timer", whatif);
  EXPECT_NEAR(static_cast<double>(exits(base, "PREEMPTION_TIMER")), 400, 3.0);
  EXPECT_EQ(exits(ex, "PREEMPTION_TIMER"), 0u);
  EXPECT_EQ(exits(ex, "EXTERNAL_INTERRUPT"), 0u);
  EXPECT_EQ(exits(ex, "HLT"), 0u);
  EXPECT_EQ(metric(ex, "rt.timer_fire_exits"), 0.0);
  EXPECT_GE(metric(ex, "interrupts.pi_notifications"), 399.0);
  EXPECT_EQ(metric(ex, "cyclictest.loops"), 400.0);
  expect_invariants_zero(ex);
}

// DirectIRQ: the timer fires into the guest IDT, EOI goes to the physical APIC: no HLT,
// EOI or interrupt exits, only the converted TSC_DEADLINE writes.
TEST(RtMechanism, DirectIrqLeavesOnlyConvertedDeadlineWrites) {
  const auto iso = run_rt("kvm_isolated");
  const auto d = run_rt("kvm_directirq");
  EXPECT_EQ(exits(iso, "HLT"), 401u);
  EXPECT_EQ(exits(d, "HLT"), 0u);
  EXPECT_EQ(exits(d, "EXTERNAL_INTERRUPT"), 0u);
  EXPECT_NEAR(static_cast<double>(exits(d, "MSR_WRITE")), 2.0 * 400, 3.0);
  EXPECT_NEAR(metric(d, "host.vcpu_core_interrupts_taken_in_guest"), 400, 1.0);
  EXPECT_LT(metric(d, "cyclictest.avg_us"), 0.6 * metric(iso, "cyclictest.avg_us"));
  expect_invariants_zero(d);
}

// A one-shot (TMICT) guest, as seed 001's: under DirectIRQ TMICT, TDCR and EOI pass
// through and the timer fires into the guest: no exit at all after the LVTT setup. KVM
// emulates the same writes with exits; bare metal runs them as host hrtimers.
TEST(RtMechanism, DirectIrqOneShotTimerRunsWithoutExits) {
  const auto d = run_rt("kvm_directirq", {"guest.clockevent=lapic_oneshot"});
  EXPECT_EQ(metric(d, "cyclictest.loops"), 400.0);
  EXPECT_LE(metric(d, "exits.total"), 2.0);  // the LVTT write (intercepted, converted)
  EXPECT_NEAR(metric(d, "host.vcpu_core_interrupts_taken_in_guest"), 400, 1.0);
  expect_invariants_zero(d);
  const auto k = run_rt("kvm", {"guest.clockevent=lapic_oneshot"});
  EXPECT_EQ(metric(k, "cyclictest.loops"), 400.0);
  EXPECT_NEAR(static_cast<double>(exits(k, "MSR_WRITE")), 3.0 * 400, 4.0);  // TMICT twice, EOI
  EXPECT_LT(metric(d, "cyclictest.avg_us"), metric(k, "cyclictest.avg_us"));
  const auto b = run_rt("bare", {"guest.clockevent=lapic_oneshot"});
  EXPECT_EQ(metric(b, "bare.timer_interrupts"), 400.0);
  EXPECT_LT(metric(b, "cyclictest.avg_us"), metric(k, "cyclictest.avg_us"));
}

// DirectIRQ with a virtual IRQ (a forwarded VF interrupt): the host's kick is an NMI that
// exits, and direct EOI is switched off while the virtual IRQ is in service.
TEST(RtMechanism, DirectIrqKicksAreNmisAndEoiFollowsTheVirq) {
  const auto r = run_rt("kvm_directirq", {"rt.load=iperf", "iperf.delivery=forwarded", "iperf.pps=20000"}, 200);
  EXPECT_GT(exits(r, "EXCEPTION_NMI"), 10u);
  EXPECT_EQ(metric(r, "rt.nmi_exits"), static_cast<double>(exits(r, "EXCEPTION_NMI")));
  EXPECT_GT(metric(r, "rt.direct_eoi_toggles"), 10.0);
  EXPECT_GT(metric(r, "iperf.rx_packets"), 1000.0);
  EXPECT_EQ(exits(r, "EXTERNAL_INTERRUPT"), 0u);
  expect_invariants_zero(r);
  const auto direct = run_rt("kvm_directirq", {"rt.load=iperf", "iperf.pps=20000"}, 200);
  EXPECT_EQ(exits(direct, "EXCEPTION_NMI"), 0u);
  expect_invariants_zero(direct);
}

// Isolation: with host load everywhere else, the vCPU's core has no tick (nohz_full) and
// no host task; KVM default shares its core with the load and takes the tick.
TEST(RtMechanism, IsolationRemovesTheTickAndTheLoad) {
  const auto kvm = run_rt("kvm", {"rt.load=host_cpu"});
  const auto iso = run_rt("kvm_isolated", {"rt.load=host_cpu"});
  EXPECT_GT(metric(kvm, "host.vcpu_core_ticks"), 50.0);
  EXPECT_EQ(metric(iso, "host.vcpu_core_ticks"), 0.0);
  EXPECT_LT(metric(kvm, "cpu.idle_pct"), 1.0);   // the load fills the core between wake-ups
  EXPECT_GT(metric(iso, "cpu.idle_pct"), 50.0);  // nothing else runs there
  expect_invariants_zero(iso);
}

// Forwarded VF interrupts exit (EXTERNAL_INTERRUPT on the vCPU's core); VT-d posting (a
// what-if here) and DirectIRQ remove those exits.
TEST(RtMechanism, IperfDeliveryModes) {
  const auto fwd = run_rt("kvm", {"rt.load=iperf", "kvm.hlt_in_guest=true"}, 200);
  const auto posted = run_rt("kvm", {"rt.load=iperf", "kvm.hlt_in_guest=true", "rt.whatif_posted_interrupts=true"}, 200);
  EXPECT_GT(exits(fwd, "EXTERNAL_INTERRUPT"), 1000u);
  // What is left with posting is the host's tick on the shared core.
  EXPECT_LT(exits(posted, "EXTERNAL_INTERRUPT"), exits(fwd, "EXTERNAL_INTERRUPT") / 10);
  EXPECT_LE(static_cast<double>(exits(posted, "EXTERNAL_INTERRUPT")), metric(posted, "host.vcpu_core_ticks"));
  EXPECT_GT(metric(posted, "interrupts.pi_notifications"), 1000.0);
  expect_invariants_zero(fwd);
  expect_invariants_zero(posted);
}

// kvm.lazy_fpu + guest.lazy_fpu (the seed 001 host, Linux 3.5, and its 3.4 guest): every
// block (vcpu_put) saves the guest FPU and makes CR0.TS host-owned, so the guest's CLTS on
// switching back to cyclictest exits as CR_ACCESS once per loop; without the host's lazy
// FPU (KVM 4.11+) or without the guest's (4.2+) there is no such exit.
TEST(RtMechanism, LazyFpuAddsOneClTsExitPerWakeup) {
  const auto off = run_rt("kvm");
  const auto on = run_rt("kvm", {"kvm.lazy_fpu=true", "guest.lazy_fpu=true"});
  const auto host_only = run_rt("kvm", {"kvm.lazy_fpu=true"});
  EXPECT_EQ(exits(off, "CR_ACCESS"), 0u);
  EXPECT_EQ(exits(host_only, "CR_ACCESS"), 0u);
  EXPECT_NEAR(static_cast<double>(exits(on, "CR_ACCESS")), 400.0, 2.0);
  EXPECT_NEAR(metric(on, "kvm.fpu_activations"), 400.0, 2.0);
  // The other exits are unchanged: the FPU switch adds, it does not replace.
  EXPECT_EQ(exits(on, "HLT"), exits(off, "HLT"));
  EXPECT_EQ(exits(on, "MSR_WRITE"), exits(off, "MSR_WRITE"));
  EXPECT_GT(metric(on, "cyclictest.avg_us"), metric(off, "cyclictest.avg_us"));
  expect_invariants_zero(on);
}

// kvm.assigned_irq=threaded (Linux 3.5's assigned-device MSI): each forwarded VF interrupt
// wakes irq/N, which preempts the SCHED_RR vCPU thread when the interrupt hit the running
// guest, so the vCPU is put and loaded again; hardirq injects from the handler. The exits
// (EXTERNAL_INTERRUPT per VF interrupt) are the same; the thread's runs match them.
TEST(RtMechanism, ThreadedAssignedIrqPreemptsTheVcpuThread) {
  const std::vector<std::string> io = {"rt.load=iperf"};  // line rate: ~20,000 VF interrupts/s
  auto thr_sets = io;
  thr_sets.push_back("kvm.assigned_irq=threaded");
  const auto hard = run_rt("kvm", io, 200);
  const auto thr = run_rt("kvm", thr_sets, 200);
  EXPECT_EQ(hard.metrics.count("host.irq_thread_runs"), 0u);
  EXPECT_GT(metric(thr, "host.irq_thread_runs"), 0.5 * metric(thr, "iperf.interrupts"));
  EXPECT_LE(metric(thr, "host.irq_thread_runs"), metric(thr, "iperf.interrupts"));
  // Same exits: the interrupts that hit the running guest exit either way.
  EXPECT_GT(exits(thr, "EXTERNAL_INTERRUPT"), 20u);
  EXPECT_NEAR(static_cast<double>(exits(thr, "EXTERNAL_INTERRUPT")), static_cast<double>(exits(hard, "EXTERNAL_INTERRUPT")),
              0.5 * static_cast<double>(exits(hard, "EXTERNAL_INTERRUPT")));
  // Each run of irq/N is a switch to it and one away from it.
  EXPECT_GT(metric(thr, "host.context_switches"), metric(hard, "host.context_switches") + 0.9 * metric(thr, "host.irq_thread_runs"));
  EXPECT_GT(metric(thr, "cyclictest.avg_us"), metric(hard, "cyclictest.avg_us"));
  expect_invariants_zero(thr);
}

TEST(RtMechanism, BareMetalHasNoExitsAndTheShortestPath) {
  const auto bare = run_rt("bare");
  const auto kvm = run_rt("kvm");
  EXPECT_EQ(metric(bare, "exits.total"), 0.0);
  EXPECT_EQ(metric(bare, "bare.timer_interrupts"), 400.0);
  EXPECT_EQ(metric(bare, "cyclictest.loops"), 400.0);
  EXPECT_LT(metric(bare, "cyclictest.avg_us"), metric(kvm, "cyclictest.avg_us"));
  expect_invariants_zero(bare);
}

TEST(RtConfig, ImpossibleCombinationsAreNamed) {
  auto expect_error = [](const std::string& mode, const std::vector<std::string>& sets, const std::string& key,
                         const std::string& words) {
    try {
      run::run_scenario(rt_config(mode, sets, 10));
      ADD_FAILURE() << "no error for " << mode;
    } catch (const sim::ConfigError& e) {
      EXPECT_EQ(e.key, key) << e.what();
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  expect_error("kvm_exitless_timer", {}, "kvm.pi_inject_timer", "rt.whatif_posted_interrupts");
  expect_error("kvm_exitless_timer", {"rt.whatif_posted_interrupts=true", "kvm.hlt_in_guest=false"}, "kvm.pi_inject_timer", "hlt_in_guest");
  expect_error("kvm", {"kvm.direct_irq=true"}, "kvm.direct_irq", "isolated");
  expect_error("kvm_directirq", {"kvm.timer_passthrough=true"}, "kvm.timer_passthrough", "direct_irq");
  expect_error("kvm_isolated", {"host.busy_cpus=[3]"}, "host.busy_cpus", "isolated");
  expect_error("bare", {"kvm.timer_passthrough=true"}, "vm.bare_metal", "bare metal");
  expect_error("kvm", {"rt.load=iperf", "iperf.delivery=posted"}, "iperf.delivery", "posted");
  expect_error("kvm_isolated", {"kvm.housekeeping_cpu=3"}, "kvm.housekeeping_cpu", "not isolated");
  expect_error("kvm_timer_passthrough", {"guest.clockevent=lapic_oneshot"}, "kvm.timer_passthrough", "tsc_deadline");
}

// ---- Timer edge cases, with a guest program of their own --------------------------------

struct Probe {
  uint64_t fired_tsc = 0;
  uint64_t armed_tsc = 0;
  bool done = false;
};

// Arms the TSC deadline `delta` TSC cycles from now (negative: in the past), then computes
// for `busy` cycles or halts, and records when the timer interrupt ran.
sim::Task<> timer_probe(guest::GuestCpu& g, int64_t delta, uint64_t busy, Probe* p) {
  g.set_isr(hw::LOCAL_TIMER_VECTOR, [p](guest::GuestCpu& c, uint8_t) -> sim::Task<> {
    p->fired_tsc = co_await c.rdtsc();
    co_await c.apic_eoi();
  });
  co_await g.apic_write(hw::APIC_LVTT, (2u << 17) | hw::LOCAL_TIMER_VECTOR);
  co_await g.compute(1000000);  // so that a deadline in the past is still a positive TSC
  const uint64_t now = co_await g.rdtsc();
  p->armed_tsc = static_cast<uint64_t>(static_cast<int64_t>(now) + delta);
  co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, p->armed_tsc);
  co_await g.nop();  // an interrupt pending after the write is taken here
  if (busy) co_await g.compute(busy);
  while (!p->fired_tsc) {
    co_await g.safe_halt();
    co_await g.nop();
  }
  p->done = true;
}

run::RunResult run_probe(const std::string& mode, const std::vector<std::string>& sets, int64_t delta, uint64_t busy,
                         Probe& p, double max_ms = 100) {
  run::RunOptions opts;
  opts.customize = [&](run::System& sys) { auto& g = *sys.vms[0]->guests[0]; g.start(timer_probe(g, delta, busy, &p)); };
  opts.done = [&](run::System&) { return p.done; };
  std::vector<std::string> s = sets;
  s.push_back("workload.kind=idle");
  s.push_back("run.max_sim_ms=" + std::to_string(max_ms));
  return run::run_scenario(rt_config(mode, s), opts);
}

constexpr double kTscMhz = 3400.0;

TEST(RtTimerEdge, DeadlineInThePastFiresAtOnce) {
  for (const std::string mode : {"kvm", "kvm_timer_passthrough", "kvm_directirq"}) {
    Probe p;
    const auto r = run_probe(mode, {}, -100000, 0, p);
    ASSERT_TRUE(p.done) << mode << " delivered " << metric(r, "interrupts.delivered") << " sent " << metric(r, "interrupts.sent") << " pending " << metric(r, "interrupts.pending") << " exits " << metric(r, "exits.total") << " fired " << metric(r, "timer.fired");
    EXPECT_LT(static_cast<double>(p.fired_tsc - p.armed_tsc - 100000) / kTscMhz, 20.0) << mode;  // us after the write
    expect_invariants_zero(r);
  }
}

// Timer passthrough: a guest deadline that passes while the vCPU is in root mode (here a
// port write to the VMM, ~1.4 us, with the deadline 0.3 us ahead) is injected at the next
// entry, without an exit of its own.
TEST(RtTimerEdge, PassthroughDeadlinePassingInRootModeIsInjectedAtEntry) {
  Probe p;
  run::RunOptions opts;
  opts.customize = [&](run::System& sys) {
    auto& g = *sys.vms[0]->guests[0];
    g.start([](guest::GuestCpu& g, Probe* p) -> sim::Task<> {
      g.set_isr(hw::LOCAL_TIMER_VECTOR, [p](guest::GuestCpu& c, uint8_t) -> sim::Task<> {
        p->fired_tsc = co_await c.rdtsc();
        co_await c.apic_eoi();
      });
      co_await g.apic_write(hw::APIC_LVTT, (2u << 17) | hw::LOCAL_TIMER_VECTOR);
      const uint64_t now = co_await g.rdtsc();
      p->armed_tsc = now + 1000;
      co_await g.wrmsr(hw::MSR_IA32_TSC_DEADLINE, p->armed_tsc);  // passes through: no exit
      co_await g.out(0x3f8, 1, 'x');                               // exits to the VMM
      co_await g.nop();
      p->done = p->fired_tsc != 0;
    }(g, &p));
  };
  opts.done = [&](run::System&) { return p.done; };
  const auto r = run::run_scenario(rt_config("kvm_timer_passthrough", {"workload.kind=idle", "run.max_sim_ms=5"}), opts);
  EXPECT_TRUE(p.done);
  EXPECT_EQ(exits(r, "IO_INSTRUCTION"), 1u);
  EXPECT_EQ(exits(r, "EXTERNAL_INTERRUPT"), 0u);
  EXPECT_EQ(metric(r, "rt.timer_fire_exits"), 0.0);
  EXPECT_EQ(metric(r, "interrupts.injected"), 1.0);
  expect_invariants_zero(r);
}

TEST(RtTimerEdge, DeadlineBeyondThePreemptionTimerFallsBackToHrtimer) {
  // IA32_VMX_MISC rate 5: 2^32 ticks of 32 TSC cycles = 40 s at 3.4 GHz. 60 s is too far.
  Probe far, near;
  const auto rf = run_probe("kvm", {"kvm.hv_timer=true", "kvm.hlt_in_guest=true"}, static_cast<int64_t>(60e6 * kTscMhz), 0, far, 5);
  EXPECT_FALSE(far.done);
  EXPECT_EQ(metric(rf, "timer.hv_armed"), 0.0);
  EXPECT_EQ(metric(rf, "timer.sw_armed"), 1.0);
  const auto rn = run_probe("kvm", {"kvm.hv_timer=true", "kvm.hlt_in_guest=true"}, static_cast<int64_t>(1000 * kTscMhz), 0, near, 5);
  EXPECT_TRUE(near.done);
  EXPECT_EQ(metric(rn, "timer.hv_armed"), 1.0);
  EXPECT_EQ(exits(rn, "PREEMPTION_TIMER"), 1u);
}

TEST(RtTimerEdge, TimerFiresWhileTheVcpuIsHalted) {
  Probe p;
  const auto r = run_probe("kvm", {"kvm.hv_timer=true"}, static_cast<int64_t>(500 * kTscMhz), 0, p);
  ASSERT_TRUE(p.done);
  EXPECT_GE(exits(r, "HLT"), 1u);
  EXPECT_LE(exits(r, "HLT"), 2u);  // the second: the idle loop after the probe returned
  EXPECT_EQ(exits(r, "PREEMPTION_TIMER"), 0u);  // blocked: the hv timer became an hrtimer
  EXPECT_GE(metric(r, "timer.sw_armed"), 1.0);
  EXPECT_LT(static_cast<double>(p.fired_tsc - p.armed_tsc) / kTscMhz, 20.0);
}

// A SCHED_OTHER vCPU sharing its core with a CPU hog is preempted; its timer fires while it
// waits on the run queue and is delivered when it runs again. As SCHED_RR it is not.
TEST(RtTimerEdge, TimerFiresWhileTheVcpuIsPreempted) {
  // The vCPU computes for 40 ms; after its ~3-ms slice the hog runs, and the deadline 5 ms
  // in falls inside the hog's slice.
  const int64_t delta = static_cast<int64_t>(5000 * kTscMhz);
  const uint64_t busy = static_cast<uint64_t>(40e3 * 3400);
  Probe p;
  const auto r = run_probe("kvm", {"host.busy_cpus=[3]", "vm.vcpu_rt_priority=0"}, delta, busy, p, 400);
  ASSERT_TRUE(p.done);
  EXPECT_GT(static_cast<double>(p.fired_tsc - p.armed_tsc) / kTscMhz, 1000.0);  // when it ran again
  EXPECT_GE(metric(r, "interrupts.delivered"), 1.0);
  expect_invariants_zero(r);
  Probe q;
  run_probe("kvm", {"host.busy_cpus=[3]", "vm.vcpu_rt_priority=1"}, delta, busy, q, 400);
  ASSERT_TRUE(q.done);
  EXPECT_LT(static_cast<double>(q.fired_tsc - q.armed_tsc) / kTscMhz, 20.0);  // SCHED_RR: never preempted
}

}  // namespace
