#include "hw/sriov_vf.h"

#include <algorithm>
#include <cmath>

#include "hw/apic_message.h"

namespace hw {

SriovVf::SriovVf(sc_core::sc_module_name name, double pps, double itr_us, double clock_ppm, uint64_t seed)
    : sc_module(name), msi_out("msi_out"), rng_(seed, "sriov_vf"), pps_(pps),
      itr_(std::max<sim::Picos>(sim::us(itr_us * (1.0 + clock_ppm * 1e-6)), 1)) {
  SC_METHOD(tick);
  sensitive << ev_;
  dont_initialize();
  if (pps_ > 0) {
    next_packet_ = sim::us(rng_.exponential(1e6 / pps_));
    ev_.notify(sc_core::sc_time::from_value(static_cast<sim::Picos>(rng_.uniform() * static_cast<double>(itr_)) + 1));
  }
}

// Every ITR interval: count the packets that arrived, and interrupt if any wait. The count
// of a Poisson stream over the interval: exact (exponential gaps) for small means, the
// normal approximation (mean and variance lambda) for large ones, where drawing every gap
// would cost a random number per packet (10GbE: 0.8 million a simulated second).
void SriovVf::tick() {
  const sim::Picos now = sc_core::sc_time_stamp().value();
  uint64_t arrived = 0;
  const double lambda = pps_ * sim::to_sec(itr_);
  if (lambda < 30.0) {
    while (next_packet_ <= now) {
      ++arrived;
      next_packet_ += std::max<sim::Picos>(sim::us(rng_.exponential(1e6 / pps_)), 1);
    }
  } else {
    const double u1 = std::max(rng_.uniform(), 1e-300), u2 = rng_.uniform();
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * 3.141592653589793 * u2);
    arrived = static_cast<uint64_t>(std::max(0.0, std::round(lambda + std::sqrt(lambda) * z)));
  }
  packets_ += arrived;
  waiting_ += arrived;
  if (waiting_ > 0) {
    ++interrupts_;
    ApicMessage msg;
    msg.icr.vector = vector_;
    msg.icr.dest = dest_;
    if (iommu_post && !iommu_post(msg.icr.dest, msg.icr.vector)) {
      ev_.notify(sc_core::sc_time::from_value(itr_));
      return;
    }
    msg.source_cpu = -1;
    tlm::tlm_generic_payload trans;
    trans.set_command(tlm::TLM_WRITE_COMMAND);
    trans.set_data_ptr(reinterpret_cast<unsigned char*>(&msg));
    trans.set_data_length(sizeof(msg));
    sc_core::sc_time delay = sc_core::SC_ZERO_TIME;
    msi_out->b_transport(trans, delay);
  }
  ev_.notify(sc_core::sc_time::from_value(itr_));
}

}  // namespace hw
