// kvm-clock's stability (arch/x86/kvm/x86.c pvclock_update_vm_gtod_copy): KVM sets
// PVCLOCK_TSC_STABLE_BIT ("use_master_clock") only when the host's own clocksource is
// TSC-based (kvm_get_time_and_clockread -> gtod_is_based_on_tsc). An L1 KVM on Hyper-V
// uses the Hyper-V TSC page, which KVM counted as TSC-based only after the seed's patches
// ("x86/kvm/hyperv: stable clocksource for L2 guests when running nested KVM on Hyper-V").
#pragma once

namespace kvm {

enum class HostClocksource { Tsc, KvmClock, HypervTscPage };

inline bool gtod_is_based_on_tsc(HostClocksource c, bool hv_tsc_page_counts) {
  return c == HostClocksource::Tsc || (c == HostClocksource::HypervTscPage && hv_tsc_page_counts);
}

}  // namespace kvm
