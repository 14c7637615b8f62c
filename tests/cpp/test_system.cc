// run::System: assembling several VMs (vm.count), their pinning and their workloads.
#include <gtest/gtest.h>

#include <string>

#include "run_helpers.h"

namespace {

using testutil::metric;

// kvm-unit-tests cpuid on 2-vCPU VMs, short.
run::RunResult run_cpuid(const std::vector<std::string>& sets) {
  return run::run_scenario(testutil::vmexit_scenario({"cpuid"}, 1u << 22, sets));
}

std::string run_error(const std::vector<std::string>& sets) {
  try {
    run_cpuid(sets);
  } catch (const sim::ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a ConfigError";
  return "";
}

TEST(System, TwoVmsOnTheirOwnCpusMatchOneVmAlone) {
  const auto alone = run_cpuid({});
  const auto two = run_cpuid({"vm.count=2", "vm.pin=[0,1,2,3]"});
  // Nothing is shared, so VM 0 runs exactly as it does alone, and VM 1 is its twin.
  EXPECT_EQ(metric(two, "vmexit.cpuid"), metric(alone, "vmexit.cpuid"));
  EXPECT_EQ(metric(two, "vm0.vmexit.cpuid"), metric(alone, "vmexit.cpuid"));
  EXPECT_EQ(metric(two, "vm1.vmexit.cpuid"), metric(alone, "vmexit.cpuid"));
  EXPECT_EQ(metric(two, "exits.total"), 2 * metric(alone, "exits.total"));
  EXPECT_EQ(alone.metrics.count("vm0.vmexit.cpuid"), 0u);  // one VM: no prefixed copies
}

TEST(System, OvercommittedVmsTimeShareTheirCpus) {
  const auto alone = run_cpuid({});
  const auto two = run_cpuid({"vm.count=2"});  // vCPU i of both VMs on CPU i
  // The host scheduler time-slices the two vCPU threads of each CPU: rdtsc-timed loops
  // see the other VM's slices, and the host switches contexts.
  EXPECT_GT(metric(two, "host.context_switches"), metric(alone, "host.context_switches"));
  EXPECT_GT(metric(two, "vm0.vmexit.cpuid") + metric(two, "vm1.vmexit.cpuid"), 2.5 * metric(alone, "vmexit.cpuid"));
  EXPECT_EQ(metric(two, "invariant.illegal_transitions"), 0);
  EXPECT_EQ(metric(two, "invariant.lost_interrupts"), 0);
}

TEST(System, EachVmRunsItsOwnWorkload) {
  const auto r = run_cpuid({"vm.count=2", "vm.pin=[0,1,2,3]", "vm.workloads=[vmexit, idle]"});
  EXPECT_GT(metric(r, "vm0.vmexit.cpuid"), 0);
  EXPECT_EQ(r.metrics.count("vm1.vmexit.cpuid"), 0u);
  // The idle VM's vCPUs halt once each and stay blocked: a handful of exits.
  EXPECT_LT(metric(r, "vm1.exits.total"), 10);
}

TEST(System, PinListOfTheWrongLengthIsNamed) {
  const std::string what = run_error({"vm.count=2", "vm.pin=[0,1,2]"});
  EXPECT_NE(what.find("vm.pin"), std::string::npos) << what;
  EXPECT_NE(what.find("2 entries"), std::string::npos) << what;
  EXPECT_NE(what.find("4 for every vCPU"), std::string::npos) << what;
}

TEST(System, WorkloadListOfTheWrongLengthIsNamed) {
  const std::string what = run_error({"vm.count=3", "vm.workloads=[vmexit, idle]"});
  EXPECT_NE(what.find("vm.workloads"), std::string::npos) << what;
  EXPECT_NE(what.find("3 entries"), std::string::npos) << what;
}

}  // namespace
