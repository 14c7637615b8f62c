// Package power: turbo-bin selection by active cores, core/package C-state residency,
// cpuidle's state choice, and the idle_power scenario's orderings (seed 000, cases 1-2).
#include <gtest/gtest.h>

#include "hw/power.h"
#include "run_helpers.h"

namespace {

using hw::CState;
using hw::PackagePower;
using hw::Platform;

TEST(Power, TurboBinFollowsActiveCoresOfThePackage) {
  const Platform p = Platform::load("xeon-gold-6142");
  ASSERT_TRUE(p.power.present);
  ASSERT_EQ(p.power.turbo_mhz.size(), 16u);
  PackagePower pw(p);
  // Every thread starts in C0: 16 active cores per socket -> the all-core bin.
  for (int c = 0; c < p.topology.cpus(); ++c) pw.set(c, CState::C6, 0);
  pw.set(0, CState::C0, 0);  // one active core on socket 0
  pw.finish(sim::ms(1));
  EXPECT_DOUBLE_EQ(pw.mean_c0_mhz(0), p.power.turbo_mhz[0]);
  // Three more busy cores: the 4-core bin; C1 counts as active, C6 does not.
  for (int c = 1; c < 3; ++c) pw.set(c, CState::C0, sim::ms(1));
  pw.set(3, CState::C1, sim::ms(1));
  pw.finish(sim::ms(2));
  EXPECT_DOUBLE_EQ(pw.mean_c0_mhz(1), p.power.turbo_mhz[3]);
  EXPECT_DOUBLE_EQ(pw.mean_c0_mhz(0), (p.power.turbo_mhz[0] + p.power.turbo_mhz[3]) / 2);
  // Every core busy: the all-core bin.
  for (int c = 0; c < 16; ++c) pw.set(c, CState::C0, sim::ms(2));
  pw.finish(sim::ms(3));
  EXPECT_NEAR(pw.mean_c0_mhz(15), p.power.turbo_mhz[15], 1e-9);
}

TEST(Power, CoreIsInTheShallowestStateOfItsThreads) {
  const Platform p = Platform::load("xeon-gold-6142");
  PackagePower pw(p);
  const int sibling = p.topology.siblings(0)[1];
  pw.set(0, CState::C6, 0);
  pw.set(sibling, CState::C1, 0);
  pw.finish(sim::us(10));
  EXPECT_EQ(pw.core_residency(0, CState::C1), sim::us(10));
  EXPECT_EQ(pw.core_residency(0, CState::C6), 0u);
  EXPECT_EQ(pw.thread_residency(0, CState::C6), sim::us(10));
  // The package is in C0 while any core runs.
  EXPECT_EQ(pw.package_residency(0, CState::C0), sim::us(10));
}

TEST(Power, CpuidleChoosesByTargetResidencyAndClampsToOfferedStates) {
  const Platform p = Platform::load("xeon-gold-6142");
  EXPECT_EQ(p.power.deepest_for(1), CState::C1);
  EXPECT_EQ(p.power.deepest_for(50), CState::C1E);
  EXPECT_EQ(p.power.deepest_for(1000), CState::C6);
  EXPECT_EQ(p.power.clamp(CState::C7), CState::C6);  // SKX offers no C7
  EXPECT_EQ(p.power.clamp(CState::C3), CState::C1E);
}

run::RunResult idle_power(const std::vector<std::string>& sets) {
  auto s = sets;
  s.push_back("unixbench.duration_ms=40");
  s.push_back("idle.duration_ms=40");
  s.push_back("run.progress=false");
  return run::run_scenario(run::load_scenario_file(std::string(KVMSIM_SOURCE_DIR) + "/scenarios/idle_power.yaml", s));
}

// Seed 000 cases 1 and 2: idle=poll keeps the idle VM's cores in C0 (no turbo headroom);
// MWAIT passthrough lets them sleep deeply and the busy VM's cores turbo higher. With HLT
// exits the host sees the idle VM's threads mostly blocked (top's %CPU), unlike both.
TEST(Power, IdlePollVersusMwaitPassthroughVersusHalt) {
  const auto poll = idle_power({"guest.idle=poll", "kvm.disable_exits=[]"});
  const auto mwait = idle_power({"guest.idle=mwait", "kvm.disable_exits=[mwait]"});
  const auto halt = idle_power({"guest.idle=halt", "kvm.disable_exits=[]"});
  using testutil::metric;
  EXPECT_GT(metric(poll, "cstate.c0_pct"), 99.0);
  EXPECT_EQ(metric(poll, "cstate.deep_pct"), 0.0);
  EXPECT_GT(metric(mwait, "cstate.deep_pct"), 50.0);
  EXPECT_GT(metric(mwait, "freq.busy_mhz"), metric(poll, "freq.busy_mhz"));
  EXPECT_GT(metric(mwait, "unixbench.score"), metric(poll, "unixbench.score"));
  EXPECT_GT(metric(poll, "vm1.host.cpu_pct"), 350.0);   // the seed's top: ~400% for both qemus
  EXPECT_GT(metric(mwait, "vm1.host.cpu_pct"), 350.0);
  EXPECT_LT(metric(halt, "vm1.host.cpu_pct"), 50.0);
  EXPECT_GT(metric(halt, "cstate.deep_pct"), 50.0);
  // Wake-up latency: polling answers at once; a deep C-state costs its exit latency.
  EXPECT_LT(metric(poll, "vm1.idle.wakeup_latency_us.p99"), 5.0);
  EXPECT_GT(metric(mwait, "vm1.idle.wakeup_latency_us.p99"), 100.0);
}

// Task ordering with the scenario's nohz_full host: deep C-state residency of the idle VM's
// cores poll < halt < mwait passthrough, and halt pays a visible halt-polling cost (at
// 2 kHz KVM's adaptive window grows; at 100 Hz sleeps are too long for it to grow).
// Without nohz_full the host tick pulls the MWAIT vCPUs out of C6 and halt wins.
TEST(Power, NohzFullPutsHaltBetweenPollAndMwait) {
  using testutil::metric;
  const std::vector<std::string> hz = {"idle.wakeup_hz=2000"};
  auto with = [&](std::vector<std::string> s) {
    s.insert(s.end(), hz.begin(), hz.end());
    return idle_power(s);
  };
  const auto poll = with({"guest.idle=poll", "kvm.disable_exits=[]"});
  const auto mwait = with({"guest.idle=mwait", "kvm.disable_exits=[mwait]"});
  const auto halt = with({"guest.idle=halt", "kvm.disable_exits=[]"});
  EXPECT_LT(metric(poll, "cstate.deep_pct"), metric(halt, "cstate.deep_pct"));
  EXPECT_LT(metric(halt, "cstate.deep_pct"), metric(mwait, "cstate.deep_pct"));
  EXPECT_GT(metric(halt, "halt_poll.ns_per_s"), 0.0);
  EXPECT_GT(metric(halt, "cstate.c0_poll_pct"), 1.0);
  EXPECT_EQ(metric(mwait, "halt_poll.ns_per_s"), 0.0);
  // The nohz_full vCPU thread is still accounted (task_sched_runtime): top shows ~400%.
  EXPECT_GT(metric(mwait, "vm1.host.cpu_pct"), 350.0);
  // Shared host (tick on): the MWAIT cores lose deep residency to tick exits.
  const auto mwait_tick = with({"guest.idle=mwait", "kvm.disable_exits=[mwait]", "host.isolation=false"});
  EXPECT_LT(metric(mwait_tick, "cstate.deep_pct"), metric(mwait, "cstate.deep_pct"));
  // A residual tick on the nohz_full CPU (host.nohz_full_residual_hz; 1 Hz on old kernels,
  // made frequent here to be seen in 40 ms) costs deep residency again.
  const auto mwait_residual = with({"guest.idle=mwait", "kvm.disable_exits=[mwait]", "host.nohz_full_residual_hz=1000"});
  EXPECT_LT(metric(mwait_residual, "cstate.deep_pct"), metric(mwait, "cstate.deep_pct"));
}

// host.power_model=feedback: a busy core's compute ops run at its package's turbo bin, so
// its simulated loop count rises when the sibling cores sleep in C6 (MWAIT passthrough)
// instead of polling; under account the count stays at the nominal clock's and only the
// score is scaled. Both ways give the same score within a few percent.
TEST(Power, FeedbackRaisesBusyLoopCountWhenSiblingsSleep) {
  using testutil::metric;
  auto run = [](const std::string& idle, const std::string& model) {
    return idle_power({"guest.idle=" + idle, idle == "mwait" ? "kvm.disable_exits=[mwait]" : "kvm.disable_exits=[]",
                       "host.power_model=" + model});
  };
  const auto acc_poll = run("poll", "account"), acc_mwait = run("mwait", "account");
  const auto fb_poll = run("poll", "feedback"), fb_mwait = run("mwait", "feedback");
  EXPECT_EQ(metric(acc_poll, "unixbench.loops_per_s"), metric(acc_mwait, "unixbench.loops_per_s"));
  EXPECT_GT(metric(fb_mwait, "unixbench.loops_per_s"), 1.02 * metric(fb_poll, "unixbench.loops_per_s"));
  EXPECT_NEAR(metric(fb_mwait, "unixbench.score"), metric(acc_mwait, "unixbench.score"), 0.02 * metric(acc_mwait, "unixbench.score"));
  EXPECT_NEAR(metric(fb_poll, "unixbench.score"), metric(acc_poll, "unixbench.score"), 0.02 * metric(acc_poll, "unixbench.score"));
  // off: no power table at all (no residency metrics, no turbo).
  const auto off = run("mwait", "off");
  EXPECT_EQ(off.metrics.count("cstate.deep_pct"), 0u);
}

}  // namespace
