#include "hw/topology.h"

#include <bit>
#include <boost/graph/adjacency_list.hpp>
#include <optional>
#include <stdexcept>
#include <string>

namespace hw {
namespace {

// Tree levels, root first; a Distance is the level of the lowest common ancestor.
enum class Level : uint8_t { Machine, Socket, Core, Thread };

struct Vertex {
  Level level = Level::Machine;
};

// Bidirectional so a vertex finds its parent through its single in-edge.
using Tree = boost::adjacency_list<boost::vecS, boost::vecS, boost::bidirectionalS, Vertex>;
using Node = Tree::vertex_descriptor;

// add_vertex(g) then set the bundle: the add_vertex(property, g) overload trips a GCC 12
// -Wmaybe-uninitialized false positive inside Boost's named_graph.
Node add_child(Tree& tree, std::optional<Node> parent, Level level) {
  const Node v = boost::add_vertex(tree);
  tree[v].level = level;
  if (parent) boost::add_edge(*parent, v, tree);
  return v;
}

Node parent_of(const Tree& tree, Node v) {
  auto [first, last] = boost::in_edges(v, tree);
  return first == last ? v : boost::source(*first, tree);
}

// Both leaves sit at the same depth, so climbing in step meets at the common ancestor.
Distance lowest_common_level(const Tree& tree, Node a, Node b) {
  while (a != b) {
    a = parent_of(tree, a);
    b = parent_of(tree, b);
  }
  switch (tree[a].level) {
    case Level::Thread:
      return Distance::SameThread;
    case Level::Core:
      return Distance::SameCore;
    case Level::Socket:
      return Distance::SameSocket;
    case Level::Machine:
      break;
  }
  return Distance::CrossSocket;
}

// Bits of an APIC id field holding values 0..count-1 (CPUID leaf 0xB shift width).
int field_bits(int count) { return std::bit_width(static_cast<unsigned>(count - 1)); }

}  // namespace

const char* to_string(Distance d) {
  switch (d) {
    case Distance::SameThread:
      return "same_thread";
    case Distance::SameCore:
      return "same_core";
    case Distance::SameSocket:
      return "same_socket";
    case Distance::CrossSocket:
      return "cross_socket";
  }
  return "?";
}

Topology::Topology(int sockets, int cores_per_socket, int threads_per_core)
    : sockets_(sockets), cores_per_socket_(cores_per_socket), threads_per_core_(threads_per_core) {
  if (sockets < 1 || cores_per_socket < 1 || threads_per_core < 1)
    throw std::invalid_argument("topology counts must be positive");
  const long total = long{sockets} * cores_per_socket * threads_per_core;
  if (total > kMaxCpus)
    throw std::invalid_argument("topology has " + std::to_string(total) + " CPUs, more than " +
                                std::to_string(kMaxCpus));
  const int n = static_cast<int>(total);
  const int cores = sockets * cores_per_socket;
  core_shift_ = field_bits(threads_per_core);
  socket_shift_ = core_shift_ + field_bits(cores_per_socket);

  Tree tree;
  std::vector<Node> leaf(n);
  const Node root = add_child(tree, std::nullopt, Level::Machine);
  for (int s = 0; s < sockets; ++s) {
    const Node sv = add_child(tree, root, Level::Socket);
    for (int c = 0; c < cores_per_socket; ++c) {
      const Node cv = add_child(tree, sv, Level::Core);
      for (int t = 0; t < threads_per_core; ++t) {
        const Node tv = add_child(tree, cv, Level::Thread);
        leaf[t * cores + s * cores_per_socket + c] = tv;
      }
    }
  }

  apic_ids_.resize(n);
  for (int cpu = 0; cpu < n; ++cpu) {
    const auto s = static_cast<uint32_t>(socket_of(cpu));
    const auto c = static_cast<uint32_t>(core_of(cpu) % cores_per_socket);
    const auto t = static_cast<uint32_t>(thread_of(cpu));
    apic_ids_[cpu] = (s << socket_shift_) | (c << core_shift_) | t;
  }
  cpu_by_apic_id_.assign(apic_ids_.back() + 1, -1);  // the last cpu has the largest id
  for (int cpu = 0; cpu < n; ++cpu) cpu_by_apic_id_[apic_ids_[cpu]] = cpu;

  distance_.resize(static_cast<size_t>(n) * n);
  for (int a = 0; a < n; ++a)
    for (int b = a; b < n; ++b) {
      const auto d = static_cast<uint8_t>(lowest_common_level(tree, leaf[a], leaf[b]));
      distance_[static_cast<size_t>(a) * n + b] = d;
      distance_[static_cast<size_t>(b) * n + a] = d;
    }
}

void Topology::check(int cpu) const {
  if (cpu < 0 || cpu >= cpus())
    throw std::out_of_range("cpu " + std::to_string(cpu) + " outside 0.." +
                            std::to_string(cpus() - 1));
}

int Topology::socket_of(int cpu) const {
  check(cpu);
  return cpu % (sockets_ * cores_per_socket_) / cores_per_socket_;
}

int Topology::core_of(int cpu) const {
  check(cpu);
  return cpu % (sockets_ * cores_per_socket_);
}

int Topology::thread_of(int cpu) const {
  check(cpu);
  return cpu / (sockets_ * cores_per_socket_);
}

uint32_t Topology::apic_id(int cpu) const {
  check(cpu);
  return apic_ids_[cpu];
}

int Topology::cpu_of_apic_id(uint32_t apic_id) const {
  return apic_id < cpu_by_apic_id_.size() ? cpu_by_apic_id_[apic_id] : -1;
}

Distance Topology::distance(int a, int b) const {
  check(a);
  check(b);
  return static_cast<Distance>(distance_[static_cast<size_t>(a) * cpus() + b]);
}

std::vector<int> Topology::siblings(int cpu) const {
  const int core = core_of(cpu);
  std::vector<int> out;
  for (int t = 0; t < threads_per_core_; ++t)
    out.push_back(t * sockets_ * cores_per_socket_ + core);
  return out;
}

}  // namespace hw
