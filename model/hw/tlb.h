// A core's TLB for guest translations (SDM vol. 3C 28.4 "Caching translation information").
// With EPT and VPID, the combined (guest-virtual -> host-physical) mappings a core caches
// are tagged by VPID, EP4TA (the EPTP) and the guest's PCID; the model keeps one context per
// tag. Page granularity is not modelled: a context holds the oldest *generation* among its
// translations, where a generation is the guest mm's tlb_gen when the translation was
// filled (Linux tracks TLB state per mm the same way: cpu_tlbstate.ctxs[].tlb_gen). A
// context that has not been flushed since the guest changed its page tables therefore
// reports the old generation on its next use, which is what invariant.stale_tlb_uses checks.
//
// Invalidations: INVLPG / a CR3 load by the guest flush its current context; INVVPID
// single-context flushes every context of a VPID; INVEPT single-context every context of
// an EPTP. A full table evicts the least recently used context (eviction is always safe).
#pragma once

#include <array>
#include <cstdint>

namespace hw {

class Tlb {
 public:
  static constexpr int kContexts = 16;
  static constexpr uint64_t kEmpty = ~0ull;

  // A guest memory access in context (vpid, eptp, asid) while the mm is at generation
  // `gen_now`: returns the generation of the translation used (a miss fills at gen_now).
  uint64_t access(uint16_t vpid, uint64_t eptp, uint64_t asid, uint64_t gen_now, bool* miss = nullptr);
  void flush_context(uint16_t vpid, uint64_t eptp, uint64_t asid);  // INVLPG / MOV CR3
  void invvpid_single(uint16_t vpid);                                // INVVPID type 1
  void invept_single(uint64_t eptp);                                 // INVEPT type 1
  void flush_all();                                                  // INVEPT all-context

  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t flushes() const { return flushes_; }

 private:
  struct Entry {
    uint16_t vpid = 0;
    uint64_t eptp = 0, asid = 0;
    uint64_t gen = kEmpty;  // oldest translation's generation; kEmpty: the slot is free
    uint64_t lru = 0;
  };
  std::array<Entry, kContexts> e_{};
  uint64_t clock_ = 0;
  uint64_t hits_ = 0, misses_ = 0, flushes_ = 0;
};

}  // namespace hw
