#include "hw/icr.h"

#include <algorithm>

namespace hw {

std::vector<uint32_t> x2apic_cluster_dests(std::span<const uint32_t> apic_ids) {
  std::vector<uint32_t> ldrs;
  ldrs.reserve(apic_ids.size());
  for (uint32_t id : apic_ids) ldrs.push_back(x2apic_ldr(id));
  std::sort(ldrs.begin(), ldrs.end());  // members of a cluster become adjacent

  std::vector<uint32_t> dests;
  for (uint32_t ldr : ldrs) {
    if (!dests.empty() && (dests.back() >> 16) == (ldr >> 16))
      dests.back() |= ldr;
    else
      dests.push_back(ldr);
  }
  return dests;
}

}  // namespace hw
