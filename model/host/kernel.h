// The host kernel: its CPUs and the tasks on them, plus hooks that KVM registers for the
// interrupt vectors it owns (posted-interrupt wake-up).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "host/cpu.h"
#include "host/sched_policy.h"

namespace host {

struct HostParams {
  std::string scheduler = "simple_fair";
  SchedParams sched;
  int hz = 250;                 // CONFIG_HZ
  bool load_balance = false;    // simplified load balancing (issue 5), see Kernel::load_balance
  int balance_interval_ticks = 4;
  bool skew_tick = false;
  // Idle states the host's idle loop uses: c1 (HLT only) or menu (intel_idle + the menu
  // governor's timer-based choice: the deepest state whose target residency fits before
  // the next timer).
  std::string cpuidle = "c1";       // skew_tick=1: CPU i's tick is offset by i * (period/2) / nr_cpus
};

class Kernel {
 public:
  Kernel(const HostParams& params, std::vector<hw::Core*> cores);
  Cpu& cpu(int i) { return *cpus_[static_cast<size_t>(i)]; }
  int nr_cpus() const { return static_cast<int>(cpus_.size()); }
  const HostParams& params() const { return params_; }
  // Adds a task pinned to `cpu`; the kernel keeps ownership.
  Task* add_task(std::unique_ptr<Task> t, int cpu);
  void start();
  // Simplified load balancing between CPUs a task may run on (Task::cpus_allowed): pull
  // one queued task to `dst` from the busiest CPU holding at least two more runnable tasks
  // (newidle balance, and every balance_interval_ticks ticks); a busy CPU's tick pushes one
  // to an idle CPU and kicks it (the NO_HZ idle balancer). Returns true if a task moved.
  bool load_balance(Cpu& dst);
  bool nohz_idle_balance(Cpu& src);
  uint64_t migrations() const { return migrations_; }

  // POSTED_INTR_WAKEUP_VECTOR handler (KVM's pi_wakeup_handler).
  std::function<void(Cpu&)> pi_wakeup_handler;
  // Device interrupts (vectors the host assigned to passed-through devices: issue 3's
  // SR-IOV VF, forwarded to the guest by KVM).
  std::function<void(Cpu&, uint8_t)> device_irq_handler;

 private:
  HostParams params_;
  std::vector<std::unique_ptr<Cpu>> cpus_;
  std::vector<std::unique_ptr<Task>> tasks_;
  void migrate(Task* t, Cpu& src, Cpu& dst);
  uint64_t migrations_ = 0;
};

}  // namespace host
