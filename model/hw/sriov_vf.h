// An SR-IOV virtual function receiving a packet stream (iperf), interrupting through MSI
// with interrupt moderation (ixgbe(vf)'s ITR): packets arrive as a Poisson stream at
// `pps`; the VF raises at most one MSI per `itr` interval, when packets are waiting, to the
// (APIC id, vector) its MSI message is programmed with. Where that goes is the interrupt
// path under study: a host vector on a host CPU (KVM forwards it as a virtual IRQ), or the
// guest's vector on the vCPU's dedicated core (DirectIRQ). The guest driver's NAPI poll
// takes the waiting packets (take_packets).
//
// The VF's moderation timer runs off the NIC's own oscillator, `clock_ppm` away from the
// CPU's TSC, and starts at a random phase: its interrupts drift through the 1-ms timer grid
// instead of landing at the same offset every period.
//
// Ports: msi_out (TLM initiator to the APIC bus). Statistics: packets, interrupts.
#pragma once

#include <cstdint>
#include <functional>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>

#include "sim/rng.h"
#include "sim/time.h"

namespace hw {

class SriovVf : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(SriovVf);
  SriovVf(sc_core::sc_module_name name, double pps, double itr_us, double clock_ppm, uint64_t seed);
  tlm_utils::simple_initiator_socket<SriovVf> msi_out;

  void set_msi(uint32_t dest_apic_id, uint8_t vector) { dest_ = dest_apic_id; vector_ = vector; }
  // VT-d posted interrupts: the IOMMU's interrupt remapping posts into the vCPU's PI
  // descriptor and returns the notification (destination, vector), or false when none is
  // needed (ON already set).
  std::function<bool(uint32_t& dest, uint8_t& vector)> iommu_post;
  uint8_t msi_vector() const { return vector_; }
  uint64_t take_packets() { const uint64_t n = waiting_; waiting_ = 0; return n; }
  uint64_t packets() const { return packets_; }
  uint64_t interrupts() const { return interrupts_; }

 private:
  void tick();
  sc_core::sc_event ev_;
  sim::Rng rng_;
  double pps_;
  sim::Picos itr_;
  sim::Picos next_packet_ = 0;
  uint32_t dest_ = 0;
  uint8_t vector_ = 0;
  uint64_t waiting_ = 0, packets_ = 0, interrupts_ = 0;
};

}  // namespace hw
