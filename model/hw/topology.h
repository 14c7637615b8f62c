// The machine's shape: sockets, cores and hardware threads, and how far apart two CPUs are.
//
// Built as a Boost.Graph tree (machine -> sockets -> cores -> threads) in topology.cc; the
// tree is walked once to precompute everything the simulation asks for, so every query here
// is O(1) and the header stays free of Boost.
//
// Logical CPU numbering follows Linux's usual enumeration on Intel servers:
//     cpu = thread * (sockets * cores_per_socket) + socket * cores_per_socket + core
// so cpus 0 .. N/2-1 are the first thread of every core and the SMT siblings come after
// (on a 2x20x2 machine cpu 0 and cpu 40 share a core).
//
// x86 APIC ids pack the same coordinates into bit fields, as CPUID leaf 0xB reports them:
//     apic_id = (socket << socket_shift) | (core << core_shift) | thread
//     core_shift = ceil(log2(threads_per_core)), socket_shift = core_shift + ceil(log2(cores))
// so the ids are sparse when a count is not a power of two: 20 cores need 5 core bits, and
// socket 1 starts at APIC id 64, not 40.
#pragma once

#include <cstdint>
#include <vector>

namespace hw {

// Level of the lowest common ancestor of two CPUs in the tree, nearest first.
enum class Distance : uint8_t { SameThread, SameCore, SameSocket, CrossSocket };

const char* to_string(Distance d);

class Topology {
 public:
  // Keeps the cpus x cpus distance matrix at 1 MiB at most.
  static constexpr int kMaxCpus = 1024;

  Topology() = default;
  // Throws std::invalid_argument for a non-positive count or more than kMaxCpus CPUs.
  Topology(int sockets, int cores_per_socket, int threads_per_core);

  int cpus() const { return static_cast<int>(apic_ids_.size()); }
  int sockets() const { return sockets_; }
  int cores_per_socket() const { return cores_per_socket_; }
  int threads_per_core() const { return threads_per_core_; }

  // Each throws std::out_of_range for a cpu outside [0, cpus()).
  int socket_of(int cpu) const;
  int core_of(int cpu) const;  // global core index: socket * cores_per_socket + core
  int thread_of(int cpu) const;
  uint32_t apic_id(int cpu) const;
  int cpu_of_apic_id(uint32_t apic_id) const;  // -1 if no CPU has that id
  Distance distance(int a, int b) const;
  std::vector<int> siblings(int cpu) const;  // SMT siblings including cpu, by thread number

  int core_shift() const { return core_shift_; }
  int socket_shift() const { return socket_shift_; }

 private:
  void check(int cpu) const;

  int sockets_ = 0, cores_per_socket_ = 0, threads_per_core_ = 0;
  int core_shift_ = 0, socket_shift_ = 0;
  std::vector<uint32_t> apic_ids_;   // by cpu
  std::vector<int> cpu_by_apic_id_;  // by APIC id up to the largest; -1 in the holes
  std::vector<uint8_t> distance_;    // cpus x cpus, row-major, a Distance each
};

}  // namespace hw
