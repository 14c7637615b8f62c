// One hardware thread: VMX root and non-root operation, its physical local APIC and
// TSC-deadline timer, the VMX-preemption timer, and posted-interrupt processing.
//
// Execution is event-driven: the core sleeps on one sc_event until the next thing that
// can change its state (the end of an operation, an interrupt arrival, a timer). Software
// that runs in root mode (the host kernel, KVM) is ordinary C++ called from here; it spends
// time by charging cycles to the core's local clock, which may run ahead of SystemC time
// within one exit. Interrupts that arrive meanwhile stay pending in the LAPIC and are
// recognized at the next instruction boundary, as with interrupts disabled on the entry path.
//
// Parameters: cpu index, APIC id, platform (clock, costs, VMX capabilities).
// Ports: apic_out (TLM initiator, to the APIC bus), apic_in (TLM target).
// Statistics: events, guest/root/idle time, posted-interrupt notifications processed.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <systemc>
#include <tlm>
#include <tlm_utils/simple_initiator_socket.h>
#include <tlm_utils/simple_target_socket.h>

#include "hw/apic_message.h"
#include "hw/lapic_state.h"
#include "hw/platform.h"
#include "hw/power.h"
#include "hw/tlb.h"
#include "hw/vmx_cpu.h"
#include "sim/time.h"

namespace hw {

class MemLine;

class Core : public sc_core::sc_module, public VmxCpu {
 public:
  SC_HAS_PROCESS(Core);
  Core(sc_core::sc_module_name name, int cpu, uint32_t apic_id, const Platform& platform,
       const CostTable& costs);

  tlm_utils::simple_initiator_socket<Core> apic_out;
  tlm_utils::simple_target_socket<Core> apic_in;

  // --- VmxCpu: what KVM uses ---
  int cpu() const override { return cpu_; }
  const CostTable& costs() const override { return costs_; }
  const VmxCapabilities& caps() const override { return platform_.vmx; }
  uint64_t host_tsc() const override { return tsc_.count_at(local_); }
  using VmxCpu::charge;
  using VmxCpu::charge_ps;
  using VmxCpu::now;
  sim::Picos time_of_host_tsc(uint64_t tsc) const override { return tsc_.time_of_count(tsc); }
  double tsc_mhz() const override { return tsc_.mhz(); }
  void vmenter(Vmcs& vmcs, GuestSoftware& guest) override;
  // The RIP advance is guest state (the exited guest's), not the core's: another vCPU may
  // be entered on this core before the one that exited runs again.
  void skip_instruction() override { if (guest_) guest_->regs.skip_pending = true; }
  void send_ipi(const Icr& icr) override;
  void invvpid_single_context(uint16_t vpid) override { tlb_.invvpid_single(vpid); }
  const Tlb& tlb() const { return tlb_; }

  // --- Root mode, for the host kernel ---
  void set_root_software(RootSoftware* sw) { root_ = sw; }
  void root_busy_until(sim::Picos t);  // host code runs until t, then on_busy_done()
  void root_idle(CState s = CState::C1);  // idle in C-state s (HLT or MWAIT) until an interrupt
  // issue 6: C-state/turbo accounting; feedback: guest compute ops run at the turbo clock.
  void set_power(PackagePower* p, bool feedback = false) { power_ = p; power_feedback_ = p && feedback; }
  void eoi() { phys_.eoi(); }          // host EOI of the physical LAPIC
  void arm_lapic_timer(sim::Picos deadline);  // TSC-deadline clockevent; kNever disarms
  // VmxCpu: the physical timer handed to a guest (timer passthrough, DirectIRQ).
  sim::Picos lapic_timer_deadline() const override { return lapic_timer_at_; }
  void set_lapic_timer_deadline(sim::Picos t) override { arm_lapic_timer(t); }
  void set_lapic_lvtt(uint32_t lvtt) override;
  void lapic_eoi() override { phys_.eoi(); }
  uint64_t lapic_timer_fires() const { return lapic_timer_fires_; }
  void post_soft_event(sim::Picos at, uint64_t cookie);
  bool in_guest() const { return state_ == State::Guest; }
  bool idle() const { return state_ == State::Idle; }
  // Clamp local time up to SystemC time (when host code starts from an outside event).
  void sync_local();
  // Re-arm the wake-up after software changed the core's state from outside its own
  // process (the first VM entry at start-up).
  void reschedule() { schedule_wake(); }

  // --- Memory ---
  void notify_line(MemLine* line, sim::Picos visible);
  double line_latency_ns(int other_cpu) const;

  // --- Statistics ---
  uint64_t events() const { return events_; }
  uint64_t exits() const { return exits_; }
  sim::Picos time_in_guest() const { return acc_[0]; }
  sim::Picos time_in_root() const { return acc_[1]; }
  sim::Picos time_idle() const { return acc_[2]; }
  uint64_t posted_intr_notifications() const { return pi_notifications_; }
  uint64_t virtual_self_ipis() const { return virtual_self_ipis_; }
  uint64_t guest_posts() const { return guest_posts_; }
  uint64_t ipiv_posts() const { return ipiv_posts_; }  // ICR writes IPI virtualization posted
  uint64_t ipiv_suppressed() const { return ipiv_suppressed_; }  // ... without a notification (SN set)
  uint64_t direct_guest_interrupts() const { return direct_guest_interrupts_; }  // DirectIRQ
  uint64_t isolation_violations() const { return isolation_violations_; }
  uint64_t coalesced_interrupts() const { return coalesced_; }
  uint64_t entry_check_failures() const { return entry_check_failures_; }
  uint64_t time_regressions() const { return time_regressions_; }
  int vmentry_check_failures(const Vmcs& v) const;
  std::vector<std::string> recent_events() const override;
  void finish_accounting(sim::Picos end);

  const sim::Clock& clock() const { return clock_; }
  const sim::Clock& tsc_clock() const { return tsc_; }
  uint32_t apic_id() const { return apic_id_; }
  const Platform& platform() const { return platform_; }
  void set_line_latency_table(const std::vector<double>* ns_by_cpu) { line_ns_ = ns_by_cpu; }
  // The smallest latency with which another CPU can affect this one (interrupt or store).
  void set_lookahead(sim::Picos ps) { lookahead_ = ps; }

 private:
  enum class State : uint8_t { Root, Busy, Idle, Guest };
  struct Arrival {
    sim::Picos at;
    uint64_t seq;
    uint8_t vector;
    bool soft;
    uint64_t cookie;
    bool operator>(const Arrival& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };

  void run();
  void b_transport(tlm::tlm_generic_payload& trans, sc_core::sc_time& delay);
  void push_arrival(const Arrival& a);
  void take_arrivals(sim::Picos now);
  void schedule_wake();
  void schedule_wake(sim::Picos now);  // `now`: SystemC time, when the caller has it
  void set_state(State s, sim::Picos at);

  // Non-root execution.
  void run_guest(sim::Picos now);
  bool recognize_physical_interrupt();       // true if it caused an exit
  bool deliver_virtual_interrupt();          // VID: RVI against VPPR
  void process_posted_interrupts();
  bool execute(GuestOp& op);                 // false when the op exited or is timed
  bool execute_msr(GuestOp& op, bool write);
  bool execute_mmio(GuestOp& op, bool write);
  bool physical_msr(GuestOp& op, bool write);  // an access that reaches the physical LAPIC
  bool execute_pause_loop(GuestOp& op, sim::Picos spin_start);
  bool execute_tlb(GuestOp& op);             // TlbAccess, Invlpg (core_issue6.cc)
  bool virtualize_icr_write(const Icr& icr);  // IPI virtualization (core_ipiv.cc)
  bool virtual_eoi();
  void vmexit(uint16_t reason, uint64_t qualification = 0, uint32_t intr_info = 0);
  void retire(uint64_t result = 0);
  sim::Picos ple_window_ps() const;
  sim::Picos preemption_deadline() const { return preempt_at_; }
  sim::Picos next_known_event() const;

  const int cpu_;
  const uint32_t apic_id_;
  const Platform& platform_;
  const CostTable& costs_;
  const sim::Clock clock_;
  const sim::Clock tsc_;
  const std::vector<double>* line_ns_ = nullptr;
  sim::Picos lookahead_ = 0;

  sc_core::sc_event wake_;
  bool wake_pending_ = false;
  sim::Picos wake_at_ = 0;
  State state_ = State::Root;
  sim::Picos& local_ = local_ps;  // VmxCpu's local clock, under the name the core uses
  sim::Picos resume_at_ = 0;   // before this the core is inside a transition (entry, handler)
  sim::Picos busy_until_ = sim::kNever;
  RootSoftware* root_ = nullptr;

  // Physical local APIC.
  LapicRegisters phys_;
  sim::Picos lapic_timer_at_ = sim::kNever;
  uint64_t lapic_timer_fires_ = 0;
  uint64_t direct_guest_interrupts_ = 0;
  static constexpr uint64_t kNmiCookie = 1;  // Arrival.cookie of a hardware NMI
  bool nmi_pending_ = false;
  sim::Picos phys_timer_start_ = 0;  // when TMICT was last written (TMCCT)
  std::vector<Arrival> arrivals_;  // min-heap by (at, seq)
  uint64_t arrival_seq_ = 0;

  Tlb tlb_;  // guest translations by VPID/EPTP/PCID (issue 6)
  PackagePower* power_ = nullptr;
  bool power_feedback_ = false;
  double op_scale_ = 1.0;  // nominal / effective MHz of the running compute op (1 unless feedback)
  double compute_scale() const;
  CState idle_cstate_ = CState::C1;    // the state of root idle or of a guest HLT/MWAIT
  bool guest_cstate_ = false;          // a non-exiting guest HLT/MWAIT holds the thread idle
  sim::Picos cstate_exit_ps(CState s) const;
  void enter_guest_cstate(const GuestOp& op);
  void leave_guest_cstate();
  sim::Picos tlb_vpid0_entry_ = sim::kNever;

  // Non-root state.
  Vmcs* vmcs_ = nullptr;
  GuestSoftware* guest_ = nullptr;
  bool op_timed_ = false;          // a timed operation is in progress
  sim::Picos op_start_ = 0, op_end_ = 0;
  sim::Picos preempt_at_ = sim::kNever;
  sim::Picos ple_end_ = sim::kNever;  // when the current pause loop hits PLE_WINDOW
  // A bounded spin that ran out (issue 5): where its PAUSE loop started and ended, so that
  // a spin op marked as continuing it (GuestOp::e, a check every 256 PAUSEs between) stays
  // one loop for PLE when it follows within PLE_GAP.
  sim::Picos pause_loop_start_ = 0, pause_loop_end_ = sim::kNever;
  sim::Picos line_wake_at_ = sim::kNever;
  MemLine* watched_ = nullptr;

  // Statistics.
  uint64_t events_ = 0;
  uint64_t exits_ = 0, entries_ = 0;
  uint64_t pi_notifications_ = 0;
  uint64_t virtual_self_ipis_ = 0, coalesced_ = 0, guest_posts_ = 0, isolation_violations_ = 0;
  uint64_t ipiv_posts_ = 0, ipiv_suppressed_ = 0;
  uint64_t entry_check_failures_ = 0, time_regressions_ = 0;
  // The last kRecent transitions, for a violation's timeline (a few stores per event).
  enum class Recent : uint8_t { Exit, Entry, Interrupt, IpiSent };
  struct RecentEvent {
    sim::Picos at;
    Recent kind;
    uint32_t code;  // exit reason, vector, or destination APIC id
  };
  static constexpr unsigned kRecent = 16;
  std::array<RecentEvent, kRecent> recent_{};
  unsigned recent_n_ = 0;
  void note(Recent kind, uint32_t code) { recent_[recent_n_++ % kRecent] = {local_ps, kind, code}; }
  sim::Picos last_entry_ = 0;
  const Vmcs* checked_vmcs_ = nullptr;
  uint64_t checked_ctl_[3] = {0, 0, 0};
  int checked_failures_ = 0;
  sim::Picos acc_[3] = {0, 0, 0};
  sim::Picos state_since_ = 0;
};

}  // namespace hw
