#include "host/kernel.h"

#include "host/sched_rt.h"
#include "hw/core.h"

namespace host {

Kernel::Kernel(const HostParams& params, std::vector<hw::Core*> cores) : params_(params) {
  const sim::Picos tick = sim::kPsPerSec / static_cast<sim::Picos>(params.hz);
  for (hw::Core* c : cores) {
    cpus_.push_back(std::make_unique<Cpu>(*this, *c, make_rt_class(make_sched_policy(params.scheduler, params.sched)), tick));
    c->set_root_software(cpus_.back().get());
  }
  // tick_setup_sched_timer with skew_tick: spread the CPUs' ticks over half a period.
  if (params.skew_tick)
    for (auto& c : cpus_) c->set_tick_offset(tick / 2 / static_cast<sim::Picos>(cpus_.size()) * static_cast<sim::Picos>(c->id()));
}

Task* Kernel::add_task(std::unique_ptr<Task> t, int cpu_index) {
  Task* raw = t.get();
  raw->cpu = cpu_index;
  tasks_.push_back(std::move(t));
  cpu(cpu_index).enqueue_initial(raw);
  return raw;
}

void Kernel::start() {
  for (auto& c : cpus_) c->start();
}

}  // namespace host
