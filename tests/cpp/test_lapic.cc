// Tests for the local APIC register logic: ICR, destination matching, IRR/ISR/PPR,
// register file, timer and TSC arithmetic (model/hw/{apic_regs,icr,lapic_state,lapic_timer}.h).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "hw/apic_regs.h"
#include "hw/icr.h"
#include "hw/lapic_state.h"
#include "hw/lapic_timer.h"

namespace hw {
namespace {

constexpr DeliveryMode kModes[] = {DeliveryMode::Fixed, DeliveryMode::LowestPrio,
                                   DeliveryMode::SMI,   DeliveryMode::NMI,
                                   DeliveryMode::INIT,  DeliveryMode::SIPI,
                                   DeliveryMode::ExtINT};
constexpr Shorthand kShorthands[] = {Shorthand::None, Shorthand::Self,
                                     Shorthand::AllIncludingSelf, Shorthand::AllExcludingSelf};

// Calls f(icr) for every delivery mode x shorthand x dest mode x level x trigger.
template <typename F>
void for_each_icr(uint32_t dest, uint8_t vector, F f) {
  for (DeliveryMode mode : kModes)
    for (Shorthand sh : kShorthands)
      for (int bits = 0; bits < 8; ++bits) {
        Icr icr;
        icr.vector = vector;
        icr.mode = mode;
        icr.shorthand = sh;
        icr.logical = bits & 1;
        icr.level_assert = bits & 2;
        icr.level_trigger = bits & 4;
        icr.dest = dest;
        f(icr);
      }
}

// ---------------------------------------------------------------- constants

TEST(LapicConstants, X2apicMsrMapping) {
  EXPECT_EQ(x2apic_msr(APIC_TPR), 0x808u);
  EXPECT_EQ(x2apic_msr(APIC_EOI), 0x80Bu);
  EXPECT_EQ(x2apic_msr(APIC_LDR), 0x80Du);
  EXPECT_EQ(x2apic_msr(APIC_SPIV), 0x80Fu);
  EXPECT_EQ(x2apic_msr(APIC_ICR_LOW), 0x830u);
  EXPECT_EQ(x2apic_msr(APIC_LVTT), 0x832u);
  EXPECT_EQ(x2apic_msr(APIC_TMICT), 0x838u);
  EXPECT_EQ(x2apic_msr(APIC_TMCCT), 0x839u);
  EXPECT_EQ(x2apic_msr(APIC_TDCR), 0x83Eu);
  EXPECT_EQ(x2apic_msr(APIC_SELF_IPI), 0x83Fu);
  for (uint32_t off = 0; off <= 0x3F0; off += 0x10) EXPECT_EQ(x2apic_msr_to_offset(x2apic_msr(off)), off);
  EXPECT_TRUE(is_x2apic_msr(0x800));
  EXPECT_TRUE(is_x2apic_msr(0x8FF));
  EXPECT_FALSE(is_x2apic_msr(0x7FF));
  EXPECT_FALSE(is_x2apic_msr(MSR_IA32_TSC_DEADLINE));
}

// ---------------------------------------------------------------- ICR encode/decode

TEST(IcrCodec, X2apicRoundTripEveryField) {
  int n = 0;
  for (uint32_t dest : {0u, 1u, 0x12345u, 0x00010028u, 0xFFFFFFFFu})
    for (uint8_t vec : {uint8_t(0), uint8_t(0x20), uint8_t(0xfd), uint8_t(0xff)})
      for_each_icr(dest, vec, [&](const Icr& icr) {
        const uint64_t raw = icr.encode_x2apic();
        EXPECT_EQ(uint32_t(raw >> 32), dest);
        EXPECT_EQ(raw & APIC_ICR_BUSY, 0u);
        EXPECT_EQ(Icr::decode_x2apic(raw), icr);
        ++n;
      });
  EXPECT_EQ(n, 5 * 4 * 7 * 4 * 8);
}

TEST(IcrCodec, XapicRoundTripEveryField) {
  for (uint32_t dest : {0u, 3u, 0x80u, 0xFFu})
    for (uint8_t vec : {uint8_t(0x30), uint8_t(0xfb)})
      for_each_icr(dest, vec, [&](const Icr& icr) {
        const XapicIcr raw = icr.encode_xapic();
        EXPECT_EQ(raw.high, dest << 24);
        EXPECT_EQ(raw.low & ~APIC_ICR_LOW_WRITABLE, 0u);
        EXPECT_EQ(Icr::decode_xapic(raw.low, raw.high), icr);
      });
}

TEST(IcrCodec, FieldPositions) {
  // All-but-self, level assert, SIPI, vector 0x9A: SDM bit positions.
  const Icr sipi = Icr::decode_xapic(0x000C469Au, 0x05000000u);
  EXPECT_EQ(sipi.vector, 0x9A);
  EXPECT_EQ(sipi.mode, DeliveryMode::SIPI);
  EXPECT_FALSE(sipi.logical);
  EXPECT_TRUE(sipi.level_assert);
  EXPECT_FALSE(sipi.level_trigger);
  EXPECT_EQ(sipi.shorthand, Shorthand::AllExcludingSelf);
  EXPECT_EQ(sipi.dest, 5u);

  // INIT level de-assert, level-triggered, logical.
  const Icr init = Icr::decode_x2apic(0x0000000F00008D00ull);
  EXPECT_EQ(init.mode, DeliveryMode::INIT);
  EXPECT_TRUE(init.logical);
  EXPECT_FALSE(init.level_assert);
  EXPECT_TRUE(init.level_trigger);
  EXPECT_EQ(init.dest, 0xFu);

  Icr resched;
  resched.vector = RESCHEDULE_VECTOR;
  resched.level_assert = true;
  resched.dest = 7;
  EXPECT_EQ(resched.encode_x2apic(), 0x00000007000040FDull);
}

TEST(IcrCodec, DecodeIgnoresDeliveryStatusAndXapicDestLowBits) {
  const Icr icr = Icr::decode_xapic(0x000010ECu | APIC_ICR_BUSY, 0x02FFFFFFu);
  EXPECT_EQ(icr.dest, 2u);
  EXPECT_EQ(icr.encode_xapic(), (XapicIcr{0x000000ECu, 0x02000000u}));
}

// ---------------------------------------------------------------- destination matching

Icr fixed_to(uint32_t dest, bool logical, Shorthand sh = Shorthand::None) {
  Icr icr;
  icr.vector = 0x40;
  icr.dest = dest;
  icr.logical = logical;
  icr.shorthand = sh;
  return icr;
}

TEST(IcrDest, PhysicalX2apic) {
  const ApicIdentity src{0, x2apic_ldr(0), 0}, t{300, x2apic_ldr(300), 0};
  EXPECT_TRUE(apic_match_dest(t, src, fixed_to(300, false), true));
  EXPECT_FALSE(apic_match_dest(t, src, fixed_to(301, false), true));
  EXPECT_FALSE(apic_match_dest(t, src, fixed_to(300 & 0xFF, false), true));
  EXPECT_TRUE(apic_match_dest(t, src, fixed_to(0xFFFFFFFFu, false), true));
  EXPECT_FALSE(apic_match_dest(t, src, fixed_to(0xFF, false), true));  // not broadcast in x2APIC
}

TEST(IcrDest, PhysicalXapic) {
  const ApicIdentity src{0, 0, APIC_DFR_FLAT}, t{7, 0, APIC_DFR_FLAT};
  EXPECT_TRUE(apic_match_dest(t, src, fixed_to(7, false), false));
  EXPECT_FALSE(apic_match_dest(t, src, fixed_to(6, false), false));
  EXPECT_TRUE(apic_match_dest(t, src, fixed_to(0xFF, false), false));
  EXPECT_TRUE(apic_match_dest(src, src, fixed_to(0xFF, false), false));
}

TEST(IcrDest, XapicFlatLogical) {
  const ApicIdentity src{0, 0x01000000, APIC_DFR_FLAT};
  ApicIdentity t[8];
  for (uint32_t i = 0; i < 8; ++i) t[i] = {i, (1u << i) << 24, APIC_DFR_FLAT};
  for (uint32_t i = 0; i < 8; ++i) {
    EXPECT_EQ(apic_match_dest(t[i], src, fixed_to(0x28, true), false), i == 3 || i == 5) << i;
    EXPECT_TRUE(apic_match_dest(t[i], src, fixed_to(0xFF, true), false)) << i;
    EXPECT_FALSE(apic_match_dest(t[i], src, fixed_to(0x00, true), false)) << i;
  }
}

TEST(IcrDest, XapicClusterLogical) {
  const ApicIdentity src{0, 0x11000000, APIC_DFR_CLUSTER};
  // 3 clusters x 4 members: logical ID = cluster << 4 | one-hot member.
  for (uint32_t c = 0; c < 3; ++c)
    for (uint32_t m = 0; m < 4; ++m) {
      const ApicIdentity t{c * 4 + m, ((c << 4) | (1u << m)) << 24, APIC_DFR_CLUSTER};
      // Cluster 1, members 0 and 2.
      EXPECT_EQ(apic_match_dest(t, src, fixed_to(0x15, true), false), c == 1 && (m == 0 || m == 2));
      // Cluster 15 addresses every cluster; 0xFF is the broadcast.
      EXPECT_EQ(apic_match_dest(t, src, fixed_to(0xF2, true), false), m == 1);
      EXPECT_TRUE(apic_match_dest(t, src, fixed_to(0xFF, true), false));
      EXPECT_FALSE(apic_match_dest(t, src, fixed_to(c << 4, true), false));  // no members
    }
}

TEST(IcrDest, XapicReservedDfrModelMatchesNothing) {
  const ApicIdentity t{1, 0x01000000, 0x5FFFFFFF};
  EXPECT_FALSE(apic_match_dest(t, t, fixed_to(0x01, true), false));
}

TEST(IcrDest, X2apicLdrDerivation) {
  EXPECT_EQ(x2apic_ldr(0), 0x00000001u);
  EXPECT_EQ(x2apic_ldr(15), 0x00008000u);
  EXPECT_EQ(x2apic_ldr(16), 0x00010001u);
  EXPECT_EQ(x2apic_ldr(40), 0x00020100u);
}

TEST(IcrDest, X2apicClusterOf16) {
  std::vector<ApicIdentity> apics;
  for (uint32_t id = 0; id < 32; ++id) apics.push_back({id, x2apic_ldr(id), 0});
  const ApicIdentity& src = apics[0];
  const uint32_t ids_3_and_5 = (1u << 3) | (1u << 5);      // cluster 0
  const uint32_t ids_16_and_31 = (1u << 16) | 1u | (1u << 15);  // cluster 1, members 0, 15
  for (const ApicIdentity& t : apics) {
    const uint32_t id = t.apic_id;
    EXPECT_EQ(apic_match_dest(t, src, fixed_to(ids_3_and_5, true), true), id == 3 || id == 5) << id;
    EXPECT_EQ(apic_match_dest(t, src, fixed_to(ids_16_and_31, true), true), id == 16 || id == 31)
        << id;
    EXPECT_TRUE(apic_match_dest(t, src, fixed_to(0xFFFFFFFFu, true), true)) << id;
    EXPECT_FALSE(apic_match_dest(t, src, fixed_to(0x00010000u, true), true)) << id;
  }
}

TEST(IcrDest, Shorthands) {
  const ApicIdentity self{2, x2apic_ldr(2), 0}, other{9, x2apic_ldr(9), 0};
  for (bool x2 : {false, true})
    for (bool logical : {false, true}) {
      // The destination field is ignored; use one that matches nobody.
      const uint32_t nobody = logical ? 0u : 0x77u;
      EXPECT_TRUE(apic_match_dest(self, self, fixed_to(nobody, logical, Shorthand::Self), x2));
      EXPECT_FALSE(apic_match_dest(other, self, fixed_to(nobody, logical, Shorthand::Self), x2));
      EXPECT_TRUE(
          apic_match_dest(self, self, fixed_to(nobody, logical, Shorthand::AllIncludingSelf), x2));
      EXPECT_TRUE(
          apic_match_dest(other, self, fixed_to(nobody, logical, Shorthand::AllIncludingSelf), x2));
      EXPECT_FALSE(
          apic_match_dest(self, self, fixed_to(nobody, logical, Shorthand::AllExcludingSelf), x2));
      EXPECT_TRUE(
          apic_match_dest(other, self, fixed_to(nobody, logical, Shorthand::AllExcludingSelf), x2));
      EXPECT_FALSE(apic_match_dest(other, self, fixed_to(nobody, logical), x2));
    }
}

TEST(IcrClusterDests, GroupsByClusterInOrder) {
  const uint32_t ids[] = {40, 17, 1, 0};
  EXPECT_EQ(x2apic_cluster_dests(ids),
            (std::vector<uint32_t>{0x00000003u, 0x00010002u, 0x00020100u}));
  const uint32_t dup[] = {5, 5, 5};
  EXPECT_EQ(x2apic_cluster_dests(dup), (std::vector<uint32_t>{0x00000020u}));
  EXPECT_TRUE(x2apic_cluster_dests({}).empty());
}

TEST(IcrClusterDests, WritesReachExactlyTheMask) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::vector<uint32_t> ids;
    bool in_mask[128] = {};
    for (uint32_t id = 0; id < 128; ++id)
      if (rng() % 5 == 0) ids.push_back(id), in_mask[id] = true;
    std::shuffle(ids.begin(), ids.end(), rng);
    const std::vector<uint32_t> dests = x2apic_cluster_dests(ids);
    for (size_t i = 1; i < dests.size(); ++i) EXPECT_LT(dests[i - 1] >> 16, dests[i] >> 16);
    for (uint32_t id = 0; id < 128; ++id) {
      const ApicIdentity t{id, x2apic_ldr(id), 0};
      int hits = 0;
      for (uint32_t d : dests) hits += apic_match_dest(t, t, fixed_to(d, true), true);
      EXPECT_EQ(hits, in_mask[id] ? 1 : 0) << "id " << id;
    }
  }
}

// ---------------------------------------------------------------- IRR / ISR / PPR

LapicRegisters enabled_lapic(uint32_t id = 0) {
  LapicRegisters r(id);
  r.write(APIC_SPIV, APIC_SPIV_APIC_ENABLED | SPURIOUS_APIC_VECTOR);
  return r;
}

TEST(LapicPriority, EmptyIsMinusOne) {
  LapicRegisters r = enabled_lapic();
  EXPECT_EQ(r.highest_irr(), -1);
  EXPECT_EQ(r.highest_isr(), -1);
  EXPECT_EQ(r.deliverable_vector(), -1);
  EXPECT_EQ(r.eoi(), -1);
  EXPECT_EQ(r.ppr(), 0);
}

TEST(LapicPriority, HighestVectorWins) {
  LapicRegisters r = enabled_lapic();
  for (int v : {0x30, 0x80, 0x41, 0xff, 0x20, 0x7f}) {
    r.accept_fixed(uint8_t(v), false);
  }
  EXPECT_EQ(r.highest_irr(), 0xff);
  EXPECT_EQ(r.deliverable_vector(), 0xff);
  std::vector<int> order;
  for (int v; (v = r.deliverable_vector()) >= 0;) {
    order.push_back(v);
    r.start_service(uint8_t(v));
    EXPECT_EQ(r.eoi(), v);
  }
  EXPECT_EQ(order, (std::vector<int>{0xff, 0x80, 0x7f, 0x41, 0x30, 0x20}));
}

TEST(LapicPriority, HighestScanEveryBit) {
  LapicRegisters r = enabled_lapic();
  for (int v = 16; v < 256; ++v) {
    r.accept_fixed(uint8_t(v), false);
    EXPECT_EQ(r.highest_irr(), v);
  }
}

TEST(LapicPriority, PprFromTprAndIsr) {
  LapicRegisters r = enabled_lapic();
  r.set_tpr(0x50);
  EXPECT_EQ(r.ppr(), 0x50);
  r.accept_fixed(0x55, false);
  EXPECT_EQ(r.deliverable_vector(), -1);  // class 5 is not above PPR class 5
  r.accept_fixed(0x60, false);
  EXPECT_EQ(r.deliverable_vector(), 0x60);
  r.start_service(0x60);
  EXPECT_EQ(r.ppr(), 0x60);  // ISRV class above TPR class: ISRV[7:4]:0
  r.set_tpr(0x6A);
  EXPECT_EQ(r.ppr(), 0x6A);  // TPR[7:4] >= ISRV[7:4]: PPR = TPR
  r.set_tpr(0x5F);
  EXPECT_EQ(r.ppr(), 0x60);
  EXPECT_EQ(r.read(APIC_PPR), 0x60u);
  EXPECT_EQ(r.eoi(), 0x60);
  EXPECT_EQ(r.ppr(), 0x5F);
  EXPECT_EQ(r.deliverable_vector(), -1);  // 0x55 still masked by TPR 0x5F
  r.set_tpr(0x4F);
  EXPECT_EQ(r.deliverable_vector(), 0x55);
}

TEST(LapicPriority, NestedServiceAndEoiOrder) {
  LapicRegisters r = enabled_lapic();
  r.accept_fixed(0x40, false);
  r.start_service(uint8_t(r.deliverable_vector()));
  r.accept_fixed(0x90, false);
  ASSERT_EQ(r.deliverable_vector(), 0x90);  // higher class preempts
  r.start_service(0x90);
  r.accept_fixed(0x50, false);
  r.accept_fixed(0x45, false);
  EXPECT_EQ(r.deliverable_vector(), -1);  // PPR 0x90
  EXPECT_EQ(r.eoi(), 0x90);               // EOI retires the highest in-service vector
  EXPECT_EQ(r.ppr(), 0x40);
  ASSERT_EQ(r.deliverable_vector(), 0x50);
  r.start_service(0x50);
  EXPECT_EQ(r.deliverable_vector(), -1);  // 0x45 is class 4 < 5
  EXPECT_EQ(r.eoi(), 0x50);
  EXPECT_EQ(r.deliverable_vector(), -1);  // 0x45 same class as in-service 0x40
  EXPECT_EQ(r.eoi(), 0x40);
  EXPECT_EQ(r.deliverable_vector(), 0x45);
  r.start_service(0x45);
  EXPECT_EQ(r.eoi(), 0x45);
  EXPECT_EQ(r.eoi(), -1);
}

TEST(LapicAccept, CoalescesVectorAlreadyInIrr) {
  LapicRegisters r = enabled_lapic();
  EXPECT_TRUE(r.accept_fixed(0x33, false));
  EXPECT_FALSE(r.accept_fixed(0x33, false));
  EXPECT_EQ(*r.read(APIC_IRR + 0x10), 1u << (0x33 - 32));
  r.start_service(0x33);
  // In service but not pending: a new one is pended (and would run after the EOI).
  EXPECT_TRUE(r.accept_fixed(0x33, false));
  EXPECT_TRUE(r.test_irr(0x33));
  EXPECT_TRUE(r.test_isr(0x33));
  EXPECT_EQ(r.deliverable_vector(), -1);
  EXPECT_EQ(r.eoi(), 0x33);
  EXPECT_EQ(r.deliverable_vector(), 0x33);
}

TEST(LapicAccept, IllegalVectorsSetEsrAndAreDropped) {
  LapicRegisters r = enabled_lapic();
  for (int v = 0; v < 16; ++v) EXPECT_FALSE(r.accept_fixed(uint8_t(v), false)) << v;
  EXPECT_EQ(r.highest_irr(), -1);
  EXPECT_EQ(r.esr_pending(), APIC_ESR_RECV_ILLEGAL_VECTOR);
  EXPECT_EQ(r.read(APIC_ESR), 0u);  // not visible until software writes ESR
  EXPECT_TRUE(r.write(APIC_ESR, 0));
  EXPECT_EQ(r.read(APIC_ESR), 0x40u);
  EXPECT_TRUE(r.write(APIC_ESR, 0));
  EXPECT_EQ(r.read(APIC_ESR), 0u);
  EXPECT_TRUE(r.accept_fixed(16, false));
  EXPECT_EQ(r.esr_pending(), 0u);
}

TEST(LapicAccept, LevelTriggeredSetsTmrAndEoiReportsIt) {
  LapicRegisters r = enabled_lapic();
  r.accept_fixed(0x61, true);
  r.accept_fixed(0x62, false);
  EXPECT_EQ(*r.read(APIC_TMR + 0x30), 1u << 1);
  bool level = false;
  r.start_service(0x62);
  EXPECT_EQ(r.eoi(&level), 0x62);
  EXPECT_FALSE(level);
  r.start_service(0x61);
  EXPECT_EQ(r.eoi(&level), 0x61);
  EXPECT_TRUE(level);
  EXPECT_EQ(r.eoi(&level), -1);
  EXPECT_FALSE(level);
  r.accept_fixed(0x61, false);  // re-accepted edge clears TMR
  EXPECT_FALSE(r.test_tmr(0x61));
}

// ---------------------------------------------------------------- register file

TEST(LapicRegs, ResetState) {
  const LapicRegisters r(3);
  EXPECT_EQ(r.read(APIC_ID), 3u << 24);
  EXPECT_EQ(r.read(APIC_VERSION), 0x00060014u);
  EXPECT_EQ(r.read(APIC_SPIV), 0xFFu);
  EXPECT_FALSE(r.sw_enabled());
  EXPECT_EQ(r.read(APIC_DFR), 0xFFFFFFFFu);
  EXPECT_EQ(r.read(APIC_LDR), 0u);
  EXPECT_EQ(r.read(APIC_TPR), 0u);
  for (uint32_t off : {APIC_LVT_CMCI, APIC_LVTT, APIC_LVT_THERMAL, APIC_LVT_PMC, APIC_LVT_LINT0,
                       APIC_LVT_LINT1, APIC_LVT_ERROR})
    EXPECT_EQ(r.read(off), APIC_LVT_MASKED) << std::hex << off;
  EXPECT_EQ(r.read(APIC_TMICT), 0u);
  EXPECT_EQ(tdcr_divide(*r.read(APIC_TDCR)), 2u);
}

TEST(LapicRegs, WriteMasksAndReadOnly) {
  LapicRegisters r = enabled_lapic();
  EXPECT_TRUE(r.write(APIC_ID, 0x0AFFFFFF));
  EXPECT_EQ(r.apic_id(), 0x0Au);
  EXPECT_TRUE(r.write(APIC_TPR, 0x1FF));
  EXPECT_EQ(r.read(APIC_TPR), 0xFFu);
  EXPECT_TRUE(r.write(APIC_LDR, 0x12345678));
  EXPECT_EQ(r.read(APIC_LDR), 0x12000000u);
  EXPECT_TRUE(r.write(APIC_DFR, 0));
  EXPECT_EQ(r.read(APIC_DFR), APIC_DFR_CLUSTER);
  EXPECT_EQ(r.identity().dfr, APIC_DFR_CLUSTER);
  EXPECT_TRUE(r.write(APIC_TDCR, 0xFF));
  EXPECT_EQ(r.read(APIC_TDCR), 0xBu);
  EXPECT_TRUE(r.write(APIC_TMICT, 0xDEADBEEF));
  EXPECT_EQ(r.tmict(), 0xDEADBEEFu);
  EXPECT_TRUE(r.write(APIC_ICR_HIGH, 0x05FFFFFF));
  EXPECT_EQ(r.read(APIC_ICR_HIGH), 0x05000000u);
  EXPECT_TRUE(r.write(APIC_ICR_LOW, 0xFFFFFFFF));
  EXPECT_EQ(r.read(APIC_ICR_LOW), APIC_ICR_LOW_WRITABLE);  // status and reserved bits clear
  EXPECT_TRUE(r.write(APIC_LVT_LINT0, 0xFFFFFFFF));
  EXPECT_EQ(r.read(APIC_LVT_LINT0), 0x1A7FFu);  // no delivery status, no remote IRR
  EXPECT_TRUE(r.write(APIC_LVT_ERROR, 0xFFFFFFFF));
  EXPECT_EQ(r.read(APIC_LVT_ERROR), 0x100FFu);
  EXPECT_TRUE(r.write(APIC_LVTT, 0xFFFFFFFF));
  EXPECT_EQ(r.read(APIC_LVTT), 0x700FFu);

  r.accept_fixed(0x40, false);
  for (uint32_t off : {APIC_VERSION, APIC_PPR, APIC_ISR, APIC_TMR + 0x70, APIC_IRR + 0x20,
                       APIC_EOI, APIC_TMCCT, APIC_SELF_IPI, APIC_APR, APIC_RRD, 0x3C0u, 0x1234u, APIC_LVTT + 4})
    EXPECT_FALSE(r.write(off, 0)) << std::hex << off;
  EXPECT_TRUE(r.test_irr(0x40));  // IRR untouched by the rejected write
  for (uint32_t off : {APIC_EOI, APIC_TMCCT, APIC_SELF_IPI, APIC_APR, 0x3C0u, APIC_ID + 4,
                       APIC_LVTT + 4, APIC_IRR + 8})
    EXPECT_FALSE(r.read(off).has_value()) << std::hex << off;
}

TEST(LapicRegs, VectorRegistersUseSdmLayout) {
  LapicRegisters r = enabled_lapic();
  for (int v : {0x21, 0x5f, 0xe0}) {
    r.accept_fixed(uint8_t(v), true);
    const uint32_t reg = uint32_t(v / 32) * 0x10, bit = 1u << (v % 32);
    EXPECT_EQ(*r.read(APIC_IRR + reg), bit);
    EXPECT_EQ(*r.read(APIC_TMR + reg), bit);
    r.start_service(uint8_t(v));
    EXPECT_EQ(*r.read(APIC_IRR + reg), 0u);
    EXPECT_EQ(*r.read(APIC_ISR + reg), bit);
  }
}

TEST(LapicRegs, SoftwareDisableMasksLvts) {
  LapicRegisters r = enabled_lapic();
  const uint32_t periodic = (1u << APIC_LVT_TIMER_MODE_SHIFT) | LOCAL_TIMER_VECTOR;
  EXPECT_TRUE(r.write(APIC_LVTT, periodic));
  EXPECT_EQ(r.lvtt(), periodic);
  EXPECT_TRUE(r.write(APIC_SPIV, SPURIOUS_APIC_VECTOR));  // software disable
  EXPECT_EQ(r.lvtt(), periodic | APIC_LVT_MASKED);
  EXPECT_EQ(r.lvt(APIC_LVT_LINT0) & APIC_LVT_MASKED, APIC_LVT_MASKED);
  EXPECT_TRUE(r.write(APIC_LVTT, periodic));  // cannot unmask while disabled
  EXPECT_EQ(r.lvtt(), periodic | APIC_LVT_MASKED);
  EXPECT_TRUE(r.write(APIC_SPIV, APIC_SPIV_APIC_ENABLED | 0xFFFF0000u | SPURIOUS_APIC_VECTOR));
  EXPECT_EQ(r.read(APIC_SPIV), 0x1FFu);
  EXPECT_TRUE(r.write(APIC_LVTT, periodic));
  EXPECT_EQ(r.lvtt(), periodic);
}

TEST(LapicRegs, X2apicMode) {
  LapicRegisters r = enabled_lapic(0x123);
  r.set_x2apic_mode(true);
  EXPECT_EQ(r.read(APIC_ID), 0x123u);
  EXPECT_EQ(r.read(APIC_LDR), x2apic_ldr(0x123));
  EXPECT_EQ(r.identity().ldr, 0x00120008u);
  EXPECT_FALSE(r.write(APIC_ID, 0));
  EXPECT_FALSE(r.write(APIC_LDR, 0));
  EXPECT_FALSE(r.write(APIC_DFR, 0));
  EXPECT_FALSE(r.read(APIC_DFR).has_value());
  EXPECT_FALSE(r.write(APIC_ICR_HIGH, 0));
  const uint64_t icr = Icr::decode_x2apic(0x0000012300000000ull | 0x40FD).encode_x2apic();
  r.set_icr(icr | APIC_ICR_BUSY);
  EXPECT_EQ(r.icr(), icr);
  r.set_apic_id(0x20);
  EXPECT_EQ(r.ldr(), 0x00020001u);
  r.set_x2apic_mode(false);
  EXPECT_EQ(r.read(APIC_LDR), 0u);
  EXPECT_EQ(r.read(APIC_ID), 0x20u << 24);
}

TEST(LapicRegs, ResetClearsEverything) {
  LapicRegisters r = enabled_lapic(1);
  r.accept_fixed(0x80, true);
  r.start_service(0x80);
  r.accept_fixed(0x81, false);
  r.set_tpr(0x20);
  r.accept_fixed(1, false);
  r.reset(1);
  EXPECT_EQ(r.highest_irr(), -1);
  EXPECT_EQ(r.highest_isr(), -1);
  EXPECT_FALSE(r.test_tmr(0x80));
  EXPECT_EQ(r.tpr(), 0);
  EXPECT_EQ(r.esr_pending(), 0u);
  EXPECT_EQ(r.apic_id(), 1u);
  EXPECT_FALSE(r.sw_enabled());
}

// ---------------------------------------------------------------- timer arithmetic

TEST(LapicTimer, TdcrDivideTable) {
  const struct { uint32_t tdcr, divide; } table[] = {
      {0x0, 2}, {0x1, 4}, {0x2, 8}, {0x3, 16}, {0x8, 32}, {0x9, 64}, {0xA, 128}, {0xB, 1}};
  for (const auto& e : table) {
    EXPECT_EQ(tdcr_divide(e.tdcr), e.divide) << e.tdcr;
    EXPECT_EQ(tdcr_divide(e.tdcr | 0x4), e.divide) << "bit 2 is reserved";
  }
}

TEST(LapicTimer, LvttMode) {
  EXPECT_EQ(lvtt_mode(0x000000EC), TimerMode::OneShot);
  EXPECT_EQ(lvtt_mode(0x000200EC), TimerMode::Periodic);
  EXPECT_EQ(lvtt_mode(0x000400EC), TimerMode::TscDeadline);
  EXPECT_EQ(lvtt_mode(0x000600EC), TimerMode::OneShot);  // reserved 11b
  EXPECT_EQ(lvtt_mode(0x000300EC), TimerMode::Periodic);  // mask bit does not matter
}

TEST(LapicTimer, PeriodPs) {
  constexpr uint64_t bus = 10'000;  // 100 MHz bus clock
  EXPECT_EQ(period_ps(1000, 0xB, bus), 10'000'000u);
  EXPECT_EQ(period_ps(1000, 0x0, bus), 20'000'000u);
  EXPECT_EQ(period_ps(1000, 0xA, bus), 1'280'000'000u);
  EXPECT_EQ(period_ps(0, 0x3, bus), 0u);
  EXPECT_EQ(period_ps(0xFFFFFFFF, 0xA, UINT64_MAX / 2), UINT64_MAX);  // saturates
  static_assert(period_ps(3, 0x1, 5) == 60);
}

TEST(LapicTimer, PeriodicMinimumClamp) {
  constexpr uint64_t bus = 1'000;  // 1 GHz
  // 1000 ticks at divide 1 = 1 us: periodic is raised to KVM's 200 us, one-shot is not.
  EXPECT_EQ(timer_period_ps(TimerMode::Periodic, 1000, 0xB, bus, KVM_MIN_TIMER_PERIOD_PS),
            200'000'000u);
  EXPECT_EQ(timer_period_ps(TimerMode::OneShot, 1000, 0xB, bus, KVM_MIN_TIMER_PERIOD_PS),
            1'000'000u);
  EXPECT_EQ(timer_period_ps(TimerMode::Periodic, 0, 0xB, bus, KVM_MIN_TIMER_PERIOD_PS), 0u);
  EXPECT_EQ(timer_period_ps(TimerMode::TscDeadline, 1000, 0xB, bus, KVM_MIN_TIMER_PERIOD_PS), 0u);
  EXPECT_EQ(timer_period_ps(TimerMode::Periodic, 1'000'000, 0xB, bus, KVM_MIN_TIMER_PERIOD_PS),
            1'000'000'000u);  // 1 ms is above the minimum
  EXPECT_EQ(clamp_periodic_ps(5, 10), 10u);
  EXPECT_EQ(clamp_periodic_ps(0, 10), 0u);
}

TEST(LapicTimer, CurrentCountOneShot) {
  // TMICT 100, divide 2, 1 ns bus clock: one count per 2000 ps, expiry at 200000 ps.
  const uint64_t t0 = 5'000'000;
  auto cc = [&](uint64_t dt) { return current_count(100, 2, 1000, t0, t0 + dt, false); };
  EXPECT_EQ(cc(0), 100u);
  EXPECT_EQ(cc(1999), 100u);
  EXPECT_EQ(cc(2000), 99u);
  EXPECT_EQ(cc(100'000), 50u);
  EXPECT_EQ(cc(199'999), 1u);
  EXPECT_EQ(cc(200'000), 0u);
  EXPECT_EQ(cc(10'000'000), 0u);
  EXPECT_EQ(current_count(100, 2, 1000, t0, t0 - 1, false), 100u);  // before start
  EXPECT_EQ(current_count(0, 2, 1000, t0, t0 + 10, false), 0u);     // stopped
}

TEST(LapicTimer, CurrentCountPeriodicWraps) {
  const uint64_t t0 = 0;
  auto cc = [&](uint64_t dt) { return current_count(100, 2, 1000, t0, t0 + dt, true); };
  EXPECT_EQ(cc(199'999), 1u);
  EXPECT_EQ(cc(200'000), 100u);  // reloaded
  EXPECT_EQ(cc(202'000), 99u);
  EXPECT_EQ(cc(3 * 200'000 + 5 * 2000), 95u);
  for (uint64_t dt = 0; dt < 1'000'000; dt += 777) {
    const uint32_t c = cc(dt);
    EXPECT_GE(c, 1u);
    EXPECT_LE(c, 100u);
  }
}

TEST(LapicTimer, CurrentCountPeriodicClamped) {
  // TMICT 10, divide 1, 1 ns bus: natural period 10 ns, clamped to 100 ns; the count is
  // stretched so it reaches 0 when the (clamped) interrupt fires.
  auto cc = [&](uint64_t dt) { return current_count(10, 1, 1000, 0, dt, true, 100'000); };
  EXPECT_EQ(cc(0), 10u);
  EXPECT_EQ(cc(9'999), 10u);
  EXPECT_EQ(cc(10'000), 9u);
  EXPECT_EQ(cc(50'000), 5u);
  EXPECT_EQ(cc(99'999), 1u);
  EXPECT_EQ(cc(100'000), 10u);
  for (uint64_t dt = 0; dt < 1'000'000; dt += 313) EXPECT_LE(cc(dt), 10u);
  // A minimum below the natural period changes nothing.
  EXPECT_EQ(current_count(10, 1, 1000, 0, 12'000, true, 5'000), 8u);
}

// ---------------------------------------------------------------- TSC

TEST(LapicTsc, DeadlineExpired) {
  EXPECT_FALSE(deadline_expired(0, 0));
  EXPECT_FALSE(deadline_expired(0, UINT64_MAX));  // 0 = disarmed
  EXPECT_FALSE(deadline_expired(1000, 999));
  EXPECT_TRUE(deadline_expired(1000, 1000));
  EXPECT_TRUE(deadline_expired(1000, 1001));
}

TEST(LapicTsc, GuestTscScalingAndOffset) {
  EXPECT_EQ(guest_tsc(12345, TSC_MULTIPLIER_ONE, 0), 12345u);
  EXPECT_EQ(guest_tsc(12345, TSC_MULTIPLIER_ONE, -345), 12000u);
  EXPECT_EQ(guest_tsc(1000, TSC_MULTIPLIER_ONE * 3 / 2, 7), 1507u);  // 1.5x
  EXPECT_EQ(guest_tsc(1001, TSC_MULTIPLIER_ONE / 2, 0), 500u);        // floor
  EXPECT_EQ(guest_tsc(UINT64_MAX, TSC_MULTIPLIER_ONE, 1), 0u);        // wraps like hardware
  EXPECT_EQ(host_tsc_for_guest(1507, TSC_MULTIPLIER_ONE * 3 / 2, 7), 1000u);
  EXPECT_EQ(host_tsc_for_guest(500, TSC_MULTIPLIER_ONE / 2, 0), 1000u);
  EXPECT_EQ(host_tsc_for_guest(5, TSC_MULTIPLIER_ONE, 10), 0u);  // already reached
  EXPECT_EQ(host_tsc_for_guest(UINT64_MAX, TSC_MULTIPLIER_ONE / 4, 0), UINT64_MAX);  // out of range
}

TEST(LapicTsc, HostForGuestIsTheSmallestInverse) {
  std::mt19937_64 rng(42);
  for (int i = 0; i < 20000; ++i) {
    // Ratios 0.25x .. 4x with random fractional bits, realistic TSC magnitudes.
    const uint64_t mult = TSC_MULTIPLIER_ONE / 4 + rng() % (TSC_MULTIPLIER_ONE * 15 / 4);
    const int64_t offset = int64_t(rng() % (1ull << 48)) - int64_t(1ull << 47);
    const uint64_t host = (1ull << 50) + rng() % (1ull << 52);
    const uint64_t g = guest_tsc(host, mult, offset) + rng() % 100000;
    const uint64_t h = host_tsc_for_guest(g, mult, offset);
    ASSERT_GE(guest_tsc(h, mult, offset), g) << i;
    ASSERT_LT(guest_tsc(h - 1, mult, offset), g) << i;
  }
}

TEST(LapicTsc, PreemptionTimerValue) {
  EXPECT_EQ(vmx_preemption_timer_value(3200, 5), 100u);
  EXPECT_EQ(vmx_preemption_timer_value(31, 5), 0u);
  EXPECT_EQ(vmx_preemption_timer_value(3231, 5), 100u);  // rounds down
  EXPECT_EQ(vmx_preemption_timer_value(0, 5), 0u);
  const uint64_t max_fit = (0xFFFFFFFFull << 5) | 31;
  EXPECT_EQ(vmx_preemption_timer_value(max_fit, 5), 0xFFFFFFFFu);
  EXPECT_TRUE(vmx_preemption_timer_fits(max_fit, 5));
  EXPECT_EQ(vmx_preemption_timer_value(max_fit + 1, 5), 0xFFFFFFFFu);  // saturates
  EXPECT_FALSE(vmx_preemption_timer_fits(max_fit + 1, 5));
  EXPECT_EQ(vmx_preemption_timer_value(UINT64_MAX, 5), 0xFFFFFFFFu);
  EXPECT_EQ(vmx_preemption_timer_value(UINT64_MAX, 0), 0xFFFFFFFFu);
}

}  // namespace
}  // namespace hw
