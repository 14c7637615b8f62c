// Package power (issue 6): per-thread and per-core C-state residency, the package C-state,
// and turbo frequency from the number of active cores in a package.
//
// Each hardware thread is in C0 while it executes anything (guest code, a PAUSE loop, host
// code, halt polling) and in the C-state it asked for while idle: the host's idle loop
// (cpuidle's choice by the next timer), a guest HLT without HLT exiting (C1) or a guest
// MWAIT without MWAIT exiting (its hint). A core is in the shallowest state of its threads,
// a package in the shallowest state of its cores. A core counts as active for turbo unless
// it is in C3 or deeper; the package then runs at turbo_mhz[active - 1], so a busy core runs
// faster when its siblings sleep deeply. The frequency is accounted; with host.power_model
// = feedback a guest compute op also runs at it (Core::compute_scale); costs stay in cycles
// of the nominal clock.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "hw/platform.h"
#include "sim/time.h"

namespace hw {

class PackagePower {
 public:
  explicit PackagePower(const Platform& p);
  // Thread `cpu` enters state `s` at time `at` (calls may come out of time order by less
  // than a lookahead; time never runs backwards in the accounting).
  void set(int cpu, CState s, sim::Picos at);
  CState state(int cpu) const { return thread_[static_cast<size_t>(cpu)]; }
  void finish(sim::Picos end);

  // Residency of thread / core (by a cpu of it) in state s, in ps.
  sim::Picos thread_residency(int cpu, CState s) const;
  sim::Picos core_residency(int cpu, CState s) const;
  sim::Picos package_residency(int socket, CState s) const;
  // Mean frequency of thread `cpu` over its C0 time (MHz).
  double mean_c0_mhz(int cpu) const;
  // Frequency thread `cpu` runs at now (its package's turbo bin), MHz.
  double current_mhz(int cpu) const { return freq_of_socket(p_.topology.socket_of(cpu)); }
  sim::Picos elapsed() const { return last_; }
  const Platform& platform() const { return p_; }
  // turbostat-like table (CSV) of every core with a thread in `cpus`.
  std::string turbostat_csv(const std::vector<int>& cpus) const;

 private:
  void advance(sim::Picos t);
  CState core_state(int core) const;
  double freq_of_socket(int socket) const;

  const Platform& p_;
  std::vector<CState> thread_;
  std::vector<std::vector<sim::Picos>> thread_res_, core_res_, pkg_res_;
  std::vector<double> mhz_ps_;       // per thread: integral of frequency over C0 time
  std::vector<std::vector<int>> core_threads_;
  sim::Picos last_ = 0;
};

}  // namespace hw
