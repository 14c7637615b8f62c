// A host task (thread): a vCPU thread, a host kernel thread, or a CPU-bound user task.
// The host CPU it runs on calls these hooks; the task drives the core while it runs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hw/vmx_cpu.h"
#include "sim/time.h"

namespace host {

class Cpu;

enum class TaskState : uint8_t { Runnable, Running, Blocked };

class Task {
 public:
  explicit Task(std::string name) : name_(std::move(name)) {}
  virtual ~Task() = default;
  const std::string& name() const { return name_; }

  // Switched in on `cpu`: continue whatever the task was doing. Must leave the core busy,
  // idle, or in the guest.
  virtual void run(Cpu& cpu) = 0;
  // Switched out while still runnable (preempted), or after blocking.
  virtual void switched_out(Cpu& cpu, bool preempted) {}
  // Back from a host interrupt handler without a reschedule: resume where it was.
  virtual void resume(Cpu& cpu) { run(cpu); }
  virtual void on_vmexit(Cpu& cpu, const hw::ExitInfo& exit) {}
  virtual void on_busy_done(Cpu& cpu) {}
  virtual void on_soft_event(Cpu& cpu, uint64_t cookie) {}
  // False while it runs kernel code with preemption off (a !CONFIG_PREEMPT host kernel's
  // kthread): a wake-up's reschedule waits until it blocks or yields.
  virtual bool preemptible() const { return true; }

  // Scheduling state, owned by the host scheduler.
  TaskState state = TaskState::Runnable;
  int cpu = 0;               // the CPU it is pinned to / queued on
  int64_t nice = 0;
  int rt_priority = 0;       // SCHED_FIFO/SCHED_RR priority 1..99; 0 = the fair class (sched_rt.h)
  uint64_t vruntime = 0;     // ps of weighted execution (fair policies)
  sim::Picos exec_start = 0; // when it last started running
  sim::Picos sum_exec = 0;   // total run time
  sim::Picos slice_start_exec = 0;  // sum_exec when it was last picked
  // CFS/EEVDF entity state (sched_entity): load weight (nice 0 = 1024), EEVDF's virtual
  // deadline, slice and lag, and the order of insertion (rbtree ties go right).
  uint32_t weight = 1024;
  uint64_t deadline = 0;
  uint64_t slice = 0;
  int64_t vlag = 0;
  uint64_t rq_seq = 0;
  // The VM a vCPU thread belongs to (nullptr for other tasks): the Ishiguro deboost only
  // acts when skip and next buddies are vCPUs of the same VM.
  const void* vm = nullptr;
  // CPUs the load balancer may move it to (sched_setaffinity / cpuset); empty: pinned.
  std::vector<int> cpus_allowed;
  bool may_run_on(int c) const {
    for (int a : cpus_allowed)
      if (a == c) return true;
    return false;
  }
  uint64_t nr_switches = 0, nr_preemptions = 0, nr_wakeups = 0;

 private:
  std::string name_;
};

// A CPU-bound host task ("host under CPU load"): always runnable, never blocks.
class BusyTask : public Task {
 public:
  using Task::Task;
  void run(Cpu& cpu) override;
};

// The idle task: HLT (C1) until an interrupt.
class IdleTask : public Task {
 public:
  IdleTask() : Task("swapper") {}
  void run(Cpu& cpu) override;
};

}  // namespace host
