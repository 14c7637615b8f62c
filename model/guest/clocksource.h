// The guest's clocksource (issue 7): what clock_gettime reads. The hypervisor shares a page
// with the guest (kvm-clock's pvclock_vcpu_time_info, Hyper-V's TSC page); whether the vDSO
// may use it without a system call is a flag the hypervisor sets in that page
// (PVCLOCK_TSC_STABLE_BIT; a valid TSC-page sequence).
#pragma once

#include <cstdint>
#include <string>

namespace guest {

enum class ClocksourceKind : uint8_t { Tsc, KvmClock, HypervTscPage };
const char* to_string(ClocksourceKind k);

// The shared page, written by the hypervisor that runs the guest.
struct ClockPage {
  bool tsc_stable = true;  // PVCLOCK_TSC_STABLE_BIT / TSC page valid: the vDSO may read it
  uint32_t version = 0;    // bumped on each update (re-enlightenment, masterclock update)
};

struct Clocksource {
  ClocksourceKind kind = ClocksourceKind::Tsc;
  const ClockPage* page = nullptr;  // null for the bare TSC
};

}  // namespace guest
