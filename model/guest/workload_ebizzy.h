// Memory-churn workloads whose every free is a TLB shootdown (issue 6, seed 000):
//
// ebizzy (-M model): each thread, on its own vCPU, loops "allocate a chunk, copy a source
// chunk into it (first touch of each page faults), search it, free it". A chunk above
// glibc's mmap threshold is an mmap, so the free is a munmap and the kernel flushes the
// range on every CPU of the mm (flush_tlb_mm_range, a full flush above 33 pages).
// Reports ebizzy.records_per_s (records = loop iterations finished in the run).
//
// dedup (PARSEC-like pipeline stage): smaller buffers, more compute per KiB (hashing and
// compression), freed after each chunk: more shootdowns per second of useful work, the
// workload behind seed 000's "CDF of dedup benchmark TLB shootdown latency".
// Reports dedup.chunks_per_s.
//
// Both report the shootdown metrics of guest/tlb_flush.h (tlb.*) and
// invariant.stale_tlb_uses.
#pragma once

#include <cstdint>
#include <memory>

#include "guest/workload.h"

namespace guest {

struct EbizzyParams {
  bool dedup = false;           // the dedup profile (metric names differ)
  int threads = 0;              // 0: one per vCPU
  double chunk_kib = 512;       // ebizzy -s (default record_size * 64 Ki = 512 KiB)
  double cycles_per_kib = 300;  // memcpy + linear search (ebizzy) or hash + compress (dedup)
  int touches = 8;              // TLB-checked accesses per iteration
  double duration_ms = 50;      // measured simulated time (ebizzy -S)
  uint64_t seed = 1;
};

std::unique_ptr<Workload> make_ebizzy_workload(const EbizzyParams& p);

}  // namespace guest
