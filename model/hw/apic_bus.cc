#include "hw/apic_bus.h"

#include "hw/apic_message.h"

namespace hw {

ApicBus::ApicBus(sc_core::sc_module_name name, const Platform& platform)
    : sc_module(name), in("in"), out("out"), platform_(platform) {
  in.register_b_transport(this, &ApicBus::b_transport);
  const int n = platform.topology.cpus();
  latency_ps_.resize(static_cast<size_t>(n) * static_cast<size_t>(n));
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b)
      latency_ps_[static_cast<size_t>(a) * static_cast<size_t>(n) + static_cast<size_t>(b)] =
          sim::ns(wire_latency_ns(platform, a, b));
}

void ApicBus::deliver(int target, int source, tlm::tlm_generic_payload& trans,
                      const sc_core::sc_time& delay) {
  const int n = platform_.topology.cpus();
  const int from = source >= 0 ? source : target;  // a device: as if from the target's socket
  sim::Picos wire = latency_ps_[static_cast<size_t>(from) * static_cast<size_t>(n) + static_cast<size_t>(target)];
  if (source < 0) wire = sim::ns(platform_.costs.apic_bus_same_socket_ns);
  sc_core::sc_time d = delay + sc_core::sc_time::from_value(wire);
  ++deliveries_;
  out[static_cast<unsigned>(target)]->b_transport(trans, d);
}

void ApicBus::b_transport(int port, tlm::tlm_generic_payload& trans, sc_core::sc_time& delay) {
  const auto* msg = reinterpret_cast<const ApicMessage*>(trans.get_data_ptr());
  ++messages_;
  const int n = static_cast<int>(ids_.size());
  const ApicIdentity self = msg->source_cpu >= 0 ? ids_[static_cast<size_t>(msg->source_cpu)] : ApicIdentity{0xFFFFFFFFu, 0, 0};
  if (msg->icr.shorthand == Shorthand::None && !msg->icr.logical && msg->icr.dest != 0xFFFFFFFFu) {
    // Physical destination: one target (the common case; no scan).
    const int target = platform_.topology.cpu_of_apic_id(msg->icr.dest);
    if (target >= 0 && target < n) deliver(target, msg->source_cpu, trans, delay);
  } else {
    for (int t = 0; t < n; ++t)
      if (apic_match_dest(ids_[static_cast<size_t>(t)], self, msg->icr, true)) deliver(t, msg->source_cpu, trans, delay);
  }
  trans.set_response_status(tlm::TLM_OK_RESPONSE);
}

}  // namespace hw
