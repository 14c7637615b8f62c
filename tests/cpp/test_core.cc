// The SystemC core's exit decisions (model/hw/core.cc) in real, tiny simulations: whole
// kvm-unit-tests vmexit runs through run::run_scenario, and a hand-built system
// (run::System with its own guest programs) for posted interrupts to a running vCPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <systemc>

#include "guest/guest_cpu.h"
#include "hw/apic_regs.h"
#include "hw/icr.h"
#include "hw/platform.h"
#include "hw/vmx.h"
#include "run/runner.h"
#include "run/system.h"
#include "run_helpers.h"
#include "sim/coro.h"

namespace {

using testutil::exits;
using testutil::metric;
using testutil::run_vmexit;

// ---------------------------------------------------------------------------------------
// Whole runs

TEST(Core, TwoRunsInOneProcess) {
  // Each run gets a fresh SystemC context; the second must neither fail nor differ.
  const run::RunResult a = run_vmexit({"cpuid"}, 1000000);
  const run::RunResult b = run_vmexit({"cpuid"}, 1000000);
  ASSERT_TRUE(a.metrics.count("vmexit.cpuid"));
  EXPECT_GT(metric(a, "vmexit.cpuid"), 0.0);
  EXPECT_EQ(a.metrics, b.metrics);
  EXPECT_EQ(a.exits, b.exits);
}

TEST(Core, CpuidCyclesAreTheCostSum) {
  const hw::Platform p = hw::Platform::load("skylake-sp-2s");
  ASSERT_TRUE(testutil::has_mitigation(p, "mds_clear"));  // Skylake-SP clears buffers on entry
  const uint64_t goal = 1000000;
  const run::RunResult r = run_vmexit({"cpuid"}, goal);
  const double expected = testutil::cpuid_round_trip_cycles(p);
  EXPECT_NEAR(metric(r, "vmexit.cpuid"), expected, 1.0);
  // Every iteration is exactly one CPUID exit, none of them on the fastpath.
  EXPECT_EQ(exits(r, "CPUID"), testutil::vmexit_total_iterations(goal, metric(r, "vmexit.cpuid")));
  EXPECT_EQ(metric(r, "exits.fastpath"), 0.0);
}

TEST(Core, CpuidFollowsCostOverrides) {
  // cost.* overrides reach the core and KVM: +1000 on the hardware exit moves the result by 1000.
  const hw::Platform p = hw::Platform::load("skylake-sp-2s");
  const double vmexit = testutil::cost(p, "vmx.vmexit");
  const run::RunResult r =
      run_vmexit({"cpuid"}, 1000000, {"cost.vmx.vmexit=" + std::to_string(static_cast<int>(vmexit) + 1000)});
  EXPECT_NEAR(metric(r, "vmexit.cpuid"), testutil::cpuid_round_trip_cycles(p) + 1000, 1.0);
}

// kvm-unit-tests' `ipi` test, as the model runs it: vCPU 0 writes the x2APIC ICR (one
// MSR_WRITE exit each, handled on the fastpath since there is no IPIv), vCPU 1 takes the
// interrupt, sets ipi_done and EOIs, and then goes back to its idle loop: sti; hlt. vCPU 0
// sees ipi_done and exits for the next ICR write only after vCPU 1 has already executed
// HLT, so every IPI finds vCPU 1 OUTSIDE guest mode (halt-polling in KVM).
// With APICv the IPI is therefore posted to the PI descriptor and KVM *wakes* vCPU 1
// (kvm_vcpu_wake_up); the PIR is merged at its next entry. No notification IPI is sent, so
// interrupts.pi_notifications is 0 in this benchmark, and vCPU 1 has no EXTERNAL_INTERRUPT
// exits (only host ticks show up) and no EOI exits (EOI is virtualized).
// Without APICv the interrupt goes into the emulated IRR and is injected at entry; vCPU 1's
// EOI traps (MSR_WRITE), and the next IPI usually arrives while vCPU 1 is back in the guest
// between that EOI exit and its HLT, so KVM kicks it with a reschedule IPI: an
// EXTERNAL_INTERRUPT exit per IPI. That is about twice the exits per IPI.
// A posted interrupt to a vCPU that is really running is tested with a hand-built system
// below (PostedInterruptToRunningVcpuCausesNoExit).
TEST(Core, VmexitIpiPostsToAHaltedTargetWithoutExitsOnTheTarget) {
  const run::RunResult on = run_vmexit({"ipi"}, 2000000);
  const run::RunResult off = run_vmexit({"ipi"}, 2000000, {"kvm.enable_apicv=false"});

  // APICv: one posted interrupt per IPI, each IPI one fastpath MSR_WRITE exit (+1 for the
  // LVTT setup write), each waking vCPU 1 out of one HLT.
  const double ipis_on = metric(on, "interrupts.posted");
  ASSERT_GT(ipis_on, 100.0);
  EXPECT_EQ(static_cast<double>(exits(on, "MSR_WRITE")), ipis_on + 1);
  EXPECT_EQ(metric(on, "exits.fastpath"), ipis_on);
  EXPECT_GE(static_cast<double>(exits(on, "HLT")), ipis_on);
  EXPECT_LE(static_cast<double>(exits(on, "EXTERNAL_INTERRUPT")), metric(on, "host.ticks"));
  EXPECT_EQ(metric(on, "interrupts.injected"), 0.0);
  EXPECT_EQ(metric(on, "interrupts.pi_notifications"), 0.0);  // the target was never running
  EXPECT_EQ(exits(on, "INTERRUPT_WINDOW"), 0u);

  // No APICv: injected, not posted; kick IPIs exit as EXTERNAL_INTERRUPT; EOIs exit.
  const double ipis_off = metric(off, "interrupts.injected");
  ASSERT_GT(ipis_off, 100.0);
  EXPECT_EQ(metric(off, "interrupts.posted"), 0.0);
  EXPECT_EQ(metric(off, "interrupts.pi_notifications"), 0.0);
  EXPECT_GT(static_cast<double>(exits(off, "EXTERNAL_INTERRUPT")), metric(off, "host.ticks") + ipis_off / 2);
  EXPECT_GE(static_cast<double>(exits(off, "MSR_WRITE")), 2 * ipis_off);  // ICR + EOI per IPI
  const double per_ipi_on = metric(on, "exits.total") / ipis_on;
  const double per_ipi_off = metric(off, "exits.total") / ipis_off;
  EXPECT_LT(per_ipi_on, 2.1);
  EXPECT_GT(per_ipi_off, per_ipi_on + 1.5);
  EXPECT_GT(metric(off, "vmexit.ipi"), metric(on, "vmexit.ipi"));
}

// Conservative lookahead batches instructions, and exits KVM re-enters from, into one
// SystemC activation; it must change the event count and nothing else.
run::RunResult run_with_lookahead(const sim::Config& cfg, bool off) {
  run::RunOptions o;
  if (off)
    o.customize = [](run::System& sys) {
      for (auto& c : sys.cores) c->set_lookahead(0);
    };
  return run::run_scenario(cfg, o);
}

// Returns the events with the lookahead on and off.
std::pair<uint64_t, uint64_t> expect_same_results_with_lookahead_off(const sim::Config& cfg) {
  const run::RunResult on = run_with_lookahead(cfg, false);
  const run::RunResult off = run_with_lookahead(cfg, true);
  EXPECT_EQ(on.metrics, off.metrics);
  EXPECT_EQ(on.exits, off.exits);
  EXPECT_EQ(on.files, off.files);
  const uint64_t ev_on = on.summary["events"].get<uint64_t>(), ev_off = off.summary["events"].get<uint64_t>();
  EXPECT_LE(ev_on, ev_off);
  return {ev_on, ev_off};
}

TEST(Core, LookaheadBatchingChangesNothingButEventsOnOneVcpu) {
  // One vCPU: the lookahead is long, so whole runs of exits share one activation.
  const auto cfg = testutil::vmexit_scenario({"cpuid", "inl_from_qemu", "tscdeadline", "self_ipi_sti_nop", "ipi_halt"},
                                             1u << 21, {"vm.vcpus=1"});
  const auto [on, off] = expect_same_results_with_lookahead_off(cfg);
  EXPECT_LT(on, off / 2);  // batched
}

TEST(Core, LookaheadBatchingChangesNothingButEventsWithIpis) {
  expect_same_results_with_lookahead_off(testutil::vmexit_scenario({"ipi", "ipi_halt", "tscdeadline"}, 1u << 21));
  expect_same_results_with_lookahead_off(testutil::scenario(
      "run: {progress: false}\nvm: {vcpus: 8, count: 2}\nworkload: {kind: vm_mix}\nmix: {duration_ms: 3}\n"));
}


TEST(Core, X2apicSelfIpiDoesNotExit) {
  const uint64_t goal = 2000000;
  // x2APIC SELF_IPI with virtual-interrupt delivery: the write lands in the virtual-APIC page
  // and the interrupt is delivered, and EOIed, without an exit. Only the LVTT setup write exits.
  const run::RunResult x2 = run_vmexit({"x2apic_self_ipi_sti_nop"}, goal);
  EXPECT_GT(metric(x2, "vmexit.x2apic_self_ipi_sti_nop"), 0.0);
  EXPECT_LE(exits(x2, "MSR_WRITE"), 2u);
  EXPECT_EQ(metric(x2, "interrupts.posted"), 0.0);  // KVM never sees the interrupt
  EXPECT_LE(metric(x2, "exits.total"), 10.0);
  // ... but it is delivered and handled: each iteration holds at least the virtualized
  // write, the virtual-interrupt delivery, the guest's handler entry and the virtual EOI.
  const hw::Platform p = hw::Platform::load("skylake-sp-2s");
  EXPECT_GE(metric(x2, "vmexit.x2apic_self_ipi_sti_nop"),
            testutil::cost(p, "vmx.virtual_apic_access") + testutil::cost(p, "vmx.virtual_intr_delivery") +
                testutil::cost(p, "guest.irq_entry") + testutil::cost(p, "vmx.virtual_eoi"));

  // A self-IPI through the ICR (shorthand "self") is not virtualized: one MSR_WRITE exit per
  // iteration, on the full path (shorthands are not fastpath material), posted to itself.
  const run::RunResult icr = run_vmexit({"self_ipi_sti_nop"}, goal);
  const double cycles = metric(icr, "vmexit.self_ipi_sti_nop");
  const uint64_t iterations = testutil::vmexit_total_iterations(goal, cycles);
  EXPECT_EQ(exits(icr, "MSR_WRITE"), iterations + 1);  // + the LVTT write
  EXPECT_EQ(metric(icr, "interrupts.posted"), static_cast<double>(iterations));
  EXPECT_EQ(metric(icr, "exits.fastpath"), 0.0);
  EXPECT_GT(cycles, 3 * metric(x2, "vmexit.x2apic_self_ipi_sti_nop"));
}

TEST(Core, PreemptionTimerExitsOnlyWithTheHvTimer) {
  const run::RunResult hv = run_vmexit({"tscdeadline"}, 1000000);
  const run::RunResult sw = run_vmexit({"tscdeadline"}, 1000000, {"kvm.hv_timer=false"});
  EXPECT_GT(exits(hv, "PREEMPTION_TIMER"), 100u);
  EXPECT_EQ(exits(sw, "PREEMPTION_TIMER"), 0u);
  EXPECT_EQ(metric(sw, "timer.hv_armed"), 0.0);
  EXPECT_GT(metric(sw, "timer.sw_armed"), 100.0);
}

// ---------------------------------------------------------------------------------------
// A hand-built system: vCPU 1 computes (never halts), vCPU 0 sends it IPIs.

// SystemC keeps its kernel in a global context; like run::run_scenario, make a new one.
class FreshSimContext {
 public:
  FreshSimContext() {
    ctx_ = new sc_core::sc_simcontext();
    sc_core::sc_curr_simcontext = ctx_;
    sc_core::sc_default_global_context = ctx_;
  }
  ~FreshSimContext() {
    sc_core::sc_curr_simcontext = nullptr;
    sc_core::sc_default_global_context = nullptr;
    delete ctx_;
  }
  FreshSimContext(const FreshSimContext&) = delete;
  FreshSimContext& operator=(const FreshSimContext&) = delete;

 private:
  sc_core::sc_simcontext* ctx_;
};

constexpr uint8_t kTestVector = 0x40;
constexpr int kIpis = 20;

sim::Task<> compute_forever(guest::GuestCpu& g) {
  for (;;) co_await g.compute(100000);
}

sim::Task<> counting_isr(guest::GuestCpu& g, uint64_t* count) {
  ++*count;
  co_await g.compute(100);
  co_await g.apic_eoi();
}

sim::Task<> send_ipis(guest::GuestCpu& g, uint32_t dest, int n, int* sent) {
  for (int i = 0; i < n; ++i) {
    co_await g.compute(20000);  // 8 us at 2.5 GHz: the previous IPI has long been handled
    hw::Icr icr;
    icr.vector = kTestVector;
    icr.level_assert = true;
    icr.dest = dest;
    co_await g.apic_icr_write(icr);
    ++*sent;
  }
}

struct DirectRun {
  int sent = 0;
  uint64_t received = 0;
  uint64_t pi_notifications_cpu1 = 0;
  uint64_t ticks_cpu1 = 0;
  kvm::VcpuStats sender, target;
};

DirectRun run_ipis_to_running_vcpu(bool apicv, sim::Picos duration) {
  const hw::Platform platform = hw::Platform::load("skylake-sp-2s");
  const sim::Config cfg = testutil::scenario("workload: {kind: idle}\nrun: {progress: false}\nvm: {vcpus: 2}\n",
                                             {std::string("kvm.enable_apicv=") + (apicv ? "true" : "false")});
  DirectRun out;
  FreshSimContext ctx;
  run::System sys(cfg, platform);
  guest::GuestCpu& g0 = *sys.vms[0]->guests[0];
  guest::GuestCpu& g1 = *sys.vms[0]->guests[1];
  uint64_t* received = &out.received;
  g1.set_isr(kTestVector, [received](guest::GuestCpu& g, uint8_t) { return counting_isr(g, received); });
  g1.start(compute_forever(g1));
  g0.start(send_ipis(g0, sys.vms[0]->view.apic_ids[1], kIpis, &out.sent));
  sc_core::sc_start(sc_core::SC_ZERO_TIME);
  sys.start();
  sc_core::sc_start(sc_core::sc_time::from_value(duration));
  out.pi_notifications_cpu1 = sys.cores[1]->posted_intr_notifications();
  out.ticks_cpu1 = sys.kernel->cpu(1).ticks();
  out.sender = sys.vms[0]->kvm->vcpu(0).stat;
  out.target = sys.vms[0]->kvm->vcpu(1).stat;
  return out;
}

// Long enough for the 20 IPIs (8 us apart) even though the guests only start running at
// the first host tick, 4 ms in (see GuestRunsFromTheFirstEntry).
constexpr sim::Picos kDirectRunLength = sim::ms(6);

TEST(Core, PostedInterruptToRunningVcpuCausesNoExit) {
  const DirectRun r = run_ipis_to_running_vcpu(true, kDirectRunLength);
  ASSERT_EQ(r.sent, kIpis);
  EXPECT_EQ(r.received, static_cast<uint64_t>(kIpis));
  // Each IPI: the sender's ICR write exits once, on the fastpath; KVM posts the vector and
  // sends POSTED_INTR_VECTOR to vCPU 1's CPU, which processes it in non-root mode.
  EXPECT_EQ(r.sender.exits_by_reason[hw::EXIT_REASON_MSR_WRITE], static_cast<uint64_t>(kIpis));
  EXPECT_EQ(r.sender.fastpath_exits, static_cast<uint64_t>(kIpis));
  EXPECT_EQ(r.target.posted_interrupts, static_cast<uint64_t>(kIpis));
  EXPECT_EQ(r.pi_notifications_cpu1, static_cast<uint64_t>(kIpis));
  // The target never leaves the guest for them: no EXTERNAL_INTERRUPT beyond host ticks,
  // no EOI exit (virtualized), no injection.
  EXPECT_LE(r.target.exits_by_reason[hw::EXIT_REASON_EXTERNAL_INTERRUPT], r.ticks_cpu1);
  EXPECT_EQ(r.target.exits_by_reason[hw::EXIT_REASON_MSR_WRITE], 0u);
  EXPECT_EQ(r.target.exits, r.target.exits_by_reason[hw::EXIT_REASON_EXTERNAL_INTERRUPT]);
  EXPECT_EQ(r.target.irq_injections, 0u);
}

TEST(Core, WithoutApicvIpisToARunningVcpuExit) {
  const DirectRun r = run_ipis_to_running_vcpu(false, kDirectRunLength);
  ASSERT_EQ(r.sent, kIpis);
  EXPECT_EQ(r.received, static_cast<uint64_t>(kIpis));
  EXPECT_EQ(r.pi_notifications_cpu1, 0u);
  EXPECT_EQ(r.target.posted_interrupts, 0u);
  // Each IPI: a kick (reschedule IPI -> EXTERNAL_INTERRUPT exit), injection at entry, and
  // an EOI that traps.
  EXPECT_GE(r.target.exits_by_reason[hw::EXIT_REASON_EXTERNAL_INTERRUPT], static_cast<uint64_t>(kIpis));
  EXPECT_EQ(r.target.exits_by_reason[hw::EXIT_REASON_MSR_WRITE], static_cast<uint64_t>(kIpis));
  EXPECT_EQ(r.target.irq_injections, static_cast<uint64_t>(kIpis));
}

TEST(Core, GuestRunsFromTheFirstEntry) {
  // 400 us is plenty for 20 IPIs 8 us apart if the guests start at time 0.
  const DirectRun r = run_ipis_to_running_vcpu(true, sim::us(400));
  EXPECT_EQ(r.sent, kIpis);
  EXPECT_EQ(r.received, static_cast<uint64_t>(kIpis));
  // And a whole cpuid run (about 1.2 ms of guest work) ends in the second 1-ms chunk.
  const run::RunResult c = run_vmexit({"cpuid"}, 1000000);
  EXPECT_LE(c.summary["sim_time_ns"].get<double>(), 2e6);
}

}  // namespace
