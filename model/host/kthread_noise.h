// Host kernel threads that wake on a CPU and run kernel code with preemption off (a
// !CONFIG_PREEMPT host, as the seed's 3.5 kernel in a distribution build): vmstat_update,
// kworker items, RCU callbacks, ksoftirqd. They wake at exponential intervals (rate
// host.kthread_hz) and each wake-up runs an exponentially distributed stretch of work
// (mean host.kthread_run_us). A waking real-time task (the vCPU thread, cyclictest) waits
// until the stretch ends: this is the tail of KVM's and bare metal's cyclictest max in
// seed 001. CPU isolation keeps them off the isolated CPUs.
//
// Statistics: wake-ups, total work.
#pragma once

#include <cstdint>
#include <string>

#include "host/hrtimer.h"
#include "host/task.h"
#include "sim/rng.h"

namespace host {

class KthreadNoise : public Task {
 public:
  KthreadNoise(std::string name, double hz, double mean_run_us, uint64_t seed);
  void run(Cpu& cpu) override;
  void resume(Cpu& cpu) override;
  void on_busy_done(Cpu& cpu) override;
  bool preemptible() const override { return !working_; }
  uint64_t wakeups() const { return wakeups_; }

 private:
  void sleep(Cpu& cpu);
  HrTimer timer_;
  sim::Rng rng_;
  double period_us_, mean_run_us_;
  sim::Picos work_end_ = 0;
  sim::Picos pending_work_ = 0;
  bool working_ = false;
  uint64_t wakeups_ = 0;
};

}  // namespace host
