// An interrupt message on the APIC bus (the payload of a TLM-2.0 transaction).
#pragma once

#include <cstdint>

#include "hw/icr.h"

namespace hw {

struct ApicMessage {
  Icr icr;              // vector, delivery mode, destination (x2APIC layout)
  int source_cpu = -1;  // sending CPU; -1 for a device (MSI) or the LAPIC's own timer
};

}  // namespace hw
