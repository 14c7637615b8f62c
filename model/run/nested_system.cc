#include "run/nested_system.h"

#include "guest/workload_nested_bench.h"
#include "hw/vmx.h"
#include "kvm/kvmclock.h"
#include "run/system.h"

namespace run {

using kvm::nested::L0Kind;
using kvm::nested::Vmcs12Access;

std::unique_ptr<NestedSetup> make_nested(const sim::Config& cfg, System& sys) {
  auto n = std::make_unique<NestedSetup>();
  n->sys = &sys;
  n->level = static_cast<int>(cfg.get_int("nested.level"));
  const bool hyperv = cfg.get_string("nested.l0") == "hyperv";
  n->params.l0 = hyperv ? L0Kind::HyperV : L0Kind::Kvm;
  const bool evmcs = cfg.get_bool("nested.evmcs");
  const bool shadow = cfg.get_bool("nested.shadow_vmcs");
  const bool stable = cfg.get_bool("nested.stable_clock");
  const double migrate_ms = cfg.get_double("nested.migrate_at_ms");
  if (evmcs && !hyperv)
    throw sim::ConfigError(cfg.source(), 0, "nested.evmcs", "nested.l0=hyperv (KVM as L1 uses the enlightened VMCS only on Hyper-V)",
                           "true with nested.l0=kvm");
  if (evmcs && shadow && n->level == 2)
    throw sim::ConfigError(cfg.source(), 0, "nested.shadow_vmcs", "false with nested.evmcs=true (L1's VMCS is either enlightened or shadowed)",
                           "true");
  if (shadow && !evmcs && n->level == 2 && !sys.platform.vmx.vmcs_shadowing)
    throw sim::ConfigError(cfg.source(), 0, "nested.shadow_vmcs", "a CPU with VMCS shadowing (" + sys.platform.name + " has none)", "true");
  if (migrate_ms > 0 && !(hyperv && n->level == 2))
    throw sim::ConfigError(cfg.source(), 0, "nested.migrate_at_ms", "nested.level=2 and nested.l0=hyperv (re-enlightenment is Hyper-V's)",
                           std::to_string(migrate_ms));
  n->params.access = evmcs ? Vmcs12Access::Enlightened : shadow ? Vmcs12Access::Shadow : Vmcs12Access::Trap;

  // The guest's clocksource. Level 1: kvm-clock from KVM on a TSC host, or Hyper-V's TSC
  // page. Level 2: kvm-clock from L1's KVM, stable only if L1's own clocksource counts as
  // TSC-based (on Hyper-V: the TSC page, only with the seed's patches).
  if (n->level == 0) {  // bare metal (vm.bare_metal): the vDSO reads the TSC itself
    n->clocksource.kind = guest::ClocksourceKind::Tsc;
    n->clocksource.page = nullptr;
    return n;
  }
  if (n->level == 1) {
    n->clocksource.kind = hyperv ? guest::ClocksourceKind::HypervTscPage : guest::ClocksourceKind::KvmClock;
    n->clock_page.tsc_stable = true;
  } else {
    const kvm::HostClocksource l1_host = hyperv ? kvm::HostClocksource::HypervTscPage : kvm::HostClocksource::Tsc;
    n->clocksource.kind = guest::ClocksourceKind::KvmClock;
    n->clock_page.tsc_stable = kvm::gtod_is_based_on_tsc(l1_host, stable);
  }
  n->clocksource.page = &n->clock_page;
  if (n->level != 2) return n;

  if (sys.vms.size() != 1)
    throw sim::ConfigError(cfg.source(), 0, "vm.count", "1 with nested.level=2", std::to_string(sys.vms.size()));
  VmInstance& vm = *sys.vms[0];
  // What L0 offers L1: no nested APICv/posted interrupts or PLE in the model, no VMCS
  // shadowing for L3; with eVMCSv1, only what it can express.
  hw::VmxCapabilities caps = sys.platform.vmx;
  caps.apicv = caps.posted_interrupts = caps.ipiv = false;
  caps.vmcs_shadowing = false;
  caps.ple = false;
  if (evmcs) caps = kvm::nested::evmcs1_filter_caps(caps);
  n->l1_kvm = std::make_unique<kvm::Kvm>("l1", vm.kvm->params(), caps, sys.platform.costs);
  n->l1_kvm->tsc_mhz = sys.platform.tsc_mhz;
  for (int i = 0; i < vm.kvm->nr_vcpus(); ++i) {
    kvm::Vcpu& v0 = vm.kvm->vcpu(i);
    const int cpu = vm.vcpu_threads[static_cast<size_t>(i)]->cpu;
    hw::Core& core = *sys.cores[static_cast<size_t>(cpu)];
    auto nv = std::make_unique<kvm::nested::NestedVmx>(v0, core, n->params, sys.platform.costs, caps);
    kvm::Vcpu& v1 = n->l1_kvm->create_vcpu(static_cast<uint32_t>(i));
    auto g = std::make_unique<guest::GuestCpu>(i, sys.platform.costs);
    g->regs.x2apic = v1.lapic.regs.x2apic_mode();
    g->set_vm(&vm.guest_vm);
    v1.guest = g.get();
    v1.host = &nv->vvmx();
    v1.cpu = cpu;
    v1.cpu_apic_id = core.apic_id();
    nv->attach_l1(v1, *g);
    v0.nested = nv.get();
    // L1's clockevent (its LAPIC timer, emulated by L0): a host timer on this CPU whose
    // expiry makes L1 take its timer interrupt.
    auto ce = std::make_unique<NestedSetup::L1Clockevent>();
    ce->kernel = sys.kernel.get();
    ce->cpu = cpu;
    kvm::nested::NestedVmx* raw = nv.get();
    ce->timer.fn = [raw](host::Cpu&) { raw->notify_l1_timer(); };
    nv->arm_l1_timer_ctx = ce.get();
    nv->arm_l1_timer = [](void* ctx, sim::Picos expires) {
      auto* c = static_cast<NestedSetup::L1Clockevent*>(ctx);
      host::Cpu& hc = c->kernel->cpu(c->cpu);
      if (expires == sim::kNever) hc.hrtimer_cancel(c->timer);
      else hc.hrtimer_start(c->timer, expires);
    };
    n->l1_timers.push_back(std::move(ce));
    vm.view.cpus[static_cast<size_t>(i)] = g.get();
    n->l2_guests.push_back(std::move(g));
    n->vmx.push_back(std::move(nv));
  }
  // Re-enlightenment: L1's notifier bumps L2's pvclock (it stays stable after the update).
  n->vmx[0]->on_l1_reenlightenment = [](void* ctx) { ++static_cast<guest::ClockPage*>(ctx)->version; };
  n->vmx[0]->reenlightenment_ctx = &n->clock_page;
  if (migrate_ms > 0) {
    n->migrate_at = sim::ms(migrate_ms);
    n->notify_delay = sim::us(cfg.get_double("nested.reenlightenment_delay_us"));
    NestedSetup* self = n.get();
    n->migrate_timer.fn = [self](host::Cpu& c) {
      self->vmx[0]->start_tsc_emulation(c.vmx());
      c.hrtimer_start(self->notify_timer, c.now() + self->notify_delay);
    };
    n->notify_timer.fn = [self](host::Cpu& c) { self->vmx[0]->notify_reenlightenment(c.vmx()); };
  }
  return n;
}

void NestedSetup::start() {
  if (level != 2) return;
  if (migrate_at > 0) {
    const int cpu = sys->vms[0]->vcpu_threads[0]->cpu;
    sys->kernel->cpu(cpu).hrtimer_start(migrate_timer, migrate_at);
  }
}

void NestedSetup::report(std::map<std::string, double>& m) const {
  if (level != 2) return;  // L1 runs report exactly what they reported before nesting existed
  m["nested.level"] = level;
  kvm::nested::NestedStats t;
  for (const auto& v : vmx) {
    const auto& s = v->stats();
    t.l2_exits += s.l2_exits;
    t.reflected += s.reflected;
    t.l0_handled += s.l0_handled;
    t.vmread_traps += s.vmread_traps;
    t.vmwrite_traps += s.vmwrite_traps;
    t.vmresume_traps += s.vmresume_traps;
    t.other_l1_traps += s.other_l1_traps;
    t.shadowed_accesses += s.shadowed_accesses;
    t.evmcs_accesses += s.evmcs_accesses;
    t.vmcs02_rare_syncs += s.vmcs02_rare_syncs;
    t.shadow_fields_copied += s.shadow_fields_copied;
    t.evmcs_groups_copied += s.evmcs_groups_copied;
    t.entry_failures += s.entry_failures;
    t.unseen_vmcs12_writes += s.unseen_vmcs12_writes;
    t.tsc_emulated += s.tsc_emulated;
    t.ept02_faults += s.ept02_faults;
    for (int p = 0; p < kvm::nested::kNumPhases; ++p) t.phase_ps[static_cast<size_t>(p)] += s.phase_ps[static_cast<size_t>(p)];
    t.phase_samples += s.phase_samples;
    t.l1_traps_in_sample += s.l1_traps_in_sample;
  }
  const double l2 = static_cast<double>(std::max<uint64_t>(t.l2_exits, 1));
  const uint64_t traps = t.vmread_traps + t.vmwrite_traps;
  const uint64_t l0_exits = t.l2_exits + traps + t.vmresume_traps + t.other_l1_traps;
  m["nested.l2_exits"] = static_cast<double>(t.l2_exits);
  m["nested.reflected_exits"] = static_cast<double>(t.reflected);
  m["nested.l0_handled_exits"] = static_cast<double>(t.l0_handled);
  m["nested.l0_exits"] = static_cast<double>(l0_exits);
  m["nested.l0_exits_per_l2_exit"] = static_cast<double>(l0_exits) / l2;
  m["nested.vmread_traps"] = static_cast<double>(t.vmread_traps);
  m["nested.vmwrite_traps"] = static_cast<double>(t.vmwrite_traps);
  m["nested.vmread_vmwrite_traps_per_l2_exit"] = static_cast<double>(traps) / l2;
  m["nested.vmresume_traps"] = static_cast<double>(t.vmresume_traps);
  m["nested.other_l1_traps"] = static_cast<double>(t.other_l1_traps);
  m["nested.shadowed_accesses"] = static_cast<double>(t.shadowed_accesses);
  m["nested.evmcs_accesses"] = static_cast<double>(t.evmcs_accesses);
  m["nested.vmcs02_rare_syncs"] = static_cast<double>(t.vmcs02_rare_syncs);
  m["nested.shadow_fields_copied"] = static_cast<double>(t.shadow_fields_copied);
  m["nested.evmcs_groups_copied"] = static_cast<double>(t.evmcs_groups_copied);
  m["nested.tsc_emulated_rdtsc"] = static_cast<double>(t.tsc_emulated);
  m["nested.ept02_faults"] = static_cast<double>(t.ept02_faults);
  m["invariant.nested_entry_failures"] = static_cast<double>(t.entry_failures);
  m["invariant.nested_unseen_vmcs12_writes"] = static_cast<double>(t.unseen_vmcs12_writes);
  if (!vmx.empty() && vmx[0]->tsc_emulation_start() > 0) {
    const sim::Picos end = vmx[0]->tsc_emulation_end() ? vmx[0]->tsc_emulation_end() : vmx[0]->tsc_emulation_start();
    m["nested.tsc_emulation_us"] = sim::to_us(end - vmx[0]->tsc_emulation_start());
    m["nested.tsc_emulation_ended"] = vmx[0]->tsc_emulation_end() ? 1 : 0;
  }
  if (t.phase_samples) {
    const double mhz = sys->platform.freq_mhz;
    double total = 0;
    for (int p = 0; p < kvm::nested::kNumPhases; ++p) {
      const double cyc = sim::to_us(t.phase_ps[static_cast<size_t>(p)]) * mhz / static_cast<double>(t.phase_samples);
      m[std::string("nested.phase.") + kvm::nested::phase_name(static_cast<kvm::nested::Phase>(p)) + "_cycles"] = cyc;
      total += cyc;
    }
    m["nested.phase.total_cycles"] = total;
    m["nested.phase.samples"] = static_cast<double>(t.phase_samples);
    m["nested.l1_traps_per_reflected_exit"] = static_cast<double>(t.l1_traps_in_sample) / static_cast<double>(t.phase_samples);
  }
}

std::unique_ptr<guest::Workload> make_nested_workload(const sim::Config& cfg, const std::string& kind, const NestedSetup& n) {
  if (kind == "cpuid_loop") {
    guest::CpuidLoopParams p;
    p.iterations = static_cast<uint64_t>(cfg.get_int("cpuid_loop.iterations"));
    return guest::make_cpuid_loop_workload(p);
  }
  if (kind == "clock_gettime") {
    guest::ClockGettimeParams p;
    p.iterations = static_cast<uint64_t>(cfg.get_int("clock_gettime.iterations"));
    p.batch = static_cast<uint64_t>(cfg.get_int("clock_gettime.batch"));
    p.clocksource = n.clocksource;
    return guest::make_clock_gettime_workload(p);
  }
  if (kind == "kbuild") {
    guest::KbuildParams p;
    p.work_ms = cfg.get_double("kbuild.work_ms");
    p.page_fault_hz = cfg.get_double("kbuild.page_fault_hz");
    p.ept_violation_hz = cfg.get_double("kbuild.ept_violation_hz");
    p.ept_l1_share = cfg.get_double("kbuild.ept_l1_share");
    p.io_hz = cfg.get_double("kbuild.io_hz");
    p.timer_hz = cfg.get_double("kbuild.timer_hz");
    p.timer_rearm_hz = cfg.get_double("kbuild.timer_rearm_hz");
    p.ipi_hz = cfg.get_double("kbuild.ipi_hz");
    p.seed = static_cast<uint64_t>(cfg.get_int("seed"));
    return guest::make_kbuild_workload(p);
  }
  return nullptr;
}

}  // namespace run
