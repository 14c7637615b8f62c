#include "run/rt_setup.h"

#include <algorithm>

#include "guest/workload_cyclictest.h"
#include "host/irq_thread.h"
#include "host/kthread_noise.h"
#include "host/native_task.h"
#include "hw/apic_regs.h"
#include "hw/sriov_vf.h"
#include "kvm/rt_timer.h"
#include "run/system.h"

namespace run {
namespace {

constexpr uint8_t kGuestNicVector = 0x41;  // the VF's MSI-X vector in the guest
constexpr uint8_t kHostNicVector = 0x42;   // the vector the host gave the VF (forwarding)

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

[[noreturn]] void bad(const sim::Config& cfg, const std::string& key, const std::string& expected, const std::string& found) {
  throw sim::ConfigError(cfg.source(), 0, key, expected, found);
}

}  // namespace

RtParts::RtParts() = default;
RtParts::~RtParts() = default;

void apply_rt_platform(const sim::Config& cfg, hw::Platform& platform) {
  if (cfg.get_bool("rt.whatif_posted_interrupts")) {
    platform.vmx.apicv = true;
    platform.vmx.posted_interrupts = true;
    platform.description += " [what-if: APICv and posted interrupts enabled by rt.whatif_posted_interrupts]";
  }
}

RtConfig resolve_rt(const sim::Config& cfg, const hw::Platform& p, const std::vector<int64_t>& pin) {
  RtConfig r;
  r.mode = cfg.get_string("rt.mode");
  r.load = cfg.get_string("rt.load");
  const std::string& m = r.mode;
  auto tri = [&](const char* key, bool mode_default) {
    const std::string& s = cfg.get_string(key);
    return s == "auto" ? mode_default : s == "true";
  };
  r.bare_metal = cfg.get_bool("vm.bare_metal") || m == "bare" || cfg.get_int("nested.level") == 0;  // issue 7: level 0
  r.direct_irq = tri("kvm.direct_irq", m == "kvm_directirq");
  r.hlt_in_guest = tri("kvm.hlt_in_guest", m == "kvm_directirq" || m == "kvm_exitless_timer");
  r.pi_inject_timer = tri("kvm.pi_inject_timer", m == "kvm_exitless_timer");
  r.timer_passthrough = tri("kvm.timer_passthrough", m == "kvm_timer_passthrough");
  r.isolated = cfg.get_int_list("host.isolated_cpus");
  const std::string& iso = cfg.get_string("host.isolation");
  const bool isolate = iso == "auto" ? (m == "kvm_isolated" || m == "kvm_directirq" || m == "kvm_exitless_timer") : iso == "true";
  if (isolate && r.isolated.empty()) r.isolated = pin;
  if (!isolate) r.isolated.clear();
  const int64_t prio = cfg.get_int("vm.vcpu_rt_priority");
  r.vcpu_rt_priority = static_cast<int>(prio >= 0 ? prio : (m != "none" ? 1 : 0));
  r.housekeeping_cpu = static_cast<int>(cfg.get_int("kvm.housekeeping_cpu"));
  r.lazy_fpu = cfg.get_bool("kvm.lazy_fpu");
  r.assigned_irq_threaded = cfg.get_string("kvm.assigned_irq") == "threaded";
  const int n = p.topology.cpus();
  const bool apicv = cfg.get_bool("kvm.enable_apicv") && p.vmx.apicv && p.vmx.posted_interrupts;

  for (int64_t c : r.isolated)
    if (c >= n) bad(cfg, "host.isolated_cpus", "CPUs below " + std::to_string(n) + " on " + p.name, std::to_string(c));
  for (int64_t c : cfg.get_int_list("host.busy_cpus"))
    if (contains(r.isolated, c)) bad(cfg, "host.busy_cpus", "no isolated CPU (isolation keeps host tasks off it)", std::to_string(c));
  if (r.housekeeping_cpu >= n || contains(r.isolated, r.housekeeping_cpu))
    bad(cfg, "kvm.housekeeping_cpu", "a CPU below " + std::to_string(n) + " that is not isolated", std::to_string(r.housekeeping_cpu));
  if (r.bare_metal && (r.direct_irq || r.timer_passthrough || r.pi_inject_timer))
    bad(cfg, "vm.bare_metal", "no KVM mechanism (kvm.direct_irq, kvm.timer_passthrough, kvm.pi_inject_timer) on bare metal", "one of them on");
  // Issue 4: bare-metal IPIs are the APIC driver's own ICR writes (no hypercall, no posting).
  const std::string& ipi_mode = cfg.get_string("guest.ipi_mode");
  if (r.bare_metal && ipi_mode != "x2apic_physical" && ipi_mode != "x2apic_cluster")
    bad(cfg, "guest.ipi_mode", "x2apic_physical or x2apic_cluster on bare metal (the others need KVM)", ipi_mode);
  if (r.bare_metal && cfg.get_bool("ipi.nmi")) bad(cfg, "ipi.nmi", "false on bare metal (NMI IPIs are modelled inside VMs only)", "true");
  if (r.bare_metal && cfg.get_bool("ipi.hotplug")) bad(cfg, "ipi.hotplug", "false on bare metal (INIT/SIPI are modelled inside VMs only)", "true");
  if (r.bare_metal && cfg.get_bool("ipi.smi")) bad(cfg, "ipi.smi", "false on bare metal (SMM is modelled inside VMs only)", "true");
  if (r.direct_irq) {
    for (int64_t c : pin)
      if (!contains(r.isolated, c))
        bad(cfg, "kvm.direct_irq", "every vCPU on an isolated CPU (DirectIRQ hands the core's interrupts to the guest; host.isolation)",
            "vCPU CPU " + std::to_string(c) + " not isolated");
    if (apicv) bad(cfg, "kvm.direct_irq", "kvm.enable_apicv=false (seed 001's DirectIRQ replaces APICv's interrupt delivery)", "APICv on " + p.name);
    if (r.timer_passthrough) bad(cfg, "kvm.timer_passthrough", "off with kvm.direct_irq (both hand the LAPIC timer to the guest)", "both on");
  }
  if (r.pi_inject_timer) {
    if (!r.hlt_in_guest)
      bad(cfg, "kvm.pi_inject_timer", "kvm.hlt_in_guest=true (a posted timer interrupt needs the vCPU to stay in guest mode: HLT/MWAIT passthrough)", "kvm.hlt_in_guest=false");
    if (!apicv)
      bad(cfg, "kvm.pi_inject_timer",
          "posted interrupts (kvm.enable_apicv and a CPU with APICv; " + p.name + " has none: set rt.whatif_posted_interrupts=true for a what-if)",
          "no posted interrupts on " + p.name);
    if (r.timer_passthrough) bad(cfg, "kvm.timer_passthrough", "off with kvm.pi_inject_timer (one owner of the guest's timer)", "both on");
  }
  if (r.timer_passthrough && cfg.get_string("guest.clockevent") == "lapic_oneshot")
    bad(cfg, "kvm.timer_passthrough", "guest.clockevent=tsc_deadline (seed 002 hands IA32_TSC_DEADLINE to the guest; a one-shot guest programs TMICT)",
        "guest.clockevent=lapic_oneshot");
  if (r.timer_passthrough && !p.vmx.preemption_timer)
    bad(cfg, "kvm.timer_passthrough", "a CPU with the VMX-preemption timer (it carries the host's timer)", "none on " + p.name);
  const std::string& d = cfg.get_string("iperf.delivery");
  r.nic_delivery = d != "auto" ? d : r.bare_metal ? "host" : r.direct_irq ? "direct" : apicv ? "posted" : "forwarded";
  if (r.nic_delivery == "posted" && !apicv)
    bad(cfg, "iperf.delivery", "posted only with posted interrupts (kvm.enable_apicv on a CPU with them, or rt.whatif_posted_interrupts)", "posted on " + p.name);
  if (r.nic_delivery == "direct" && !r.direct_irq) bad(cfg, "iperf.delivery", "direct only with kvm.direct_irq", "direct");
  if (r.bare_metal != (r.nic_delivery == "host")) bad(cfg, "iperf.delivery", r.bare_metal ? "auto or host on bare metal" : "not host (that is bare metal's)", r.nic_delivery);
  const int64_t vcpus = cfg.get_int("vm.vcpus");
  if (cfg.get_string("workload.kind") == "cyclictest" && cfg.get_int("cyclictest.threads") > vcpus)
    bad(cfg, "cyclictest.threads", "at most vm.vcpus (" + std::to_string(vcpus) + ") threads, one per CPU", std::to_string(cfg.get_int("cyclictest.threads")));
  if (r.bare_metal && cfg.get_int("vm.count") != 1) bad(cfg, "vm.count", "1 with vm.bare_metal (one native program set)", std::to_string(cfg.get_int("vm.count")));
  return r;
}

void apply_rt_params(const RtConfig& r, kvm::KvmParams& k) {
  k.hlt_in_guest = r.hlt_in_guest;
  k.pi_inject_timer = r.pi_inject_timer;
  k.timer_passthrough = r.timer_passthrough;
  k.direct_irq = r.direct_irq;
  k.housekeeping_cpu = r.housekeeping_cpu;
  k.lazy_fpu = r.lazy_fpu;
}

void build_rt(System& sys, const sim::Config& cfg, RtConfig r, const std::vector<int64_t>& pin) {
  auto parts = std::make_unique<RtParts>();
  RtParts& rt = *parts;
  rt.cfg = r;
  rt.pin = pin;
  host::Kernel& kernel = *sys.kernel;
  const int n = kernel.nr_cpus();
  const int64_t residual_hz = cfg.get_int("host.nohz_full_residual_hz");
  for (int64_t c : r.isolated) {
    kernel.cpu(static_cast<int>(c)).set_nohz_full(true);
    if (residual_hz > 0) kernel.cpu(static_cast<int>(c)).set_nohz_residual(sim::kPsPerSec / residual_hz);
  }
  for (kvm::VcpuThread* t : sys.vcpu_threads) t->rt_priority = r.vcpu_rt_priority;
  VmInstance& vm0 = *sys.vms[0];
  for (const auto& vm : sys.vms)
  for (int i = 0; i < vm->kvm->nr_vcpus(); ++i) {
    kvm::Vcpu& v = vm->kvm->vcpu(i);
    if (!r.timer_passthrough && !r.direct_irq) continue;
    rt.timers.push_back(std::make_unique<kvm::RtTimer>(v));
    v.rt = rt.timers.back().get();
  }
  // Bare metal: each "vCPU" program is a host task on its CPU, at cyclictest's priority.
  if (r.bare_metal) {
    for (size_t i = 0; i < pin.size(); ++i) {
      vm0.guests.push_back(std::make_unique<guest::GuestCpu>(static_cast<int>(i), sys.platform.costs));
      auto task = std::make_unique<host::NativeTask>("native" + std::to_string(i), *vm0.guests.back(), sys.platform.apic_bus_mhz);
      task->rt_priority = static_cast<int>(cfg.get_int("cyclictest.priority"));
      rt.native_tasks.push_back(task.get());
      kernel.add_task(std::move(task), static_cast<int>(pin[i]));
      vm0.view.cpus.push_back(vm0.guests.back().get());
      vm0.view.apic_ids.push_back(sys.platform.topology.apic_id(static_cast<int>(pin[i])));
      // Issue 4: the programs' ICR writes reach the physical APICs (ipi_bench on bare metal).
      vm0.guest_vm.apic_ids.push_back(sys.platform.topology.apic_id(static_cast<int>(pin[i])));
      vm0.guests.back()->set_vm(&vm0.guest_vm);
    }
    // The host's IRQ entry hands an IPI vector to the program on the CPU it arrived at
    // (raise: a sleeping program is woken through the scheduler).
    RtParts* rp = &rt;
    kernel.device_irq_handler = [rp](host::Cpu& cpu, uint8_t vector) {
      if (vector != hw::CALL_FUNCTION_VECTOR && vector != hw::CALL_FUNCTION_SINGLE_VECTOR) return;
      for (size_t i = 0; i < rp->native_tasks.size(); ++i)
        if (rp->pin[i] == cpu.id()) rp->native_tasks[i]->raise(cpu, vector);
    };
  }
  // Host noise and load stay off isolated CPUs.
  const double kthread_hz = cfg.get_double("host.kthread_hz");
  const uint64_t seed = static_cast<uint64_t>(cfg.get_int("seed"));
  for (int c = 0; c < n; ++c) {
    if (contains(r.isolated, c)) continue;
    if (r.load == "host_cpu" && !contains(cfg.get_int_list("host.busy_cpus"), c))
      rt.host_tasks.push_back(kernel.add_task(std::make_unique<host::BusyTask>("loop" + std::to_string(c)), c));
    if (kthread_hz > 0) {
      auto k = std::make_unique<host::KthreadNoise>("kworker/" + std::to_string(c), kthread_hz, cfg.get_double("host.kthread_run_us"), seed);
      rt.kthreads.push_back(k.get());
      rt.host_tasks.push_back(kernel.add_task(std::move(k), c));
    }
  }
  // iperf on an SR-IOV VF: its MSI goes where the delivery mode says.
  if (r.load == "iperf") {
    rt.vf = std::make_unique<hw::SriovVf>("vf0", cfg.get_double("iperf.pps"), cfg.get_double("iperf.itr_us"), cfg.get_double("iperf.clock_ppm"), seed);
    rt.vf->msi_out.bind(sys.bus->in);
    const int vcpu_cpu = static_cast<int>(pin[0]);
    const int host_cpu = contains(r.isolated, vcpu_cpu) ? r.housekeeping_cpu : vcpu_cpu;
    hw::SriovVf* vf = rt.vf.get();
    if (r.nic_delivery == "direct") {
      vf->set_msi(sys.platform.topology.apic_id(vcpu_cpu), kGuestNicVector);
    } else if (r.nic_delivery == "posted") {
      kvm::Vcpu* v = &vm0.kvm->vcpu(0);
      vf->set_msi(sys.platform.topology.apic_id(vcpu_cpu), hw::POSTED_INTR_VECTOR);
      vf->iommu_post = [v](uint32_t& dest, uint8_t& vector) {
        ++v->stat.interrupts_sent;
        ++v->stat.posted_interrupts;
        const hw::PiPostResult res = v->pi_desc.pi_post_vtd(kGuestNicVector);
        if (res == hw::PiPostResult::AlreadyPending) ++v->stat.interrupts_coalesced;
        if (res != hw::PiPostResult::NeedsNotification) return false;
        dest = v->pi_desc.ndst;
        vector = static_cast<uint8_t>(v->pi_desc.nv);
        return true;
      };
    } else {
      vf->set_msi(sys.platform.topology.apic_id(host_cpu), kHostNicVector);
    }
    RtParts* rp = &rt;
    kvm::Kvm* s = vm0.kvm.get();
    if (r.assigned_irq_threaded && r.nic_delivery == "forwarded") {
      // Linux 3.5's assigned-device MSI: the hard handler wakes irq/N, which raises the vIRQ.
      auto t = std::make_unique<host::IrqThread>("irq/" + std::to_string(kHostNicVector) + "-kvm",
                                                 [s](host::Cpu& c) { s->vcpu(0).deliver_interrupt(c.vmx(), kGuestNicVector); });
      rt.irq_thread = t.get();
      kernel.add_task(std::move(t), host_cpu);
    }
    kernel.device_irq_handler = [rp, s](host::Cpu& cpu, uint8_t vector) {
      if (vector != kHostNicVector && vector != kGuestNicVector) return;
      if (!rp->native_tasks.empty()) {
        // Bare metal: the host kernel's own NAPI softirq, on irq exit, before anything else
        // runs on this CPU (a timer interrupt that arrives meanwhile waits for it).
        const uint64_t packets = rp->vf->take_packets();
        rp->rx_packets += packets;
        cpu.vmx().charge(static_cast<double>(packets) * cpu.vmx().costs().guest_net_rx_packet);
      } else if (s->nr_vcpus() > 0) {
        // vfio's handler -> irqfd -> kvm_set_irq: a virtual IRQ for the guest (also DirectIRQ's
        // guest vector arriving while the vCPU is in root mode); 3.5's threaded handler.
        if (rp->irq_thread && vector == kHostNicVector) rp->irq_thread->wake(cpu);
        else s->vcpu(0).deliver_interrupt(cpu.vmx(), kGuestNicVector);
      }
    };
  }
  // Lookahead (as System computes it): the smallest latency from another CPU that runs
  // something, now counting the CPUs given load, kthreads or native tasks here, the exitless
  // timer's housekeeping CPU, and a device's MSI. Unchanged when none of them is in use.
  std::vector<bool> active(static_cast<size_t>(n), false);
  bool more = false;
  for (int64_t c : pin) active[static_cast<size_t>(c)] = true;
  for (int64_t c : cfg.get_int_list("host.busy_cpus")) active[static_cast<size_t>(c)] = true;
  for (const host::Task* t : rt.host_tasks) more |= !active[static_cast<size_t>(t->cpu)], active[static_cast<size_t>(t->cpu)] = true;
  if (r.pi_inject_timer) more |= !active[static_cast<size_t>(r.housekeeping_cpu)], active[static_cast<size_t>(r.housekeeping_cpu)] = true;
  if (more || rt.vf) {
    for (int a = 0; a < n; ++a) {
      double min_ns = rt.vf ? sys.platform.costs.apic_bus_same_socket_ns : 1e6;
      for (int b = 0; b < n; ++b)
        if (b != a && active[static_cast<size_t>(b)])
          min_ns = std::min({min_ns, hw::wire_latency_ns(sys.platform, b, a), hw::line_transfer_ns(sys.platform, b, a)});
      sys.cores[static_cast<size_t>(a)]->set_lookahead(sim::ns(min_ns));
    }
  }
  sys.rt = std::move(parts);
}

std::unique_ptr<guest::Workload> make_cyclictest(const sim::Config& cfg, System& sys, VmInstance& vm) {
  (void)vm;
  guest::CyclictestParams p;
  p.loops = static_cast<uint64_t>(cfg.get_int("cyclictest.loops"));
  p.interval_us = cfg.get_double("cyclictest.interval_us");
  p.threads = static_cast<int>(cfg.get_int("cyclictest.threads"));
  p.priority = static_cast<int>(cfg.get_int("cyclictest.priority"));
  p.histogram_us = static_cast<int>(cfg.get_int("cyclictest.histogram_us"));
  p.guest_hz = cfg.get_double("guest.hz");
  p.native = sys.rt && sys.rt->cfg.bare_metal;
  p.oneshot = cfg.get_string("guest.clockevent") == "lapic_oneshot";
  p.lazy_fpu = cfg.get_bool("guest.lazy_fpu");
  const bool physical = sys.rt && (sys.rt->cfg.bare_metal || sys.rt->cfg.direct_irq);
  p.apic_timer_mhz = physical ? sys.platform.apic_bus_mhz : 1000.0;  // KVM: APIC_BUS_CYCLE_NS = 1
  if (sys.rt && sys.rt->vf && !p.native) {
    p.nic_vector = kGuestNicVector;
    hw::SriovVf* vf = sys.rt->vf.get();
    p.nic_take_packets = [vf] { return vf->take_packets(); };
  }
  return guest::make_cyclictest_workload(p);
}

void collect_rt_metrics(System& sys, sim::Picos end, std::map<std::string, double>& m) {
  if (!sys.rt) return;
  RtParts& rt = *sys.rt;
  uint64_t preempt = 0, timer_cause = 0, guest_timer = 0, host_timer = 0, nmi = 0, toggles = 0;
  kvm::Kvm& k0 = *sys.vms[0]->kvm;
  for (int i = 0; i < k0.nr_vcpus(); ++i) {
    const kvm::VcpuStats& st = k0.vcpu(i).stat;
    preempt += st.exits_by_reason[hw::EXIT_REASON_PREEMPTION_TIMER];
    timer_cause += st.exits_by_cause[static_cast<size_t>(kvm::ExitCause::Timer)];
  }
  for (const auto& t : rt.timers) {
    guest_timer += t->guest_timer_exits;
    host_timer += t->host_timer_exits;
    nmi += t->nmi_exits;
    toggles += t->direct_eoi_toggles;
  }
  const double sim_s = sim::to_sec(end);
  m["rt.timer_exits"] = static_cast<double>(timer_cause);
  m["rt.timer_exits_per_s"] = sim_s > 0 ? static_cast<double>(timer_cause) / sim_s : 0.0;
  // Exits on which the guest's timer expired (hv timer, or passthrough timer firing in guest mode).
  m["rt.timer_fire_exits"] = static_cast<double>(preempt - host_timer + guest_timer);
  m["rt.host_timer_preemption_exits"] = static_cast<double>(host_timer);
  m["rt.nmi_exits"] = static_cast<double>(nmi);
  m["rt.direct_eoi_toggles"] = static_cast<double>(toggles);
  // The workload's CPU: time in root mode that is neither the guest nor host load / kthreads.
  const int c0 = rt.pin.empty() ? 0 : static_cast<int>(rt.pin[0]);
  hw::Core& core = *sys.cores[static_cast<size_t>(c0)];
  sim::Picos other = 0;
  for (const host::Task* t : rt.host_tasks)
    if (t->cpu == c0) other += t->sum_exec;
  const double span = static_cast<double>(end);
  const double root = static_cast<double>(core.time_in_root()) - static_cast<double>(other);
  m["host.cpu_pct"] = span > 0 ? std::max(0.0, 100.0 * root / span) : 0.0;
  m["host.vcpu_core_ticks"] = static_cast<double>(sys.kernel->cpu(c0).ticks());
  m["host.vcpu_core_interrupts_taken_in_guest"] = static_cast<double>(core.direct_guest_interrupts());
  uint64_t noise = 0;
  for (const host::KthreadNoise* k : rt.kthreads) noise += k->wakeups();
  m["host.kthread_wakeups"] = static_cast<double>(noise);
  if (rt.irq_thread) m["host.irq_thread_runs"] = static_cast<double>(rt.irq_thread->runs());
  uint64_t fpu_act = 0;
  for (int i = 0; i < k0.nr_vcpus(); ++i) fpu_act += k0.vcpu(i).lazy_fpu.activations;
  if (rt.cfg.lazy_fpu) m["kvm.fpu_activations"] = static_cast<double>(fpu_act);
  if (rt.vf) {
    m["iperf.packets"] = static_cast<double>(rt.vf->packets());
    m["iperf.interrupts"] = static_cast<double>(rt.vf->interrupts());
  }
  uint64_t native = 0;
  for (const host::NativeTask* t : rt.native_tasks) native += t->timer_interrupts();
  if (rt.cfg.bare_metal) m["bare.timer_interrupts"] = static_cast<double>(native);
  if (rt.cfg.bare_metal && rt.vf) m["iperf.rx_packets"] = static_cast<double>(rt.rx_packets);
}

}  // namespace run
