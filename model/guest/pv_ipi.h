// The guest half of KVM's PV send-IPI (arch/x86/kernel/kvm.c __send_ipi_mask): walk the
// destination APIC ids in CPU order, packing them into 128-bit bitmaps relative to a
// minimum id; when an id does not fit the current window, the window is sent with one
// KVM_HC_SEND_IPI hypercall and a new one starts.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace guest {

inline constexpr uint32_t KVM_IPI_CLUSTER_SIZE = 128;  // 2 * BITS_PER_LONG

struct PvIpiWindow {
  uint64_t low = 0, high = 0;  // bitmap bits 0-63 and 64-127, relative to min
  uint32_t min = 0;
};

std::vector<PvIpiWindow> pv_ipi_windows(std::span<const uint32_t> apic_ids_in_cpu_order);

}  // namespace guest
