// NMIs to vCPUs (kvm/nmi.cc): every send path delivers NMI IPIs through KVM's injection;
// under NoExit PV IPI they go through MSR_KVM_PV_ICR (one MSR_WRITE exit each) while fixed
// IPIs still cause none; a second NMI waits for the NMI window; conservation counts NMIs
// (and catches one dropped).
#include <gtest/gtest.h>

#include "guest/guest_cpu.h"
#include "run/runner.h"
#include "run/schema.h"
#include "run/system.h"
#include "sim/config.h"

namespace {

uint64_t exits(const run::RunResult& r, const char* reason) {
  auto it = r.exits.find(reason);
  return it == r.exits.end() ? 0 : it->second;
}

run::RunResult run_nmi_bench(const std::string& mode, int vcpus, int iterations) {
  const std::string yaml = "vm: {vcpus: " + std::to_string(vcpus) + "}\nworkload: {kind: ipi_bench}\nipi: {iterations: " +
                           std::to_string(iterations) + ", nmi: true}\nrun: {progress: false}\n";
  return run::run_scenario(sim::Config::load_text(run::scenario_schema(), yaml, "nmi.yaml", {"guest.ipi_mode=" + mode}));
}

TEST(Nmi, NoexitPvSendsNmisThroughPvIcrAndFixedIpisWithoutExits) {
  const int n = 6, it = 10;
  const auto r = run_nmi_bench("noexit_pv", n, it);
  EXPECT_EQ(exits(r, "MSR_WRITE"), static_cast<uint64_t>(it * (n - 1)));  // one per NMI, none for fixed IPIs
  EXPECT_EQ(exits(r, "VMCALL"), 0u);
  EXPECT_EQ(r.metrics.at("interrupts.nmi_injections"), static_cast<double>(it * (n - 1)));
  EXPECT_GT(r.metrics.at("ipi.nmi_broadcast_ns"), 0.0);
  EXPECT_EQ(r.metrics.at("invariant.lost_interrupts"), 0.0);
  EXPECT_EQ(r.metrics.at("invariant.isolation_violations"), 0.0);
  // Without NMIs the same run has no exit for IPIs at all.
  const std::string yaml = "vm: {vcpus: 6}\nworkload: {kind: ipi_bench}\nipi: {iterations: 10}\nrun: {progress: false}\n";
  const auto fixed = run::run_scenario(sim::Config::load_text(run::scenario_schema(), yaml, "f.yaml", {"guest.ipi_mode=noexit_pv"}));
  EXPECT_EQ(fixed.metrics.at("exits.cause.ipi"), 0.0);
}

TEST(Nmi, EverySendPathDeliversNmis) {
  const int n = 5, it = 5;
  for (const std::string mode : {"x2apic_physical", "x2apic_cluster", "pv", "noexit_pv"}) {
    const auto r = run_nmi_bench(mode, n, it);
    EXPECT_EQ(r.metrics.at("interrupts.nmi_injections"), static_cast<double>(it * (n - 1))) << mode;
    EXPECT_GT(r.metrics.at("ipi.nmi_broadcast_ns"), 0.0) << mode;
    for (const auto& [k, v] : r.metrics)
      if (k.rfind("invariant.", 0) == 0) {
        EXPECT_EQ(v, 0.0) << mode << ": " << k;
      }
  }
  // The PV hypercall carries NMIs too: one VMCALL per 128-id window.
  EXPECT_GT(exits(run_nmi_bench("pv", n, it), "VMCALL"), 0u);
}

// Two NMIs back to back to one vCPU: the second waits until the first handler's IRET (NMI
// window exit), a third queued while both are pending collapses (KVM keeps at most two).
struct Burst {
  int fin = 0;
  uint64_t taken = 0;
};
run::RunResult run_burst(Burst& b, int nmis, const std::vector<std::string>& sets) {
  run::RunOptions opts;
  opts.customize = [&](run::System& sys) {
    sys.vms[0]->guests[0]->start([](guest::GuestCpu& g, int count, int* fin) -> sim::Task<> {
      const std::vector<int> one{1};
      for (int k = 0; k < count; ++k) co_await g.send_ipi_mask(one, hw::NMI_VECTOR);
      co_await g.compute(200000);
      ++*fin;
    }(*sys.vms[0]->guests[0], nmis, &b.fin));
  };
  opts.done = [&](run::System& sys) {
    b.taken = sys.vms[0]->guests[1]->nmis_taken();
    return b.fin == 1;
  };
  return run::run_scenario(sim::Config::load_text(run::scenario_schema(),
                                                  "vm: {vcpus: 2}\nworkload: {kind: idle}\nrun: {progress: false, max_sim_ms: 20}\n",
                                                  "burst.yaml", sets),
                           opts);
}

TEST(Nmi, SecondNmiWaitsForTheWindowAndExtrasCollapse) {
  Burst two;
  const auto r2 = run_burst(two, 2, {});
  EXPECT_EQ(two.taken, 2u);
  EXPECT_EQ(r2.metrics.at("interrupts.nmi_injections"), 2.0);
  EXPECT_EQ(r2.metrics.at("invariant.lost_interrupts"), 0.0);
  Burst many;
  const auto r8 = run_burst(many, 8, {"guest.ipi_mode=pv"});  // one hypercall each, back to back
  EXPECT_GE(many.taken, 2u);
  EXPECT_LT(many.taken, 8u);
  EXPECT_EQ(r8.metrics.at("interrupts.coalesced"), static_cast<double>(8 - many.taken));
  EXPECT_EQ(r8.metrics.at("invariant.lost_interrupts"), 0.0);
}

// The conservation invariant sees a dropped NMI (fault.inject=lost_interrupt hits the first
// delivery after fault.at_ms; only NMIs are sent here).
TEST(Nmi, ConservationCatchesALostNmi) {
  Burst b;
  const auto r = run_burst(b, 1, {"fault.inject=lost_interrupt", "fault.at_ms=0"});
  EXPECT_EQ(b.taken, 0u);
  EXPECT_EQ(r.metrics.at("invariant.lost_interrupts"), 1.0);
}

}  // namespace
