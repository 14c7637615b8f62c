// Issue 6 on the core: the TLB for guest memory accesses (tags and invalidation by the
// VMCS) and the C-states a thread enters (host idle, guest HLT/MWAIT without exits).
#include <algorithm>

#include "hw/core.h"
#include "hw/vmx.h"

namespace hw {

// With "enable VPID" the combined mappings are tagged by the VMCS's VPID; without it the
// guest shares VPID 0 with the host and every VM entry and exit flushes it (SDM 28.4.3.3).
bool Core::execute_tlb(GuestOp& op) {
  const bool vpid_on = vmcs_->secondary() & SECONDARY_EXEC_ENABLE_VPID;
  const uint16_t vpid = vpid_on ? static_cast<uint16_t>(vmcs_->read(VmcsField::VIRTUAL_PROCESSOR_ID)) : 0;
  const uint64_t eptp = vmcs_->read(VmcsField::EPT_POINTER);
  if (!vpid_on && last_entry_ != tlb_vpid0_entry_) {  // an entry since the last access: flushed
    tlb_vpid0_entry_ = last_entry_;
    tlb_.invvpid_single(0);
  }
  if (op.kind == OpKind::Invlpg) {
    if (vmcs_->primary() & CPU_BASED_INVLPG_EXITING) {
      vmexit(EXIT_REASON_INVLPG);
      return false;
    }
    charge(costs_.cpu_invlpg);
    tlb_.flush_context(vpid, eptp, op.b);
    retire();
    return true;
  }
  bool miss = false;
  const uint64_t gen = tlb_.access(vpid, eptp, op.b, op.a, &miss);
  if (miss) charge(costs_.cpu_tlb_miss_walk);
  guest_->regs.op_time_ps = local_;
  retire(gen);
  return true;
}

// Exit latency of a C-state: the platform's intel_idle table, else cpu.c1_exit.
sim::Picos Core::cstate_exit_ps(CState s) const {
  const PowerTable& t = platform_.power;
  if (t.present && t.has[static_cast<int>(s)]) return sim::us(t.exit_us[static_cast<int>(s)]);
  return clock_.cycles(costs_.cpu_c1_exit);
}

// A guest HLT (HLT exiting off) halts the thread in C1; a guest MWAIT (MWAIT exiting off)
// enters the state of its hint, EAX[7:4] + 1 (0 C1, 1 C3, 2 C6, 3 C7; sub-state 1 of C1 is
// C1E), clamped to what the part offers.
void Core::enter_guest_cstate(const GuestOp& op) {
  CState s = CState::C1;
  if (op.kind == OpKind::Mwait) {
    static constexpr CState kByHint[] = {CState::C1, CState::C3, CState::C6, CState::C7};
    const uint64_t hint = op.a;
    s = kByHint[std::min<uint64_t>((hint >> 4) & 0xF, 3)];
    if (s == CState::C1 && (hint & 0xF)) s = CState::C1E;
    s = platform_.power.present ? platform_.power.clamp(s) : CState::C1;
  }
  idle_cstate_ = s;
  guest_cstate_ = true;
  if (power_) power_->set(cpu_, s, local_);
}

void Core::leave_guest_cstate() {
  guest_cstate_ = false;
  if (power_) power_->set(cpu_, CState::C0, local_);
  // Only with the platform's power table: without one, a guest HLT/MWAIT wakes at once, as
  // before the C-state model (results of platforms without a table stay unchanged).
  if (platform_.power.present) local_ += cstate_exit_ps(idle_cstate_);
}

}  // namespace hw

namespace hw {

// host.power_model=feedback: a compute op's cycles take nominal/current of the nominal-clock
// time, with the frequency sampled when the op starts (a turbo-bin change during the op is
// not seen until the next op or interruption).
double Core::compute_scale() const {
  const double mhz = power_->current_mhz(cpu_);
  return mhz > 0 ? platform_.freq_mhz / mhz : 1.0;
}

}  // namespace hw
