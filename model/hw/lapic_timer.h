// Local APIC timer and TSC arithmetic: divide configuration, periods, current count,
// TSC-deadline, VMX TSC scaling and the VMX-preemption timer.
//
// SDM vol. 3: "APIC Timer" (ch. 11), "Timestamp Counter" (ch. 18), "VMX-Preemption Timer"
// and "Timestamp-Counter Scaling" (ch. 26/27). KVM counterparts are named per function.
// Times are integer picoseconds; no floating point, so results are reproducible.
#pragma once

#include <algorithm>
#include <cstdint>

#include "hw/apic_regs.h"

namespace hw {

// Divide Configuration Register: bits 3,1,0 encode divide by 2^((v+1) & 7), where
// v = bits 1:0 | bit 3 >> 1. So 0000b -> 2, 0001b -> 4, ..., 1010b -> 128, 1011b -> 1.
// Same formula as KVM's update_divide_count().
constexpr uint32_t tdcr_divide(uint32_t tdcr) {
  return 1u << ((((tdcr & 3) | ((tdcr & 8) >> 1)) + 1) & 7);
}

// LVT timer mode, bits 18:17. The SDM marks 11b reserved; KVM's apic_lvtt_period() and
// apic_lvtt_tscdeadline() are both false for it, so its timer behaves as one-shot: we do
// the same.
constexpr TimerMode lvtt_mode(uint32_t lvtt) {
  const uint32_t m = (lvtt & APIC_LVT_TIMER_MODE_MASK) >> APIC_LVT_TIMER_MODE_SHIFT;
  return m == 3 ? TimerMode::OneShot : TimerMode(m);
}

// KVM's module parameter min_timer_period_us (default 200): the shortest period a guest's
// periodic APIC timer may have (limit_periodic_timer_frequency()).
inline constexpr uint64_t KVM_MIN_TIMER_PERIOD_PS = 200ull * 1000 * 1000;

namespace detail {
__extension__ typedef unsigned __int128 u128;  // __extension__: no -Wpedantic noise
__extension__ typedef __int128 i128;
constexpr uint64_t saturate_u64(u128 v) {
  return v > UINT64_MAX ? UINT64_MAX : uint64_t(v);
}
}  // namespace detail

// Timer period: TMICT bus-clock ticks, each `divide` bus clocks long (KVM: tmict_to_ns()).
// 0 when TMICT is 0 (timer stopped). Saturates instead of wrapping.
constexpr uint64_t period_ps(uint32_t tmict, uint32_t tdcr, uint64_t bus_period_ps) {
  return detail::saturate_u64((detail::u128)tmict * tdcr_divide(tdcr) * bus_period_ps);
}

// KVM raises a periodic timer's period to min_period_ps; 0 (stopped) stays 0.
constexpr uint64_t clamp_periodic_ps(uint64_t period_ps, uint64_t min_period_ps) {
  return period_ps == 0 ? 0 : std::max(period_ps, min_period_ps);
}

// Period the timer really runs with in `mode`: clamped when periodic. TSC-deadline mode
// has no period (0).
constexpr uint64_t timer_period_ps(TimerMode mode, uint32_t tmict, uint32_t tdcr,
                                   uint64_t bus_period_ps, uint64_t min_periodic_ps) {
  if (mode == TimerMode::TscDeadline) return 0;
  const uint64_t p = period_ps(tmict, tdcr, bus_period_ps);
  return mode == TimerMode::Periodic ? clamp_periodic_ps(p, min_periodic_ps) : p;
}

// Current Count Register (TMCCT) at now_ps for a timer armed with TMICT at start_ps.
// The count decrements once per `divide` bus clocks: TMICT - floor(elapsed / tick), so it
// reaches 0 exactly at expiry. One-shot: stays 0 afterwards. Periodic: reloads from TMICT
// at 0, so reads see TMICT..1 (the 0 is instantaneous). If `min_period_ps` stretches a
// periodic period (KVM's clamp), the count is stretched by the same factor so it still
// reaches 0 when the interrupt fires and never exceeds TMICT.
// `divide` is tdcr_divide(TDCR), not the TDCR encoding.
inline uint32_t current_count(uint32_t tmict, uint32_t divide, uint64_t bus_period_ps,
                              uint64_t start_ps, uint64_t now_ps, bool periodic,
                              uint64_t min_period_ps = 0) {
  const detail::u128 tick = (detail::u128)bus_period_ps * divide;
  if (tmict == 0 || tick == 0) return 0;
  if (now_ps <= start_ps) return tmict;
  const uint64_t elapsed = now_ps - start_ps;
  const uint64_t natural = detail::saturate_u64(tick * tmict);
  const uint64_t period = periodic ? std::max(natural, min_period_ps) : natural;
  if (!periodic && elapsed >= period) return 0;
  const uint64_t phase = periodic ? elapsed % period : elapsed;
  return tmict - uint32_t((detail::u128)phase * tmict / period);
}

// TSC-deadline mode (IA32_TSC_DEADLINE, MSR 0x6E0): writing 0 disarms the timer;
// otherwise it fires once the TSC reaches the deadline.
constexpr bool deadline_expired(uint64_t deadline, uint64_t tsc) {
  return deadline != 0 && tsc >= deadline;
}

// VMX TSC scaling: the "TSC multiplier" VMCS field is a 16.48 fixed-point ratio and the
// guest reads ((host_tsc * multiplier) >> 48) + TSC offset, the addition wrapping mod 2^64
// (SDM "Timestamp-Counter Scaling"; KVM: kvm_scale_tsc() + kvm_read_l1_tsc()).
inline constexpr unsigned TSC_MULTIPLIER_FRAC_BITS = 48;
inline constexpr uint64_t TSC_MULTIPLIER_ONE = 1ull << TSC_MULTIPLIER_FRAC_BITS;

constexpr uint64_t guest_tsc(uint64_t host_tsc, uint64_t multiplier_frac48, int64_t offset) {
  const uint64_t scaled =
      uint64_t(((detail::u128)host_tsc * multiplier_frac48) >> TSC_MULTIPLIER_FRAC_BITS);
  return scaled + uint64_t(offset);
}

// Inverse of guest_tsc: the first host TSC at which the guest TSC is >= guest_tsc_value,
// i.e. ceil((guest - offset) << 48 / multiplier), so guest_tsc(result) >= guest_tsc_value
// and a timer armed for it never fires early (KVM's vmx_set_hv_timer() converts with
// u64_shl_div_u64(), which rounds down). Ignores offset wrap-around. Returns 0 if
// the target is already reached at host TSC 0, UINT64_MAX if it is beyond the host TSC
// range. `multiplier_frac48` must be non-zero.
constexpr uint64_t host_tsc_for_guest(uint64_t guest_tsc_value, uint64_t multiplier_frac48,
                                      int64_t offset) {
  const detail::i128 scaled = (detail::i128)guest_tsc_value - offset;
  if (scaled <= 0) return 0;
  const detail::u128 num = (detail::u128)scaled << TSC_MULTIPLIER_FRAC_BITS;
  return detail::saturate_u64((num + multiplier_frac48 - 1) / multiplier_frac48);
}

// VMX-preemption timer: counts down by 1 every 2^rate TSC cycles, where rate is
// IA32_VMX_MISC[4:0] (5 on most parts). The VMCS field is 32 bits, so the value is capped
// at 0xFFFFFFFF (the timer then fires early and the caller re-arms). KVM instead refuses
// such deltas and falls back to the hrtimer (vmx_set_hv_timer() returns -ERANGE): test
// vmx_preemption_timer_fits() to model that.
constexpr uint64_t vmx_preemption_timer_value(uint64_t host_tsc_delta, unsigned rate) {
  return std::min<uint64_t>(host_tsc_delta >> rate, 0xFFFFFFFFu);
}
constexpr bool vmx_preemption_timer_fits(uint64_t host_tsc_delta, unsigned rate) {
  return (host_tsc_delta >> rate) <= 0xFFFFFFFFu;
}

}  // namespace hw
