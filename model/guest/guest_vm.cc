#include "guest/guest_vm.h"

#include <stdexcept>

namespace guest {

IpiMode ipi_mode_from_string(const std::string& s) {
  if (s == "x2apic_physical") return IpiMode::X2apicPhysical;
  if (s == "x2apic_cluster") return IpiMode::X2apicCluster;
  if (s == "pv") return IpiMode::Pv;
  if (s == "noexit_pv") return IpiMode::NoexitPv;
  if (s == "ipiv") return IpiMode::Ipiv;
  throw std::invalid_argument("unknown IPI mode '" + s + "'");
}

const char* to_string(IpiMode m) {
  switch (m) {
    case IpiMode::X2apicPhysical: return "x2apic_physical";
    case IpiMode::X2apicCluster: return "x2apic_cluster";
    case IpiMode::Pv: return "pv";
    case IpiMode::NoexitPv: return "noexit_pv";
    case IpiMode::Ipiv: return "ipiv";
  }
  return "?";
}

}  // namespace guest
