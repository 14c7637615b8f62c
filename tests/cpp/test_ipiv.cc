// IPI virtualization (hw/ipiv.h, hw/core_ipiv.cc, KVM's enable_ipiv): fixed physical ICR
// writes are posted by the CPU without an exit, the others take an APIC-write exit that
// KVM handles, a preempted target (SN) gets its interrupt at its next entry, and IPIv is
// refused where the platform or KVM does not offer it.
#include <gtest/gtest.h>

#include "guest/guest_cpu.h"
#include "hw/ipiv.h"
#include "hw/pi_desc.h"
#include "run/runner.h"
#include "run/schema.h"
#include "run/system.h"
#include "sim/config.h"

namespace {

constexpr const char* kSpr = "xeon-platinum-8490h-4s";

run::RunResult run_bench(const std::string& platform, int vcpus, const std::vector<std::string>& sets, int iterations = 20) {
  const std::string yaml = "platform: " + platform + "\nvm: {vcpus: " + std::to_string(vcpus) +
                           "}\nworkload: {kind: ipi_bench}\nipi: {iterations: " + std::to_string(iterations) +
                           "}\nrun: {progress: false}\n";
  return run::run_scenario(sim::Config::load_text(run::scenario_schema(), yaml, "ipiv.yaml", sets));
}

uint64_t exits(const run::RunResult& r, const char* reason) {
  auto it = r.exits.find(reason);
  return it == r.exits.end() ? 0 : it->second;
}

void expect_invariants_zero(const run::RunResult& r, const std::string& what) {
  for (const auto& [k, v] : r.metrics)
    if (k.rfind("invariant.", 0) == 0) {
      EXPECT_EQ(v, 0.0) << what << ": " << k;
    }
}

TEST(Ipiv, QualifyingIcrValues) {
  hw::Icr icr;
  icr.vector = 0xfb;
  icr.dest = 3;
  EXPECT_TRUE(hw::ipiv_qualifies(icr));
  hw::Icr logical = icr, shorthand = icr, nmi = icr;
  logical.logical = true;
  shorthand.shorthand = hw::Shorthand::AllExcludingSelf;
  nmi.mode = hw::DeliveryMode::NMI;
  EXPECT_FALSE(hw::ipiv_qualifies(logical));
  EXPECT_FALSE(hw::ipiv_qualifies(shorthand));
  EXPECT_FALSE(hw::ipiv_qualifies(nmi));
  hw::PiDesc pi;
  hw::PidPointerTable t;
  t.entries.assign(8, nullptr);
  t.entries[3] = &pi;
  EXPECT_EQ(t.lookup(3, 7), &pi);
  EXPECT_EQ(t.lookup(3, 2), nullptr);   // beyond LAST_PID_POINTER_INDEX
  EXPECT_EQ(t.lookup(4, 7), nullptr);   // invalid entry
  EXPECT_EQ(t.lookup(100, 200), nullptr);
}

// The comparison point: x2APIC physical sends with IPIv take no MSR_WRITE exit;
// the broadcast costs one virtualized write per target instead of one exit per target.
TEST(Ipiv, FixedPhysicalIpisDoNotExit) {
  const auto ipiv = run_bench(kSpr, 8, {"guest.ipi_mode=ipiv"});
  EXPECT_EQ(exits(ipiv, "MSR_WRITE"), 0u);
  EXPECT_EQ(exits(ipiv, "APIC_WRITE"), 0u);
  EXPECT_EQ(ipiv.metrics.at("exits.cause.ipi"), 0.0);
  EXPECT_EQ(ipiv.metrics.at("interrupts.ipiv_posts"), 20.0 * (1 + 1 + 7));
  expect_invariants_zero(ipiv, "ipiv");
  // kvm.enable_ipiv=false: the same guest exits once per destination.
  const auto off = run_bench(kSpr, 8, {"guest.ipi_mode=x2apic_physical", "kvm.enable_ipiv=false"});
  EXPECT_EQ(exits(off, "MSR_WRITE"), 20u * (1 + 1 + 7));
  EXPECT_EQ(off.metrics.at("interrupts.ipiv_posts"), 0.0);
  EXPECT_LT(ipiv.metrics.at("ipi.single_ns") * 2, off.metrics.at("ipi.single_ns"));
  EXPECT_LT(ipiv.metrics.at("ipi.broadcast_ns"), off.metrics.at("ipi.broadcast_ns"));
  // x2apic_physical on an IPIv host uses it too (enable_ipiv defaults to true, as in KVM).
  const auto phys = run_bench(kSpr, 8, {"guest.ipi_mode=x2apic_physical"});
  EXPECT_EQ(exits(phys, "MSR_WRITE"), 0u);
  EXPECT_EQ(phys.metrics.at("ipi.single_ns"), ipiv.metrics.at("ipi.single_ns"));
}

// Shorthand, logical and NMI ICR writes are not virtualized: APIC-write exits that KVM
// handles (kvm_apic_write_nodecode with the 64-bit x2APIC ICR).
TEST(Ipiv, ShorthandLogicalAndNmiIpisStillExit) {
  int done = 0;
  run::RunOptions opts;
  opts.customize = [&](run::System& sys) {
    sys.vms[0]->guests[0]->start([](guest::GuestCpu& g, int* fin) -> sim::Task<> {
      const std::vector<int> three{1, 2, 3}, one{1};  // named: GCC 12 and braced lists across co_await
      hw::Icr all;
      all.vector = 0x41;
      all.shorthand = hw::Shorthand::AllExcludingSelf;
      co_await g.wrmsr(hw::MSR_X2APIC_ICR, all.encode_x2apic());
      co_await g.compute(20000);
      hw::Icr logical;
      logical.vector = 0x42;
      logical.logical = true;
      logical.dest = hw::x2apic_ldr(g.vm()->apic_ids[1]);
      co_await g.wrmsr(hw::MSR_X2APIC_ICR, logical.encode_x2apic());
      co_await g.compute(20000);
      co_await g.send_ipi_mask(three, hw::NMI_VECTOR);
      co_await g.compute(20000);
      co_await g.send_ipi_mask(one, 0x43);  // virtualized
      co_await g.compute(20000);
      ++*fin;
    }(*sys.vms[0]->guests[0], &done));
  };
  opts.done = [&](run::System&) { return done == 1; };
  const auto r = run::run_scenario(
      sim::Config::load_text(run::scenario_schema(),
                             std::string("platform: ") + kSpr + "\nvm: {vcpus: 4}\nworkload: {kind: idle}\nrun: {progress: false, max_sim_ms: 20}\n",
                             "x.yaml", {"guest.ipi_mode=ipiv"}),
      opts);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(exits(r, "APIC_WRITE"), 1u + 1u + 3u);
  EXPECT_EQ(exits(r, "MSR_WRITE"), 0u);
  EXPECT_EQ(r.metrics.at("interrupts.ipiv_posts"), 1.0);
  EXPECT_EQ(r.metrics.at("interrupts.nmi_injections"), 3.0);
  // 3 (shorthand) + 1 (logical) + 3 NMIs + 1 virtualized, all taken.
  EXPECT_EQ(r.metrics.at("interrupts.sent"), 8.0);
  EXPECT_EQ(r.metrics.at("interrupts.delivered"), 8.0);
  expect_invariants_zero(r, "non-virtualized");
}

// A target preempted on its CPU has SN set (vmx_vcpu_pi_put): the CPU sets the PIR bit but
// sends no notification; vmx_vcpu_pi_load sets ON again and the entry delivers it.
TEST(Ipiv, SnOnAPreemptedTargetDefersDelivery) {
  int done = 0;
  run::RunOptions opts;
  opts.customize = [&](run::System& sys) {
    sys.vms[0]->guests[0]->start([](guest::GuestCpu& g, int* fin) -> sim::Task<> {
      const std::vector<int> one{1};
      for (int k = 0; k < 400; ++k) {
        co_await g.send_ipi_mask(one, static_cast<uint8_t>(0x40 + k % 8));
        co_await g.compute(100000 + 7919 * (k % 3));  // ~20 ms in all: several CFS slices
      }
      ++*fin;
    }(*sys.vms[0]->guests[0], &done));
    sys.vms[0]->guests[1]->start([](guest::GuestCpu& g) -> sim::Task<> {
      for (;;) co_await g.compute(1000000);  // runnable all the time: it competes with the hog
    }(*sys.vms[0]->guests[1]));
  };
  opts.done = [&](run::System&) { return done == 1; };
  const auto r = run::run_scenario(
      sim::Config::load_text(run::scenario_schema(),
                             std::string("platform: ") + kSpr +
                                 "\nvm: {vcpus: 2}\nhost: {busy_cpus: [1]}\nworkload: {kind: idle}\nrun: {progress: false, max_sim_ms: 200}\n",
                             "sn.yaml", {"guest.ipi_mode=ipiv"}),
      opts);
  EXPECT_EQ(done, 1);
  EXPECT_EQ(r.metrics.at("interrupts.ipiv_posts"), 400.0);
  EXPECT_GT(r.metrics.at("interrupts.ipiv_suppressed"), 0.0);
  EXPECT_EQ(exits(r, "MSR_WRITE"), 0u);
  expect_invariants_zero(r, "SN");
  EXPECT_EQ(r.metrics.at("interrupts.sent"),
            r.metrics.at("interrupts.delivered") + r.metrics.at("interrupts.coalesced") + r.metrics.at("interrupts.pending"));
}

TEST(Ipiv, RefusedWithoutTheFeature) {
  for (const auto& [platform, sets] : std::vector<std::pair<std::string, std::vector<std::string>>>{
           {"skylake-sp-2s", {"guest.ipi_mode=ipiv"}},
           {kSpr, {"guest.ipi_mode=ipiv", "kvm.enable_ipiv=false"}},
           {kSpr, {"guest.ipi_mode=ipiv", "kvm.enable_apicv=false"}}}) {
    try {
      run_bench(platform, 2, sets, 1);
      ADD_FAILURE() << "ipiv on " << platform << " must be refused";
    } catch (const sim::ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("guest.ipi_mode"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("IPI virtualization"), std::string::npos) << e.what();
    }
  }
}

// NoExit PV IPI writes the physical ICR itself: KVM turns IPIv off there, so the guest's
// notification is not mistaken for a virtual IPI.
TEST(Ipiv, OffUnderNoexitPv) {
  const auto r = run_bench(kSpr, 4, {"guest.ipi_mode=noexit_pv"});
  EXPECT_EQ(r.metrics.at("interrupts.ipiv_posts"), 0.0);
  EXPECT_EQ(exits(r, "MSR_WRITE"), 0u);
  expect_invariants_zero(r, "noexit on SPR");
}

}  // namespace
