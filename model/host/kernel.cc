#include "host/kernel.h"

#include "host/sched_rt.h"
#include "hw/apic_regs.h"
#include "hw/core.h"

namespace host {

Kernel::Kernel(const HostParams& params, std::vector<hw::Core*> cores) : params_(params) {
  const sim::Picos tick = sim::kPsPerSec / static_cast<sim::Picos>(params.hz);
  params_.sched.nr_cpus = static_cast<int>(cores.size());
  for (hw::Core* c : cores) {
    cpus_.push_back(std::make_unique<Cpu>(*this, *c, make_rt_class(make_sched_policy(params_.scheduler, params_.sched)), tick));
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

void Kernel::migrate(Task* t, Cpu& src, Cpu& dst) {
  // migrate_task_rq_fair: the vruntime (and EEVDF deadline) keep their distance to the
  // queue's min_vruntime.
  const int64_t shift = static_cast<int64_t>(dst.policy().queue_min_vruntime() - src.policy().queue_min_vruntime());
  t->vruntime += static_cast<uint64_t>(shift);
  t->deadline += static_cast<uint64_t>(shift);
  t->cpu = dst.id();
  dst.policy().enqueue(t, false);
  ++migrations_;
}

bool Kernel::load_balance(Cpu& dst) {
  if (!params_.load_balance) return false;
  dst.vmx().charge(dst.vmx().costs().host_load_balance);
  Cpu* busiest = nullptr;
  for (auto& c : cpus_)
    if (c.get() != &dst && c->nr_running() >= dst.nr_running() + 2 && (!busiest || c->nr_running() > busiest->nr_running()))
      busiest = c.get();
  if (!busiest) return false;
  Task* t = busiest->policy().detach_task(dst.id());
  if (!t) return false;
  migrate(t, *busiest, dst);
  return true;
}

bool Kernel::nohz_idle_balance(Cpu& src) {
  if (!params_.load_balance || src.nr_running() < 2) return false;
  for (auto& c : cpus_) {
    if (c.get() == &src || c->nr_running() != 0) continue;
    Task* t = src.policy().detach_task(c->id());
    if (!t) continue;
    src.vmx().charge(src.vmx().costs().host_load_balance);
    migrate(t, src, *c);
    hw::Icr icr;  // kick the idle CPU (it schedules on the reschedule IPI)
    icr.vector = hw::RESCHEDULE_VECTOR;
    icr.dest = c->apic_id();
    src.send_ipi(icr);
    return true;
  }
  return false;
}

void Kernel::start() {
  for (auto& c : cpus_) c->start();
}

}  // namespace host
