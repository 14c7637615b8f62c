#include "host/kthread_noise.h"

#include "host/cpu.h"

namespace host {

KthreadNoise::KthreadNoise(std::string name, double hz, double mean_run_us, uint64_t seed)
    : Task(name), rng_(seed, name), period_us_(1e6 / hz), mean_run_us_(mean_run_us) {
  timer_.fn = [this](Cpu& c) {
    ++wakeups_;
    pending_work_ = sim::us(rng_.exponential(mean_run_us_));
    c.wake_up(this, c);
  };
}

void KthreadNoise::sleep(Cpu& cpu) {
  cpu.hrtimer_start(timer_, cpu.now() + sim::us(rng_.exponential(period_us_)));
  cpu.block_current();
}

void KthreadNoise::run(Cpu& cpu) {
  if (!working_ && pending_work_ == 0) return sleep(cpu);
  if (!working_) {
    working_ = true;
    work_end_ = cpu.now() + pending_work_;
    pending_work_ = 0;
  }
  cpu.busy_until(work_end_);
}

// Interrupt handlers that ran meanwhile are not work done: the stretch goes on.
void KthreadNoise::resume(Cpu& cpu) { run(cpu); }

void KthreadNoise::on_busy_done(Cpu& cpu) {
  working_ = false;
  sleep(cpu);
}

}  // namespace host
