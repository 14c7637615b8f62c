#include "hw/tlb.h"

namespace hw {

uint64_t Tlb::access(uint16_t vpid, uint64_t eptp, uint64_t asid, uint64_t gen_now, bool* miss) {
  ++clock_;
  Entry* victim = nullptr;  // a free slot, else the least recently used context
  for (Entry& x : e_) {
    if (x.gen != kEmpty && x.vpid == vpid && x.eptp == eptp && x.asid == asid) {
      x.lru = clock_;
      ++hits_;
      if (miss) *miss = false;
      return x.gen;
    }
    if (!victim || (victim->gen != kEmpty && (x.gen == kEmpty || x.lru < victim->lru))) victim = &x;
  }
  *victim = {vpid, eptp, asid, gen_now, clock_};
  ++misses_;
  if (miss) *miss = true;
  return gen_now;
}

void Tlb::flush_context(uint16_t vpid, uint64_t eptp, uint64_t asid) {
  ++flushes_;
  for (Entry& x : e_)
    if (x.vpid == vpid && x.eptp == eptp && x.asid == asid) x.gen = kEmpty;
}

void Tlb::invvpid_single(uint16_t vpid) {
  ++flushes_;
  for (Entry& x : e_)
    if (x.vpid == vpid) x.gen = kEmpty;
}

void Tlb::invept_single(uint64_t eptp) {
  ++flushes_;
  for (Entry& x : e_)
    if (x.eptp == eptp) x.gen = kEmpty;
}

void Tlb::flush_all() {
  ++flushes_;
  for (Entry& x : e_) x.gen = kEmpty;
}

}  // namespace hw
