#include "kvm/on_spin.h"

#include "kvm/kvm.h"
#include "kvm/vcpu.h"

namespace kvm {

// kvm_arch_dy_has_pending_interrupt: APICv with ON set, or SN set with a non-empty PIR.
bool vcpu_dy_has_pending_interrupt(const Vcpu& v) {
  if (!v.apicv_active()) return false;
  return v.pi_desc.pi_test_on() || (v.pi_desc.pi_test_sn() && !v.pi_desc.pi_is_pir_empty());
}

// kvm_arch_dy_runnable: PV unhalt, a pending event request, or a pending posted interrupt.
bool vcpu_dy_runnable(const Vcpu& v) {
  if (v.pv_unhalted) return true;
  if (v.requests & KVM_REQ_EVENT) return true;
  return vcpu_dy_has_pending_interrupt(v);
}

// The filters in the 5.6 loop's order. Seed 003 patch 2 (the RFC's kvm_main.c hunk): a
// ready candidate that is not preempted (woken from a halt, not yet running) is skipped
// unless its mask has my bit, and so is a candidate preempted in user mode; each skip
// sets my bit, so the same spinner takes that candidate at its next look (before the
// candidate runs again and clears the mask).
bool on_spin_candidate(const Vcpu& me, Vcpu& c, bool yield_to_kernel_mode) {
  if (&c == &me || !c.ready) return false;
  const KvmParams& p = me.kvm.params();
  const uint64_t my_bit = 1ull << (me.vcpu_id & 63);
  if (p.ishiguro_ipi_aware && !c.preempted && !(c.ipi_received & my_bit)) {
    c.ipi_received |= my_bit;  // seed 003 problem 3: not every woken vCPU is worth a boost
    return false;
  }
  if (c.blocking && !vcpu_dy_runnable(c)) return false;
  if (c.preempted && yield_to_kernel_mode && !c.preempted_in_kernel) {
    if (p.dy_pending_interrupt && vcpu_dy_has_pending_interrupt(c)) return true;  // ~5.13
    if (!p.ishiguro_ipi_aware) return false;
    // Seed 003 problem 2: an IPI receiver preempted in user mode is boosted by its senders.
    if (!(c.ipi_received & my_bit)) {
      c.ipi_received |= my_bit;
      return false;
    }
  }
  return true;
}

bool eligible_for_directed_yield(Vcpu& c) {
  const bool eligible = !c.in_spin_loop || c.dy_eligible;
  if (c.in_spin_loop) c.dy_eligible = !c.dy_eligible;
  return eligible;
}

int kvm_vcpu_yield_to(hw::VmxCpu& cpu, Vcpu& me, Vcpu& target) {
  ++me.stat.directed_yield_attempted;
  const int r = me.host ? me.host->yield_to(cpu, target) : 0;
  if (r > 0) ++me.stat.directed_yield_successful;
  if (r < 0) ++me.stat.directed_yield_esrch;
  if (me.kvm.directed_yield_observer) me.kvm.directed_yield_observer(me, target, r);
  return r;
}

int kvm_vcpu_on_spin(hw::VmxCpu& cpu, Vcpu& me, bool yield_to_kernel_mode) {
  Kvm& kvm = me.kvm;
  const int n = kvm.nr_vcpus();
  ++me.stat.on_spin;
  cpu.charge(cpu.costs().kvm_vcpu_on_spin);
  if (n < 2) return -1;
  me.in_spin_loop = true;
  int tries = 3;
  int boosted = -1;
  auto attempt = [&](int i, int counter) -> bool {  // true: stop the walk
    Vcpu& c = kvm.vcpu(i);
    if (!on_spin_candidate(me, c, yield_to_kernel_mode)) return false;
    if (!eligible_for_directed_yield(c)) return false;
    const int r = kvm_vcpu_yield_to(cpu, me, c);
    if (r > 0) {
      // 6.13 .. 6.18 wrote the loop counter, not the index (fixed by 32bd348be3fa).
      kvm.last_boosted_vcpu = kvm.params().on_spin_version == KvmParams::OnSpin::V6_13 ? counter : i;
      boosted = i;
      return true;
    }
    return r < 0 && --tries == 0;
  };
  const int last = kvm.last_boosted_vcpu;
  if (kvm.params().on_spin_version != KvmParams::OnSpin::V5_6) {
    // >= 6.13: one loop over vCPU[last+1] .. vCPU[last], wrapping.
    for (int k = 0; k < n; ++k)
      if (attempt((last + 1 + k) % n, k)) break;
  } else {
    // 5.6 .. 6.12: pass 0 over (last, n), pass 1 over [0, last].
    bool stop = false;
    for (int i = last + 1; i < n && !stop; ++i) stop = attempt(i, i);
    for (int i = 0; i <= last && i < n && !stop && boosted < 0 && tries; ++i) stop = attempt(i, i);
  }
  // The yielder is switched out before it leaves the loop: it stays "in the spin loop"
  // (and a candidate every other time) until it runs again.
  if (boosted >= 0) {
    me.spin_loop_until_load = true;
  } else {
    me.in_spin_loop = false;
    me.dy_eligible = false;
  }
  return boosted;
}

void kvm_sched_yield(hw::VmxCpu& cpu, Vcpu& me, uint64_t dest_id) {
  if (me.host && me.host->single_task_running(cpu)) {
    ++me.stat.directed_yield_attempted;
    return;
  }
  Vcpu* t = dest_id <= 0xFFFFFFFFull ? me.kvm.vcpu_by_apic_id(static_cast<uint32_t>(dest_id)) : nullptr;
  if (!t || !t->ready || t == &me) {
    ++me.stat.directed_yield_attempted;
    return;
  }
  kvm_vcpu_yield_to(cpu, me, *t);
}

}  // namespace kvm
