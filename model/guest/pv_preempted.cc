#include "guest/pv_preempted.h"

#include "kvm/steal_time.h"

namespace guest {

bool vcpu_is_preempted(const GuestVm& vm, int cpu, sim::Picos now) {
  if (cpu < 0 || static_cast<size_t>(cpu) >= vm.steal_time.size()) return false;  // native: never
  return vm.steal_time[static_cast<size_t>(cpu)]->vcpu_is_preempted(now);
}

namespace {
class PreemptedRead : public hw::TimedAccess {
 public:
  PreemptedRead(const GuestVm* vm, int cpu) : vm_(vm), cpu_(cpu) {}
  uint64_t access(int64_t now_ps, int) override { return vm_ && vcpu_is_preempted(*vm_, cpu_, now_ps) ? 1 : 0; }

 private:
  const GuestVm* vm_;
  int cpu_;
};
}  // namespace

sim::Task<bool> vcpu_is_preempted(GuestCpu& g, int cpu) {
  if (!g.vm() || g.vm()->steal_time.empty()) co_return false;
  PreemptedRead read(g.vm(), cpu);
  co_return co_await g.op({hw::OpKind::TimedAccess, 0, 0, 0, 0, 0, 0, nullptr, nullptr, &read}) != 0;
}

}  // namespace guest
