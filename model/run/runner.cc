#include "run/runner.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <systemc>

#include "hw/vmx.h"
#include "run/overcommit_report.h"
#include "run/nested_system.h"
#include "run/perf_kvm_stat.h"
#include "run/rt_setup.h"
#include "run/power_report.h"
#include "run/schema.h"
#include "run/system.h"

namespace run {
namespace {

// SystemC keeps its kernel in a global context that cannot be restarted; a run gets a new
// one and deletes it afterwards.
class FreshSimContext {
 public:
  FreshSimContext() {
    ctx_ = new sc_core::sc_simcontext();
    sc_core::sc_curr_simcontext = ctx_;
    sc_core::sc_default_global_context = ctx_;
    // A run's last sc_start may find nothing left to do; that is not worth a warning.
    sc_core::sc_report_handler::set_actions(sc_core::SC_ID_NO_SC_START_ACTIVITY_, sc_core::SC_DO_NOTHING);
  }
  ~FreshSimContext() {
    sc_core::sc_curr_simcontext = nullptr;
    sc_core::sc_default_global_context = nullptr;
    delete ctx_;
  }

 private:
  sc_core::sc_simcontext* ctx_;
};

void collect(const sim::Config& cfg, System& sys, sim::Picos end, double wall_s, RunResult& r) {
  auto& m = r.metrics;
  std::map<std::string, double> workload_invariants;
  // Workload metrics: VM 0's unprefixed (and its files as named); with several VMs every
  // VM's also as vm<k>.<metric> and files as vm<k>-<file>.
  for (const auto& vm : sys.vms) {
    if (!vm->workload) continue;
    std::map<std::string, double> wm;
    std::map<std::string, std::string> wf;
    vm->workload->report(wm, wf);
    const std::string prefix = "vm" + std::to_string(vm->index);
    if (vm->index == 0) {
      m.insert(wm.begin(), wm.end());
      r.files.insert(wf.begin(), wf.end());
    } else {
      for (const auto& [name, text] : wf) r.files[prefix + "-" + name] = text;
    }
    if (sys.vms.size() > 1)
      for (const auto& [k, v] : wm) m[prefix + "." + k] = v;
    // A workload's invariant.* counts every VM (the unprefixed value is the sum).
    for (const auto& [k, v] : wm)
      if (k.rfind("invariant.", 0) == 0) workload_invariants[k] += v;
  }
  sys.nested->report(m);  // nested.* and L2's invariants (issue 7)
  for (const auto& [k, v] : workload_invariants) m[k] = v;
  for (const auto& vm : sys.vms)  // issue 6: the first stale TLB use, with its timeline
    if (auto it = r.files.find(vm->index == 0 ? "stale_tlb_first_violation.txt" : "vm" + std::to_string(vm->index) + "-stale_tlb_first_violation.txt");
        it != r.files.end())
      sys.violations.record({"stale_tlb_uses", end, -1, "vm" + std::to_string(vm->index) + ": " + it->second, {}});

  // Exits: by reason over every VM, per vCPU for the CSV, and perf kvm stat rows.
  std::array<sim::Summary, hw::kNumExitReasons> by_reason_time{};
  std::array<uint64_t, hw::kNumExitReasons> by_reason{};
  kvm::VcpuStats total;
  std::ostringstream csv;
  csv.precision(12);  // enough digits to round-trip the simulated microseconds
  csv << "vm,vcpu,reason,count,mean_us,max_us\n";
  for (const auto& vm : sys.vms) {
    uint64_t vm_exits = 0;
    for (int i = 0; i < vm->kvm->nr_vcpus(); ++i) {
      const kvm::VcpuStats& st = vm->kvm->vcpu(i).stat;
      vm_exits += st.exits;
      for (int reason = 0; reason < hw::kNumExitReasons; ++reason) {
        if (!st.exits_by_reason[reason]) continue;
        by_reason[reason] += st.exits_by_reason[reason];
        by_reason_time[reason].merge(st.exit_time_ns[reason]);
        const auto& s = st.exit_time_ns[reason];
        csv << vm->kvm->name() << ',' << i << ',' << hw::exit_reason_name(reason) << ',' << st.exits_by_reason[reason]
            << ',' << (s.mean() / 1000.0) << ',' << (s.count ? s.max / 1000.0 : 0.0) << '\n';
      }
      for (size_t k = 0; k < st.exits_by_cause.size(); ++k) total.exits_by_cause[k] += st.exits_by_cause[k];
      total.exits += st.exits;
      total.fastpath_exits += st.fastpath_exits;
      total.userspace_exits += st.userspace_exits;
      total.halt_exits += st.halt_exits;
      total.halt_attempted_poll += st.halt_attempted_poll;
      total.halt_successful_poll += st.halt_successful_poll;
      total.halt_wakeup += st.halt_wakeup;
      total.halt_poll_success_ns += st.halt_poll_success_ns;
      total.halt_poll_fail_ns += st.halt_poll_fail_ns;
      total.halt_wait_ns += st.halt_wait_ns;
      total.posted_interrupts += st.posted_interrupts;
      total.irq_injections += st.irq_injections;
      total.nmi_injections += st.nmi_injections;
      total.init_resets += st.init_resets;
      total.sipi_starts += st.sipi_starts;
      total.smi_count += st.smi_count;
      total.rsm_emulated += st.rsm_emulated;
      total.hypercalls += st.hypercalls;
      total.hv_timer_armed += st.hv_timer_armed;
      total.sw_timer_armed += st.sw_timer_armed;
      total.timer_fired += st.timer_fired;
      total.preemption_reported += st.preemption_reported;
      total.ple_window_updates += st.ple_window_updates;
    }
    if (sys.vms.size() > 1) m["vm" + std::to_string(vm->index) + ".exits.total"] = static_cast<double>(vm_exits);
  }
  r.exits_by_vcpu_csv = csv.str();
  // Exits still open at the end have no kvm_entry yet: perf kvm stat does not count them.
  std::map<std::string, uint64_t> open;
  for (const auto& vm : sys.vms)
    for (int i = 0; i < vm->kvm->nr_vcpus(); ++i)
      if (const int reason = vm->kvm->vcpu(i).open_exit_reason(); reason >= 0) ++open[std::string(hw::exit_reason_name(reason))];

  // Invariants (always checked; all must be 0).
  uint64_t sent = 0, coalesced = 0, dropped = 0, delivered = 0, pending = 0, illegal = 0, tsc = 0;
  for (const auto& vm : sys.vms) {
    for (int i = 0; i < vm->kvm->nr_vcpus(); ++i) {
      const kvm::Vcpu& v = vm->kvm->vcpu(i);
      sent += v.stat.interrupts_sent;
      coalesced += v.stat.interrupts_coalesced;
      dropped += v.stat.interrupts_dropped_masked;
      illegal += v.stat.illegal_transitions;
      tsc += v.stat.tsc_mismatches;
      pending += v.nmi_queued + v.nmi_pending;  // NMIs not yet injected
      for (uint64_t w : v.pi_desc.pir) pending += static_cast<uint64_t>(__builtin_popcountll(w));
      for (uint32_t w : v.lapic.regs.irr()) pending += static_cast<uint64_t>(__builtin_popcount(w));
      delivered += vm->guests[static_cast<size_t>(i)]->interrupts_taken();
    }
  }
  uint64_t entry_fail = 0, regress = 0, isolation = 0, ipiv_posts = 0, ipiv_suppressed = 0;
  for (auto& c : sys.cores) {
    sent += c->virtual_self_ipis() + c->guest_posts() + c->direct_guest_interrupts() + c->ipiv_posts();
    ipiv_posts += c->ipiv_posts();
    ipiv_suppressed += c->ipiv_suppressed();
    isolation += c->isolation_violations();
    coalesced += c->coalesced_interrupts();
    entry_fail += c->entry_check_failures();
    regress += c->time_regressions();
  }
  const uint64_t accounted = delivered + coalesced + dropped + pending;
  m["interrupts.sent"] = static_cast<double>(sent);
  m["interrupts.delivered"] = static_cast<double>(delivered);
  m["interrupts.pending"] = static_cast<double>(pending);
  m["interrupts.coalesced"] = static_cast<double>(coalesced);
  m["interrupts.dropped_masked"] = static_cast<double>(dropped);
  m["interrupts.ipiv_posts"] = static_cast<double>(ipiv_posts);
  m["interrupts.ipiv_suppressed"] = static_cast<double>(ipiv_suppressed);
  m["invariant.lost_interrupts"] = static_cast<double>(sent > accounted ? sent - accounted : accounted - sent);
  m["invariant.illegal_transitions"] = static_cast<double>(illegal);
  m["invariant.vmentry_check_failures"] = static_cast<double>(entry_fail);
  m["invariant.time_regressions"] = static_cast<double>(regress);
  m["invariant.isolation_violations"] = static_cast<double>(isolation);
  m["invariant.tsc_mismatches"] = static_cast<double>(tsc);
  if (sent != accounted) {  // conservation is checked at the end: its "timeline" is the balance
    sys.violations.record({"lost_interrupts", end, -1,
                           "interrupts sent " + std::to_string(sent) + " != delivered " + std::to_string(delivered) + " + coalesced " +
                               std::to_string(coalesced) + " + masked " + std::to_string(dropped) + " + pending " +
                               std::to_string(pending) + " at the end of the run",
                           {}});
  }
  std::vector<PerfKvmRow> rows;
  for (int reason = 0; reason < hw::kNumExitReasons; ++reason) {
    if (!by_reason[reason]) continue;
    r.exits[std::string(hw::exit_reason_name(reason))] = by_reason[reason];
    sim::Summary us;
    const sim::Summary& ns = by_reason_time[reason];
    us.count = ns.count;
    us.sum = ns.sum / 1e3;
    us.sum_sq = ns.sum_sq / 1e6;
    us.min = ns.min / 1e3;
    us.max = ns.max / 1e3;
    rows.push_back({std::string(hw::exit_reason_name(reason)), us});
  }
  r.files["perf-kvm-stat.txt"] = format_perf_kvm_stat(rows);
  if (sys.tracer) {
    r.files["trace.txt"] = sys.tracer->format(static_cast<int>(sys.cores.size()));
    m["trace.lost_events"] = static_cast<double>(sys.tracer->lost());
  }

  const double sim_s = sim::to_sec(end);
  m["exits.total"] = static_cast<double>(total.exits);
  m["exits.per_s"] = sim_s > 0 ? static_cast<double>(total.exits) / sim_s : 0.0;
  m["exits.fastpath"] = static_cast<double>(total.fastpath_exits);
  for (size_t k = 0; k < total.exits_by_cause.size(); ++k) {
    const double n = static_cast<double>(total.exits_by_cause[k]);
    m[std::string("exits.cause.") + kvm::kExitCauseNames[k]] = n;
    // Seed 002 charts exits per 5 minutes; a stationary run scales linearly.
    m[std::string("exits.cause.") + kvm::kExitCauseNames[k] + ".per_5min"] = sim_s > 0 ? n * 300.0 / sim_s : 0.0;
  }
  m["exits.userspace"] = static_cast<double>(total.userspace_exits);
  m["halt.exits"] = static_cast<double>(total.halt_exits);
  m["halt.attempted_poll"] = static_cast<double>(total.halt_attempted_poll);
  m["halt.successful_poll"] = static_cast<double>(total.halt_successful_poll);
  m["halt.wakeup"] = static_cast<double>(total.halt_wakeup);
  m["halt.poll_success_ns"] = static_cast<double>(total.halt_poll_success_ns);
  m["halt.poll_fail_ns"] = static_cast<double>(total.halt_poll_fail_ns);
  m["halt.wait_ns"] = static_cast<double>(total.halt_wait_ns);
  m["interrupts.posted"] = static_cast<double>(total.posted_interrupts);
  m["interrupts.injected"] = static_cast<double>(total.irq_injections);
  m["interrupts.nmi_injections"] = static_cast<double>(total.nmi_injections);
  m["interrupts.init_resets"] = static_cast<double>(total.init_resets);
  m["interrupts.sipi_starts"] = static_cast<double>(total.sipi_starts);
  m["smm.smi_count"] = static_cast<double>(total.smi_count);
  m["smm.rsm_emulated"] = static_cast<double>(total.rsm_emulated);
  m["hypercalls"] = static_cast<double>(total.hypercalls);
  m["timer.hv_armed"] = static_cast<double>(total.hv_timer_armed);
  m["timer.sw_armed"] = static_cast<double>(total.sw_timer_armed);
  m["timer.fired"] = static_cast<double>(total.timer_fired);
  m["ple.window_updates"] = static_cast<double>(total.ple_window_updates);
  collect_overcommit(sys, end, r);  // issue 5: directed yield, PLE, scheduler buddies

  // Host view: CPUs that run a vCPU.
  uint64_t events = 0, switches = 0, ticks = 0, pi = 0;
  sim::Picos guest_ps = 0, root_ps = 0, idle_ps = 0;
  for (auto& c : sys.cores) {
    c->finish_accounting(end);
    events += c->events();
    pi += c->posted_intr_notifications();
  }
  std::vector<bool> used(sys.cores.size(), false);
  for (auto* t : sys.vcpu_threads) used[static_cast<size_t>(t->cpu)] = true;
  int used_n = 0;
  for (size_t c = 0; c < sys.cores.size(); ++c) {
    switches += sys.kernel->cpu(static_cast<int>(c)).context_switches();
    ticks += sys.kernel->cpu(static_cast<int>(c)).ticks();
    if (!used[c]) continue;
    ++used_n;
    guest_ps += sys.cores[c]->time_in_guest();
    root_ps += sys.cores[c]->time_in_root();
    idle_ps += sys.cores[c]->time_idle();
  }
  const double span = static_cast<double>(end) * std::max(used_n, 1);
  m["cpu.guest_pct"] = span > 0 ? 100.0 * static_cast<double>(guest_ps) / span : 0.0;
  m["cpu.root_pct"] = span > 0 ? 100.0 * static_cast<double>(root_ps) / span : 0.0;
  m["cpu.idle_pct"] = span > 0 ? 100.0 * static_cast<double>(idle_ps) / span : 0.0;
  m["host.context_switches"] = static_cast<double>(switches);
  m["host.ticks"] = static_cast<double>(ticks);
  m["interrupts.pi_notifications"] = static_cast<double>(pi);
  m["apic_bus.messages"] = static_cast<double>(sys.bus->messages());
  collect_rt_metrics(sys, end, m);
  report_power(sys, end, m, r.files);  // issue 6: C-states, turbo, host CPU per VM

  nlohmann::json s;
  s["version"] = version();
  s["scenario"] = cfg.echo();
  s["scenario_file"] = cfg.source();
  s["seed"] = cfg.get_int("seed");
  s["platform"] = {{"name", sys.platform.name}, {"file", sys.platform.file},
                   {"microarchitecture", sys.platform.microarchitecture}, {"freq_mhz", sys.platform.freq_mhz}};
  s["sim_time_ns"] = static_cast<double>(end) / 1e3;
  s["wall_time_s"] = wall_s;
  s["events"] = events;
  s["metrics"] = r.metrics;
  s["exits"] = r.exits;
  s["exits_open_at_end"] = open;
  nlohmann::json viol = nlohmann::json::array();
  for (const auto& v : sys.violations.firsts())
    viol.push_back({{"invariant", v.invariant}, {"at_us", sim::to_us(v.at)}, {"cpu", v.cpu}, {"what", v.what}, {"timeline", v.timeline}});
  s["first_violations"] = viol;
  r.summary = std::move(s);
}

}  // namespace

const char* version() { return KVMSIM_VERSION; }

// A relative platform path is relative to the scenario file's folder (names are looked up
// in platforms/ by Platform::load).
std::string resolve_platform(const sim::Config& cfg) {
  const std::string p = cfg.get_string("platform");
  if (p.find('/') == std::string::npos || p[0] == '/') return p;
  const std::filesystem::path beside = std::filesystem::path(cfg.source()).parent_path() / p;
  return std::filesystem::exists(beside) ? beside.string() : p;
}

sim::Config load_scenario_file(const std::string& path, const std::vector<std::string>& sets) {
  return sim::Config::load_file(scenario_schema(), path, sets);
}

RunResult run_scenario(const sim::Config& cfg, const RunOptions& opts) {
  const auto wall0 = std::chrono::steady_clock::now();
  RunResult r;
  const hw::Platform platform = hw::Platform::load(resolve_platform(cfg));
  {
    FreshSimContext ctx;
    System sys(cfg, platform);
    if (opts.customize) opts.customize(sys);
    sc_core::sc_start(sc_core::SC_ZERO_TIME);
    sys.start();
    const sim::Picos max_ps = sim::ms(cfg.get_double("run.max_sim_ms"));
    const sim::Picos chunk = sim::ms(1);
    const bool show = opts.progress && isatty(STDERR_FILENO);
    auto last_print = wall0;
    sim::Picos now = 0;
    while (now < max_ps && !sys.workloads_done() && !(opts.done && opts.done(sys))) {
      const sim::Picos step = std::min(chunk, max_ps - now);
      sc_core::sc_start(sc_core::sc_time::from_value(step));
      now = sc_core::sc_time_stamp().value();
      if (show) {
        const auto t = std::chrono::steady_clock::now();
        if (t - last_print > std::chrono::milliseconds(500)) {
          last_print = t;
          const double w = sys.workload_progress();
          const double frac = w >= 0 ? w : static_cast<double>(now) / static_cast<double>(max_ps);
          std::fprintf(stderr, "\r  simulated %.1f ms, %3.0f%% done   ", sim::to_us(now) / 1000.0, 100.0 * frac);
        }
      }
    }
    if (show) std::fprintf(stderr, "\r%60s\r", "");
    const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
    collect(cfg, sys, now, wall_s, r);
  }
  return r;
}

void write_results(const RunResult& r, const std::string& dir) {
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream f(std::filesystem::path(dir) / name);
    f << text;
    if (!f) throw std::runtime_error("cannot write " + (std::filesystem::path(dir) / name).string());
  };
  write("summary.json", r.summary.dump(2) + "\n");
  write("exits_by_vcpu.csv", r.exits_by_vcpu_csv);
  for (const auto& [name, text] : r.files) write(name, text);
}

std::vector<ExitRow> parse_exits_by_vcpu_csv(const std::string& csv) {
  std::vector<ExitRow> rows;
  std::istringstream in(csv);
  std::string line;
  std::getline(in, line);  // header: vm,vcpu,reason,count,mean_us,max_us
  while (std::getline(in, line)) {
    std::istringstream f(line);
    std::string vcpu, count, mean, max;
    ExitRow r;
    std::getline(f, r.vm, ',');
    std::getline(f, vcpu, ',');
    std::getline(f, r.reason, ',');
    std::getline(f, count, ',');
    std::getline(f, mean, ',');
    std::getline(f, max, ',');
    r.vcpu = std::stoi(vcpu);
    r.count = std::stoull(count);
    r.mean_us = std::stod(mean);
    r.max_us = std::stod(max);
    rows.push_back(std::move(r));
  }
  return rows;
}

std::string format_summary(const RunResult& r) {
  std::ostringstream o;
  const auto& s = r.summary;
  o << "kvmsim " << s["version"].get<std::string>() << "  platform " << s["platform"]["name"].get<std::string>()
    << "  seed " << s["seed"] << "\n";
  char line[160];
  std::snprintf(line, sizeof line, "simulated %.3f ms in %.2f s wall (%llu events)\n", s["sim_time_ns"].get<double>() / 1e6,
                s["wall_time_s"].get<double>(), static_cast<unsigned long long>(s["events"].get<uint64_t>()));
  o << line;
  if (auto it = r.files.find("vmexit.txt"); it != r.files.end()) o << "\nkvm-unit-tests vmexit (TSC cycles per iteration):\n" << it->second;
  o << "\nexits by reason:\n";
  std::vector<std::pair<uint64_t, std::string>> ex;
  for (const auto& [k, v] : r.exits) ex.emplace_back(v, k);
  std::sort(ex.rbegin(), ex.rend());
  for (const auto& [v, k] : ex) {
    std::snprintf(line, sizeof line, "  %-22s %12llu\n", k.c_str(), static_cast<unsigned long long>(v));
    o << line;
  }
  o << "\nkey metrics:\n";
  for (const char* k : {"exits.per_s", "exits.fastpath", "halt.successful_poll", "interrupts.posted", "cpu.guest_pct"}) {
    if (auto it = r.metrics.find(k); it != r.metrics.end()) {
      std::snprintf(line, sizeof line, "  %-22s %12.6g\n", k, it->second);
      o << line;
    }
  }
  return o.str();
}

}  // namespace run
