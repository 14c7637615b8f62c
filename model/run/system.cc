#include "run/system.h"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "guest/workload_ebizzy.h"
#include "guest/pv_sched_yield.h"
#include "guest/workload_idle_power.h"
#include "kvm/disable_exits.h"
#include "guest/workload_ipi_bench.h"
#include "sim/rng.h"
#include "guest/workload_overcommit.h"
#include "guest/workload_vm_mix.h"
#include "guest/workload_vmexit.h"
#include "run/rt_setup.h"
#include "run/nested_system.h"

namespace run {
namespace {

kvm::KvmParams kvm_params(const sim::Config& c, const hw::Platform& p) {
  kvm::KvmParams k;
  k.enable_apicv = c.get_bool("kvm.enable_apicv");
  k.hv_timer = c.get_bool("kvm.hv_timer");
  k.preemption_timer = c.get_bool("kvm.preemption_timer");
  k.fastpath = c.get_bool("kvm.fastpath");
  k.ple_gap = static_cast<uint32_t>(c.get_int("kvm.ple_gap"));
  k.ple_window = static_cast<uint32_t>(c.get_int("kvm.ple_window"));
  k.ple_window_grow = static_cast<uint32_t>(c.get_int("kvm.ple_window_grow"));
  k.ple_window_shrink = static_cast<uint32_t>(c.get_int("kvm.ple_window_shrink"));
  k.ple_window_max = static_cast<uint32_t>(c.get_int("kvm.ple_window_max"));
  k.halt_poll_ns = static_cast<uint64_t>(c.get_int("kvm.halt_poll_ns"));
  k.halt_poll_ns_grow = static_cast<uint32_t>(c.get_int("kvm.halt_poll_ns_grow"));
  k.halt_poll_ns_grow_start = static_cast<uint64_t>(c.get_int("kvm.halt_poll_ns_grow_start"));
  k.halt_poll_ns_shrink = static_cast<uint32_t>(c.get_int("kvm.halt_poll_ns_shrink"));
  k.lapic_timer_advance_ns = c.get_int("kvm.lapic_timer_advance_ns");
  for (const auto& m : c.get_string_list("kvm.mitigations")) {
    if (m == "platform") k.mitigations.insert(k.mitigations.end(), p.mitigations.begin(), p.mitigations.end());
    else if (m != "none") k.mitigations.push_back(m);
  }
  k.kernel_io_ports = c.get_int_list("kvm.kernel_io_ports");
  k.pv_send_ipi = c.get_bool("kvm.pv_send_ipi");
  k.noexit_pv_ipi = c.get_string("guest.ipi_mode") == "noexit_pv";
  k.enable_ipiv = c.get_bool("kvm.enable_ipiv");
  const std::string on_spin = c.get_string("kvm.on_spin_version");  // "6.10" still had the two passes
  k.on_spin_version = on_spin == "6.13"   ? kvm::KvmParams::OnSpin::V6_13
                      : on_spin == "6.19" ? kvm::KvmParams::OnSpin::V6_19
                                          : kvm::KvmParams::OnSpin::V5_6;
  k.dy_pending_interrupt = c.get_bool("kvm.dy_pending_interrupt");
  k.ishiguro_ipi_aware = c.get_bool("kvm.ishiguro.ipi_aware");
  k.trace_ple_window = c.get_bool("kvm.trace_ple_window");
  k.steal_time_nonatomic_clear = c.get_bool("kvm.steal_time_nonatomic_clear");
  k.disable_exits = kvm::disable_exits_bits(c.get_string_list("kvm.disable_exits"));
  return k;
}

host::HostParams host_params(const sim::Config& c) {
  host::HostParams h;
  h.scheduler = c.get_string("host.scheduler");
  h.hz = static_cast<int>(c.get_int("host.hz"));
  h.skew_tick = c.get_bool("host.skew_tick");
  h.cpuidle = c.get_string("host.cpuidle");
  h.sched.sched_latency = sim::us(c.get_double("host.sched_latency_us"));
  h.sched.min_granularity = sim::us(c.get_double("host.min_granularity_us"));
  h.sched.wakeup_granularity = sim::us(c.get_double("host.wakeup_granularity_us"));
  const std::string scaling = c.get_string("host.sched_tunable_scaling");
  h.sched.tunable_scaling = scaling == "none" ? host::SchedParams::Scaling::None
                            : scaling == "linear" ? host::SchedParams::Scaling::Linear : host::SchedParams::Scaling::Log;
  h.sched.next_buddy = c.get_bool("host.sched_feat_next_buddy");
  h.sched.pick_buddy = c.get_bool("host.sched_feat_pick_buddy");
  h.sched.ishiguro_deboost = c.get_bool("kvm.ishiguro.deboost");
  h.load_balance = c.get_bool("host.load_balance");
  return h;
}

std::unique_ptr<guest::Workload> make_workload(const sim::Config& cfg, const std::string& kind, int vm_index, int vcpus,
                                              kvm::Kvm* kvm = nullptr) {
  const uint64_t seed = static_cast<uint64_t>(cfg.get_int("seed")) ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(vm_index));
  if (kind == "vmexit") {
    guest::VmexitParams p;
    p.tests = cfg.get_string_list("vmexit.tests");
    p.goal_cycles = static_cast<uint64_t>(cfg.get_int("vmexit.goal_cycles"));
    return guest::make_vmexit_workload(p);
  }
  if (kind == "ipi_bench") {
    guest::IpiBenchParams p;
    p.iterations = static_cast<uint64_t>(cfg.get_int("ipi.iterations"));
    p.target = static_cast<int>(cfg.get_int("ipi.target"));
    p.nmi = cfg.get_bool("ipi.nmi");
    p.hotplug = cfg.get_bool("ipi.hotplug");
    p.smi = cfg.get_bool("ipi.smi");
    if (p.target >= vcpus) throw sim::ConfigError(cfg.source(), 0, "ipi.target", "a vCPU below vm.vcpus", std::to_string(p.target));
    return guest::make_ipi_bench_workload(p);
  }
  if (kind == "vm_mix") {
    guest::VmMixParams p;
    p.timer_rearm_hz = cfg.get_double("mix.timer_rearm_hz");
    p.timer_cancel_share = cfg.get_double("mix.timer_cancel_share");
    p.resched_ipi_hz = cfg.get_double("mix.resched_ipi_hz");
    p.call_function_hz = cfg.get_double("mix.call_function_hz");
    p.call_function_targets = static_cast<int>(cfg.get_int("mix.call_function_targets"));
    p.busy_share = cfg.get_double("mix.busy_share");
    p.nmi_hz = cfg.get_double("mix.nmi_hz");
    p.duration_ms = cfg.get_double("mix.duration_ms");
    p.seed = seed;
    return guest::make_vm_mix_workload(p);
  }
  if (kind == "spinlock" || kind == "ipi_wait" || kind == "ple_mix") {
    guest::OvercommitParams p;
    p.ipi_share = kind == "spinlock" ? 0.0 : kind == "ipi_wait" ? 1.0 : cfg.get_double("overcommit.ipi_share");
    p.user_cycles = cfg.get_double("overcommit.user_cycles");
    p.kernel_cycles = cfg.get_double("overcommit.kernel_cycles");
    p.hold_cycles = cfg.get_double("overcommit.hold_cycles");
    p.locks = static_cast<int>(cfg.get_int("overcommit.locks"));
    p.ipi_targets = static_cast<int>(cfg.get_int("overcommit.ipi_targets"));
    p.duration_ms = cfg.get_double("overcommit.duration_ms");
    p.idle_share = cfg.get_double("overcommit.idle_share");
    p.idle_us = cfg.get_double("overcommit.idle_us");
    p.pv_spinlock = cfg.get_bool("guest.pv_spinlock");
    p.pv_wait_early_preempted = cfg.get_bool("guest.pv_wait_early_preempted");
    p.seed = seed;
    auto probe = std::make_shared<guest::OvercommitProbe>();
    if (kvm)  // classify every taken directed yield by what its target was doing
      kvm->directed_yield_observer = [probe](const kvm::Vcpu& me, const kvm::Vcpu& t, int r) {
        if (r > 0 && !probe->state.empty()) probe->on_yield(me.vcpu_id, t.vcpu_id);
      };
    return guest::make_overcommit_workload(p, probe);
  }
  if (kind == "ebizzy" || kind == "dedup") {
    guest::EbizzyParams p;
    p.dedup = kind == "dedup";
    p.threads = static_cast<int>(cfg.get_int(p.dedup ? "dedup.threads" : "ebizzy.threads"));
    p.chunk_kib = cfg.get_double(p.dedup ? "dedup.buffer_kib" : "ebizzy.chunk_kib");
    p.cycles_per_kib = cfg.get_double(p.dedup ? "dedup.cycles_per_kib" : "ebizzy.cycles_per_kib");
    p.touches = p.dedup ? 4 : static_cast<int>(cfg.get_int("ebizzy.touches"));
    p.duration_ms = cfg.get_double(p.dedup ? "dedup.duration_ms" : "ebizzy.duration_ms");
    p.seed = seed;
    return guest::make_ebizzy_workload(p);
  }
  if (kind == "unixbench" || kind == "idle_wakeup") {
    guest::IdlePowerParams p;
    p.loop_cycles = static_cast<uint64_t>(cfg.get_int("unixbench.loop_cycles"));
    p.wakeup_hz = cfg.get_double("idle.wakeup_hz");
    p.duration_ms = cfg.get_double(kind == "unixbench" ? "unixbench.duration_ms" : "idle.duration_ms");
    p.seed = seed;
    return kind == "unixbench" ? guest::make_unixbench_workload(p) : guest::make_idle_wakeup_workload(p);
  }
  return nullptr;  // idle: every vCPU halts
}

}  // namespace

System::System(const sim::Config& cfg, const hw::Platform& base) : platform(base) {
  // Cost overrides from the scenario (cost.<key>).
  for (const auto& key : cfg.keys_with_prefix("cost.")) {
    const std::string name = key.substr(5);
    double* field = hw::find_cost(platform.costs, name);
    if (!field) throw sim::ConfigError(cfg.source(), 0, key, "a cost-table key of platforms/README.md", "'" + name + "'");
    *field = cfg.get_double(key);
    platform.cost_source[name] = "scenario override";
  }
  apply_rt_platform(cfg, platform);
  {  // issue 6: host.power_model
    const std::string& pm = cfg.get_string("host.power_model");
    power_model = pm == "auto" ? platform.power.default_model : pm;
    if (!platform.power.present) power_model = "off";
    if (power_model == "off") platform.power.present = false;
  }
  fault.kind = sim::fault_from_string(cfg.get_string("fault.inject"));
  fault.at = sim::ms(cfg.get_double("fault.at_ms"));
  const int n = platform.topology.cpus();
  const int vcpus = static_cast<int>(cfg.get_int("vm.vcpus"));
  const int nvms = static_cast<int>(cfg.get_int("vm.count"));
  // vm.pin: one CPU per vCPU shared by every VM (vCPU i of each VM on pin[i], the seeds'
  // overcommit layout), or one per vCPU of every VM in VM order.
  std::vector<int64_t> pin = cfg.get_int_list("vm.pin");
  const size_t all = static_cast<size_t>(vcpus) * static_cast<size_t>(nvms);
  if (!pin.empty() && pin.size() != static_cast<size_t>(vcpus) && pin.size() != all)
    throw sim::ConfigError(cfg.source(), 0, "vm.pin",
                           "one host CPU per vCPU (" + std::to_string(vcpus) + " entries, shared by every VM" +
                               (nvms > 1 ? ", or " + std::to_string(all) + " for every vCPU of every VM" : std::string()) + ")",
                           std::to_string(pin.size()) + " entries");
  if (pin.empty())
    for (int i = 0; i < vcpus; ++i) pin.push_back(i % n);
  if (pin.size() != all) {
    const std::vector<int64_t> one = pin;
    for (int k = 1; k < nvms; ++k) pin.insert(pin.end(), one.begin(), one.end());
  }
  std::vector<int64_t> cpuset;  // vm.placement: scattered: where the vCPU threads may run
  if (cfg.get_string("vm.placement") == "scattered") {
    // A cpuset (the CPUs of vm.pin) with every vCPU of every VM placed at random, as many
    // per CPU as possible, as an unpinned host's load balancer leaves them (issue 5).
    for (int64_t c : pin)
      if (std::find(cpuset.begin(), cpuset.end(), c) == cpuset.end()) cpuset.push_back(c);
    std::vector<int64_t> slots;
    for (size_t j = 0; j < all; ++j) slots.push_back(cpuset[j % cpuset.size()]);
    sim::Rng rng(static_cast<uint64_t>(cfg.get_int("seed")), "vm.placement");
    for (size_t j = slots.size(); j > 1; --j) std::swap(slots[j - 1], slots[rng.below(j)]);
    pin = slots;
  }
  for (int64_t c : pin)
    if (c >= n) throw sim::ConfigError(cfg.source(), 0, "vm.pin", "CPUs below " + std::to_string(n) + " on " + platform.name, std::to_string(c));
  for (int64_t c : cfg.get_int_list("host.busy_cpus"))
    if (c >= n) throw sim::ConfigError(cfg.source(), 0, "host.busy_cpus", "CPUs below " + std::to_string(n), std::to_string(c));
  std::vector<std::string> kinds = cfg.get_string_list("vm.workloads");
  if (!kinds.empty() && static_cast<int>(kinds.size()) != nvms)
    throw sim::ConfigError(cfg.source(), 0, "vm.workloads", "one workload kind per VM (" + std::to_string(nvms) + " entries) or none",
                           std::to_string(kinds.size()) + " entries");
  if (kinds.empty()) kinds.assign(static_cast<size_t>(nvms), cfg.get_string("workload.kind"));

  // Hardware.
  line_ns_by_cpu.assign(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n)));
  bus = std::make_unique<hw::ApicBus>("apic_bus", platform);
  std::vector<hw::ApicIdentity> ids;
  std::vector<hw::Core*> raw;
  for (int c = 0; c < n; ++c) {
    for (int o = 0; o < n; ++o) line_ns_by_cpu[static_cast<size_t>(c)][static_cast<size_t>(o)] = hw::line_transfer_ns(platform, c, o);
    const uint32_t apic = platform.topology.apic_id(c);
    cores.push_back(std::make_unique<hw::Core>(("cpu" + std::to_string(c)).c_str(), c, apic, platform, platform.costs));
    cores.back()->set_line_latency_table(&line_ns_by_cpu[static_cast<size_t>(c)]);
    cores.back()->violations = &violations;
    cores.back()->fault = &fault;
    cores.back()->apic_out.bind(bus->in);
    bus->out.bind(cores.back()->apic_in);
    ids.push_back({apic, hw::x2apic_ldr(apic), 0});
    raw.push_back(cores.back().get());
  }
  bus->set_identities(ids);
  if (platform.power.present) {  // issue 6: C-state residency and turbo
    power = std::make_unique<hw::PackagePower>(platform);
    for (auto& c : cores) c->set_power(power.get(), power_model == "feedback");
  }
  // Lookahead of each core: the smallest latency (an IPI or a cache-line transfer) from any
  // other CPU that runs something. Tasks are pinned, so a CPU with none never acts.
  std::vector<bool> active(static_cast<size_t>(n), false);
  for (int64_t c : pin) active[static_cast<size_t>(c)] = true;
  for (int64_t c : cfg.get_int_list("host.busy_cpus")) active[static_cast<size_t>(c)] = true;
  for (int a = 0; a < n; ++a) {
    double min_ns = 1e6;  // 1 ms when nothing else runs: bounded anyway by the batch budget
    for (int b = 0; b < n; ++b)
      if (b != a && active[static_cast<size_t>(b)])
        min_ns = std::min({min_ns, hw::wire_latency_ns(platform, b, a), hw::line_transfer_ns(platform, b, a)});
    cores[static_cast<size_t>(a)]->set_lookahead(sim::ns(min_ns));
  }

  // Host and VM.
  kernel = std::make_unique<host::Kernel>(host_params(cfg), raw);
  const RtConfig rt_cfg = resolve_rt(cfg, platform, pin);
  kvm::KvmParams kp = kvm_params(cfg, platform);
  apply_rt_params(rt_cfg, kp);
  const std::string ipi_mode = cfg.get_string("guest.ipi_mode");
  if (ipi_mode == "pv" && !kp.pv_send_ipi)
    throw sim::ConfigError(cfg.source(), 0, "guest.ipi_mode", "kvm.pv_send_ipi=true for the pv mode", "pv with kvm.pv_send_ipi=false");
  if (ipi_mode == "noexit_pv" && !(kp.enable_apicv && platform.vmx.apicv && platform.vmx.posted_interrupts))
    throw sim::ConfigError(cfg.source(), 0, "guest.ipi_mode",
                           "posted interrupts for noexit_pv (kvm.enable_apicv and a CPU with APICv)",
                           "noexit_pv on " + platform.name + (kp.enable_apicv ? "" : " with kvm.enable_apicv=false"));
  if (ipi_mode == "ipiv" && !(kp.enable_ipiv && kp.enable_apicv && platform.vmx.ipiv && platform.vmx.apicv && platform.vmx.posted_interrupts))
    throw sim::ConfigError(cfg.source(), 0, "guest.ipi_mode",
                           "IPI virtualization for ipiv: a platform with vmx ipiv (Sapphire Rapids or later, e.g. xeon-platinum-8490h-4s), kvm.enable_ipiv and kvm.enable_apicv",
                           "ipiv on " + platform.name + (platform.vmx.ipiv ? "" : " (no IPI virtualization)") +
                               (kp.enable_ipiv ? "" : " with kvm.enable_ipiv=false") + (kp.enable_apicv ? "" : " with kvm.enable_apicv=false"));
  // kvm_guest_init: PV sched yield needs KVM_FEATURE_STEAL_TIME (vcpu_is_preempted).
  if (cfg.get_bool("guest.pv_sched_yield") && !cfg.get_bool("guest.steal_time"))
    throw sim::ConfigError(cfg.source(), 0, "guest.pv_sched_yield", "guest.steal_time=true (vcpu_is_preempted reads the steal-time area)",
                           "guest.steal_time=false");
  if (cfg.get_bool("guest.pv_tlb_flush") && !cfg.get_bool("guest.steal_time"))
    throw sim::ConfigError(cfg.source(), 0, "guest.pv_tlb_flush", "guest.steal_time=true (the flag lives in the steal-time area)", "guest.steal_time=false");
  const std::string idle_name = cfg.get_string("guest.idle");
  const auto idle = idle_name == "poll" ? guest::GuestCpu::Idle::Poll
                    : idle_name == "mwait" ? guest::GuestCpu::Idle::Mwait
                    : idle_name == "haltpoll" ? guest::GuestCpu::Idle::Haltpoll
                                              : guest::GuestCpu::Idle::Halt;
  // intel_idle needs MONITOR/MWAIT in the guest's CPUID, which KVM offers only with MWAIT
  // exits disabled.
  if (idle == guest::GuestCpu::Idle::Mwait && !(kp.disable_exits & kvm::KVM_X86_DISABLE_EXITS_MWAIT))
    throw sim::ConfigError(cfg.source(), 0, "guest.idle", "kvm.disable_exits to contain mwait for guest.idle=mwait",
                           "mwait with MWAIT exits enabled");
  for (int k = 0; k < nvms; ++k) {
    auto inst = std::make_unique<VmInstance>();
    VmInstance& vm = *inst;
    vm.index = k;
    vm.kvm = std::make_unique<kvm::Kvm>("vm" + std::to_string(k), kp, platform.vmx, platform.costs);
    vm.kvm->tsc_mhz = platform.tsc_mhz;
    if (cfg.get_bool("output.trace")) {
      if (!tracer) tracer = std::make_unique<kvm::Tracer>(static_cast<uint64_t>(cfg.get_int("output.trace_max_lines")));
      vm.kvm->tracer = tracer.get();
      vm.kvm->trace_pid_base = 10000u * static_cast<uint32_t>(k + 1);  // VM k's vCPU threads: 10000(k+1) + i
    }
    vm.guest_vm.ipi_mode = guest::ipi_mode_from_string(ipi_mode);
    for (int i = 0; i < (rt_cfg.bare_metal ? 0 : vcpus); ++i) {
      kvm::Vcpu& v = vm.kvm->create_vcpu(static_cast<uint32_t>(i));
      vm.guests.push_back(std::make_unique<guest::GuestCpu>(i, platform.costs));
      vm.guests.back()->set_idle(idle);
      auto thread = std::make_unique<kvm::VcpuThread>(v, *kernel, *vm.guests.back());
      vm.vcpu_threads.push_back(thread.get());
      vcpu_threads.push_back(thread.get());
      host::Task* task = kernel->add_task(std::move(thread), static_cast<int>(pin[static_cast<size_t>(k * vcpus + i)]));
      for (int64_t c : cpuset) task->cpus_allowed.push_back(static_cast<int>(c));
      vm.view.cpus.push_back(vm.guests.back().get());
      vm.view.apic_ids.push_back(v.apic_id());
      vm.guest_vm.apic_ids.push_back(v.apic_id());
      if (kp.noexit_pv_ipi) vm.guest_vm.pi_descs.push_back(&v.pi_desc);
      if (cfg.get_bool("guest.steal_time")) {  // kvm_guest_cpu_init wrote MSR_KVM_STEAL_TIME at boot
        v.steal_time.enabled = true;
        vm.guest_vm.steal_time.push_back(&v.steal_time);
      }
    }
    // kvm_guest_init: PV TLB flush and PV sched yield need steal time, more than one CPU,
    // no KVM_HINTS_REALTIME and no MWAIT in CPUID (they switch themselves off when the guest
    // can idle with MWAIT, i.e. when its vCPUs own their CPUs).
    guest::PvOffer offer;
    offer.want_pv_tlb_flush = cfg.get_bool("guest.pv_tlb_flush");
    offer.want_pv_sched_yield = cfg.get_bool("guest.pv_sched_yield");
    offer.steal_time = cfg.get_bool("guest.steal_time");
    offer.hints_realtime = cfg.get_bool("kvm.hints_realtime");
    offer.mwait = kp.disable_exits & kvm::KVM_X86_DISABLE_EXITS_MWAIT;
    offer.possible_cpus = vcpus;
    const guest::PvFeatures pv = guest::kvm_guest_init(offer);
    vm.guest_vm.pv_tlb_flush = pv.pv_tlb_flush;
    vm.guest_vm.pv_sched_yield = pv.pv_sched_yield;
    for (auto& g : vm.guests) vm.guest_vm.cpus.push_back(g.get());
    vm.guest_vm.power = &platform.power;
    vm.guest_vm.tsc_mhz = platform.tsc_mhz;
    vm.guest_vm.guest_halt_poll_ns = static_cast<uint64_t>(cfg.get_int("guest.haltpoll_ns"));
    for (auto& g : vm.guests) g->set_vm(&vm.guest_vm);
    vm.view.platform = &platform;
    vms.push_back(std::move(inst));
  }
  build_rt(*this, cfg, rt_cfg, pin);
  // POSTED_INTR_WAKEUP_VECTOR: wake the blocked vCPUs of this CPU with a pending post.
  kernel->pi_wakeup_handler = [this](host::Cpu& c) {
    for (kvm::VcpuThread* t : vcpu_threads) t->pi_wakeup(c);
  };
  for (int64_t c : cfg.get_int_list("host.busy_cpus"))
    kernel->add_task(std::make_unique<host::BusyTask>("load" + std::to_string(c)), static_cast<int>(c));

  // Workloads: VM k's random streams are seeded apart from VM 0's, which matches a
  // single-VM run of the same seed.
  nested = make_nested(cfg, *this);
  for (auto& vm : vms) {
    const std::string& kind = kinds[static_cast<size_t>(vm->index)];
    vm->workload_kind = kind;
    vm->workload = kind == "cyclictest" ? make_cyclictest(cfg, *this, *vm) : make_nested_workload(cfg, kind, *nested);
    if (!vm->workload) vm->workload = make_workload(cfg, kind, vm->index, vcpus, vm->kvm.get());
    if (vm->workload) vm->workload->setup(vm->view);
    for (auto& g : vm->guests)
      if (!g->started()) g->start_idle();
  }
}

bool System::workloads_done() const {
  bool any = false;
  for (const auto& vm : vms) {
    if (!vm->workload) continue;
    any = true;
    if (!vm->workload->done()) return false;
  }
  return any;
}

double System::workload_progress() const {
  double least = -1.0;
  for (const auto& vm : vms)
    if (vm->workload) least = least < 0 ? vm->workload->progress() : std::min(least, vm->workload->progress());
  return least;
}

System::~System() = default;

void System::start() {
  kernel->start();
  nested->start();
  for (auto& c : cores) c->reschedule();  // start() ran outside the cores' processes
}

}  // namespace run
