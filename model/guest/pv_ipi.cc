#include "guest/pv_ipi.h"

namespace guest {

std::vector<PvIpiWindow> pv_ipi_windows(std::span<const uint32_t> ids) {
  std::vector<PvIpiWindow> out;
  unsigned __int128 bitmap = 0;
  uint32_t min = 0, max = 0;
  auto flush = [&] {
    out.push_back({static_cast<uint64_t>(bitmap), static_cast<uint64_t>(bitmap >> 64), min});
    bitmap = 0;
  };
  for (uint32_t id : ids) {
    if (!bitmap) {
      min = max = id;
    } else if (id < min && max - id < KVM_IPI_CLUSTER_SIZE) {
      bitmap <<= (min - id);  // slide the window down to the new minimum
      min = id;
    } else if (id > min && id < min + KVM_IPI_CLUSTER_SIZE) {
      max = id < max ? max : id;
    } else if (id != min) {
      flush();
      min = max = id;
    }
    bitmap |= static_cast<unsigned __int128>(1) << (id - min);
  }
  if (bitmap) flush();
  return out;
}

}  // namespace guest
