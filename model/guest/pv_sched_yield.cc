#include "guest/pv_sched_yield.h"

#include <algorithm>

#include "hw/apic_regs.h"
#include "kvm/steal_time.h"

namespace guest {

PvFeatures kvm_guest_init(const PvOffer& o) {
  const bool common = o.steal_time && !o.hints_realtime && !o.mwait && o.possible_cpus != 1;
  return {o.want_pv_tlb_flush && common, o.want_pv_sched_yield && common};
}

namespace {

// for_each_cpu(cpu, mask): !idle_cpu(cpu) && vcpu_is_preempted(cpu), at the guest's current
// time (the steal-time bytes are read when the instruction runs). The position of the first
// hit + 1, or 0; `checked` counts the lines read.
class FirstPreempted : public hw::TimedAccess {
 public:
  FirstPreempted(const GuestVm& vm, const std::vector<int>& t) : vm_(vm), targets_(t) {}
  size_t checked = 0;
  uint64_t access(int64_t now_ps, int) override {
    checked = 0;
    for (size_t k = 0; k < targets_.size(); ++k) {
      const size_t t = static_cast<size_t>(targets_[k]);
      if (t >= vm_.steal_time.size()) continue;
      if (t < vm_.cpus.size() && vm_.cpus[t]->program_done()) continue;  // idle_cpu(): runs its idle task
      ++checked;
      if (vm_.steal_time[t]->vcpu_is_preempted(static_cast<sim::Picos>(now_ps))) return k + 1;
    }
    return 0;
  }

 private:
  const GuestVm& vm_;
  const std::vector<int>& targets_;
};

}  // namespace

Task<int> send_call_func_ipi(GuestCpu& g, std::vector<int> targets, uint64_t* yields) {
  co_await g.send_ipi_mask(targets, hw::CALL_FUNCTION_VECTOR);  // native_send_call_func_ipi
  const GuestVm* vm = g.vm();
  if (!vm || !vm->pv_sched_yield) co_return -1;
  std::sort(targets.begin(), targets.end());  // for_each_cpu: CPU order
  FirstPreempted scan(*vm, targets);
  const uint64_t hit = co_await g.op({hw::OpKind::TimedAccess, 0, 0, 0, 0, 0, 0, nullptr, nullptr, &scan});
  co_await g.compute(static_cast<uint64_t>(g.costs().guest_vcpu_is_preempted * static_cast<double>(scan.checked)));
  if (!hit) co_return -1;
  const int t = targets[hit - 1];
  if (yields) ++*yields;
  co_await g.vmcall(11 /*KVM_HC_SCHED_YIELD*/, vm->apic_ids[static_cast<size_t>(t)]);
  co_return t;
}

Task<int> send_call_function_ipis(GuestCpu& g, std::vector<int> targets, uint64_t* yields) {
  if (targets.size() == 1) {
    co_await g.send_ipi_mask(targets, hw::CALL_FUNCTION_VECTOR);
    co_return -1;
  }
  co_return co_await send_call_func_ipi(g, std::move(targets), yields);
}

}  // namespace guest
