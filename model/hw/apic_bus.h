// The APIC bus: a TLM-2.0 interconnect carrying interrupt messages between local APICs.
// It resolves the ICR's destination (physical, logical x2APIC cluster, shorthands) and
// adds the topology's wire latency to each copy: same core < same socket < cross socket.
//
// Ports: in (multi-target, one binding per core's apic_out), out (multi-initiator, bound
// to each core's apic_in in CPU order). Statistics: messages, deliveries.
#pragma once

#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/multi_passthrough_initiator_socket.h>
#include <tlm_utils/multi_passthrough_target_socket.h>

#include "hw/icr.h"
#include "hw/platform.h"
#include "sim/time.h"

namespace hw {

class ApicBus : public sc_core::sc_module {
 public:
  ApicBus(sc_core::sc_module_name name, const Platform& platform);

  tlm_utils::multi_passthrough_target_socket<ApicBus> in;
  tlm_utils::multi_passthrough_initiator_socket<ApicBus> out;

  // Physical APIC identities of the CPUs, in CPU order (x2APIC mode).
  void set_identities(std::vector<ApicIdentity> ids) { ids_ = std::move(ids); }
  uint64_t messages() const { return messages_; }
  uint64_t deliveries() const { return deliveries_; }

 private:
  void b_transport(int port, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  void deliver(int target, int source, tlm::tlm_generic_payload& trans, const sc_core::sc_time& delay);

  const Platform& platform_;
  std::vector<ApicIdentity> ids_;
  std::vector<sim::Picos> latency_ps_;  // cpus x cpus
  uint64_t messages_ = 0, deliveries_ = 0;
};

}  // namespace hw
