#include "hw/power.h"

#include <algorithm>
#include <cstdio>

namespace hw {

CState PowerTable::clamp(CState s) const {
  for (int i = static_cast<int>(s); i > 0; --i)
    if (has[i]) return static_cast<CState>(i);
  return CState::C1;
}

CState PowerTable::deepest_for(double idle_us) const {
  CState best = CState::C1;
  for (int i = 1; i < kNumCStates; ++i)
    if (has[i] && residency_us[i] <= idle_us) best = static_cast<CState>(i);
  return best;
}

PackagePower::PackagePower(const Platform& p) : p_(p) {
  const int n = p.topology.cpus();
  const int cores = p.sockets * p.cores_per_socket;
  thread_.assign(static_cast<size_t>(n), CState::C0);
  thread_res_.assign(static_cast<size_t>(n), std::vector<sim::Picos>(kNumCStates, 0));
  core_res_.assign(static_cast<size_t>(cores), std::vector<sim::Picos>(kNumCStates, 0));
  pkg_res_.assign(static_cast<size_t>(p.sockets), std::vector<sim::Picos>(kNumCStates, 0));
  mhz_ps_.assign(static_cast<size_t>(n), 0.0);
  core_threads_.resize(static_cast<size_t>(cores));
  for (int c = 0; c < n; ++c) core_threads_[static_cast<size_t>(p.topology.core_of(c))].push_back(c);
}

CState PackagePower::core_state(int core) const {
  CState s = CState::C7;
  for (int t : core_threads_[static_cast<size_t>(core)]) s = std::min(s, thread_[static_cast<size_t>(t)]);
  return s;
}

double PackagePower::freq_of_socket(int socket) const {
  if (p_.power.turbo_mhz.empty()) return p_.freq_mhz;
  int active = 0;
  for (int c = 0; c < p_.cores_per_socket; ++c)
    if (core_state(socket * p_.cores_per_socket + c) < CState::C3) ++active;
  return p_.power.turbo_mhz[static_cast<size_t>(std::max(active, 1) - 1)];
}

void PackagePower::advance(sim::Picos t) {
  if (t <= last_) return;
  const sim::Picos d = t - last_;
  for (int s = 0; s < p_.sockets; ++s) {
    const double mhz = freq_of_socket(s);
    CState pkg = CState::C7;
    for (int c = 0; c < p_.cores_per_socket; ++c) {
      const int core = s * p_.cores_per_socket + c;
      const CState cs = core_state(core);
      pkg = std::min(pkg, cs);
      core_res_[static_cast<size_t>(core)][static_cast<size_t>(cs)] += d;
      for (int th : core_threads_[static_cast<size_t>(core)]) {
        const CState ts = thread_[static_cast<size_t>(th)];
        thread_res_[static_cast<size_t>(th)][static_cast<size_t>(ts)] += d;
        if (ts == CState::C0) mhz_ps_[static_cast<size_t>(th)] += mhz * static_cast<double>(d);
      }
    }
    pkg_res_[static_cast<size_t>(s)][static_cast<size_t>(pkg)] += d;
  }
  last_ = t;
}

void PackagePower::set(int cpu, CState s, sim::Picos at) {
  if (thread_[static_cast<size_t>(cpu)] == s) return;
  advance(at);
  thread_[static_cast<size_t>(cpu)] = s;
}

void PackagePower::finish(sim::Picos end) { advance(end); }

sim::Picos PackagePower::thread_residency(int cpu, CState s) const {
  return thread_res_[static_cast<size_t>(cpu)][static_cast<size_t>(s)];
}
sim::Picos PackagePower::core_residency(int cpu, CState s) const {
  return core_res_[static_cast<size_t>(p_.topology.core_of(cpu))][static_cast<size_t>(s)];
}
sim::Picos PackagePower::package_residency(int socket, CState s) const {
  return pkg_res_[static_cast<size_t>(socket)][static_cast<size_t>(s)];
}

double PackagePower::mean_c0_mhz(int cpu) const {
  const sim::Picos c0 = thread_residency(cpu, CState::C0);
  return c0 ? mhz_ps_[static_cast<size_t>(cpu)] / static_cast<double>(c0) : 0.0;
}

std::string PackagePower::turbostat_csv(const std::vector<int>& cpus) const {
  std::string out = "package,core,cpu,Bzy_MHz,C0%,C1%,C1E%,C3%,C6%,C7%,core_C3%,core_C6%,core_C7%,pkg_C6%\n";
  const double span = static_cast<double>(std::max<sim::Picos>(last_, 1));
  char line[256];
  for (int cpu : cpus) {
    const int socket = p_.topology.socket_of(cpu);
    auto pct = [&](sim::Picos v) { return 100.0 * static_cast<double>(v) / span; };
    std::snprintf(line, sizeof line, "%d,%d,%d,%.0f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", socket,
                  p_.topology.core_of(cpu), cpu, mean_c0_mhz(cpu), pct(thread_residency(cpu, CState::C0)),
                  pct(thread_residency(cpu, CState::C1)), pct(thread_residency(cpu, CState::C1E)),
                  pct(thread_residency(cpu, CState::C3)), pct(thread_residency(cpu, CState::C6)),
                  pct(thread_residency(cpu, CState::C7)), pct(core_residency(cpu, CState::C3)),
                  pct(core_residency(cpu, CState::C6)), pct(core_residency(cpu, CState::C7)),
                  pct(package_residency(socket, CState::C6)));
    out += line;
  }
  return out;
}

}  // namespace hw
