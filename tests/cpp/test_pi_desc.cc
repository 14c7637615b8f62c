// Tests for the posted-interrupt descriptor (model/hw/pi_desc.h): layout, KVM's software
// sender, the CPU's notification processing, and the VT-d sender with SN.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <random>

#include "hw/lapic_state.h"
#include "hw/pi_desc.h"

namespace hw {
namespace {

using Bitmap = std::array<uint32_t, 8>;

int highest_in(const Bitmap& bm) { return apic_find_highest_vector(bm); }

TEST(PiDesc, LayoutMatchesSdm) {
  PiDesc pi;
  EXPECT_EQ(sizeof(PiDesc), 64u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(&pi) % 64, 0u);
  pi.pi_test_and_set_on();
  pi.pi_set_sn();
  pi.nv = POSTED_INTR_VECTOR;
  pi.ndst = 0x12345678;
  // Byte view of bits 256..319: ON bit 256, SN bit 257, NV 279:272, NDST 319:288.
  const auto* bytes = reinterpret_cast<const uint8_t*>(&pi);
  EXPECT_EQ(bytes[32], 0x03);
  EXPECT_EQ(bytes[34], POSTED_INTR_VECTOR);
  EXPECT_EQ(bytes[36], 0x78);
  EXPECT_EQ(bytes[39], 0x12);
  EXPECT_EQ(PiDesc::pi_ndst(5, false), 0x0500u);  // xAPIC: ID in bits 15:8
  EXPECT_EQ(PiDesc::pi_ndst(0x1234, true), 0x1234u);
}

TEST(PiDesc, PirBitLayout) {
  PiDesc pi;
  for (int v : {0, 63, 64, 200, 255}) {
    EXPECT_FALSE(pi.pi_test_and_set_pir(uint8_t(v)));
    EXPECT_TRUE(pi.pi_test_pir(uint8_t(v)));
    EXPECT_TRUE(pi.pi_test_and_set_pir(uint8_t(v)));
  }
  EXPECT_EQ(pi.pir[0], (1ull << 63) | 1u);
  EXPECT_EQ(pi.pir[1], 1u);
  EXPECT_EQ(pi.pir[3], (1ull << 63) | (1ull << (200 - 192)));
  EXPECT_FALSE(pi.pi_test_pir(1));
}

TEST(PiDesc, OnAndSnBits) {
  PiDesc pi;
  EXPECT_FALSE(pi.pi_test_on());
  EXPECT_FALSE(pi.pi_test_and_set_on());
  EXPECT_TRUE(pi.pi_test_and_set_on());
  pi.pi_set_sn();
  EXPECT_TRUE(pi.pi_test_sn());
  EXPECT_TRUE(pi.pi_test_and_clear_on());
  EXPECT_FALSE(pi.pi_test_and_clear_on());
  EXPECT_TRUE(pi.pi_test_sn());  // ON and SN are independent
  pi.pi_clear_sn();
  EXPECT_FALSE(pi.pi_test_sn());
  EXPECT_EQ(pi.notifications, 0);
}

TEST(PiDesc, PostSetsPirAndOnAndNotifiesOnce) {
  PiDesc pi;
  EXPECT_EQ(pi.pi_post(0x30), PiPostResult::NeedsNotification);
  EXPECT_TRUE(pi.pi_test_pir(0x30));
  EXPECT_TRUE(pi.pi_test_on());
  EXPECT_EQ(pi.pi_post(0x31), PiPostResult::NotificationOutstanding);
  EXPECT_EQ(pi.pi_post(0x30), PiPostResult::AlreadyPending);
  EXPECT_TRUE(pi.pi_test_pir(0x31));
}

TEST(PiDesc, SoftwareSenderIgnoresSn) {
  PiDesc pi;
  pi.pi_set_sn();
  EXPECT_EQ(pi.pi_post(0x40), PiPostResult::NeedsNotification);
  EXPECT_TRUE(pi.pi_test_on());
}

TEST(PiDesc, HarvestMovesEveryBitAndClearsPir) {
  PiDesc pi;
  pi.pi_post(0x21);
  const int vecs[] = {0, 31, 32, 63, 64, 127, 128, 200, 255};
  for (int v : vecs) pi.pi_test_and_set_pir(uint8_t(v));
  Bitmap irr{};
  irr[1] = 1u << 7;  // vector 39 already pending in IRR: ORed, not overwritten
  EXPECT_EQ(pi.pi_harvest_pir(irr), 255);
  EXPECT_TRUE(pi.pi_is_pir_empty());
  EXPECT_TRUE(pi.pi_test_on());  // harvesting alone does not touch ON
  for (int v : vecs) EXPECT_TRUE(apic_test_vector(uint8_t(v), irr)) << v;
  EXPECT_TRUE(apic_test_vector(0x21, irr));
  EXPECT_TRUE(apic_test_vector(39, irr));
  int n = 0;
  for (uint32_t w : irr) n += __builtin_popcount(w);
  EXPECT_EQ(n, 11);
  EXPECT_EQ(pi.pi_harvest_pir(irr), -1);  // nothing left
}

TEST(PiDesc, HarvestIntoLapicRegisters) {
  LapicRegisters vapic;
  PiDesc pi;
  pi.pi_post(0x51);
  pi.pi_post(0x61);
  EXPECT_EQ(pi.pi_harvest_pir(vapic), 0x61);
  EXPECT_EQ(vapic.highest_irr(), 0x61);
  EXPECT_TRUE(vapic.test_irr(0x51));
  // A plain C array works too.
  uint32_t raw[8] = {};
  pi.pi_post(0x80);
  EXPECT_EQ(pi.pi_harvest_pir(raw), 0x80);
  EXPECT_EQ(raw[4], 1u);
}

TEST(PiDesc, ProcessNotificationClearsOnAndRaisesRvi) {
  PiDesc pi;
  Bitmap virr{};
  uint8_t rvi = 0x50;
  pi.pi_post(0x40);
  pi.pi_post(0x45);
  EXPECT_EQ(pi.pi_process_notification(virr, rvi), 0x45);
  EXPECT_FALSE(pi.pi_test_on());
  EXPECT_EQ(rvi, 0x50);  // RVI = max(RVI, highest moved)
  pi.pi_post(0x90);
  EXPECT_EQ(pi.pi_process_notification(virr, rvi), 0x90);
  EXPECT_EQ(rvi, 0x90);
  EXPECT_EQ(pi.pi_process_notification(virr, rvi), -1);  // empty PIR: RVI unchanged
  EXPECT_EQ(rvi, 0x90);
  EXPECT_EQ(highest_in(virr), 0x90);
  // After processing, the next post needs a new notification.
  EXPECT_EQ(pi.pi_post(0x41), PiPostResult::NeedsNotification);
}

TEST(PiDesc, VtdSuppressedBySn) {
  PiDesc pi;
  pi.pi_set_sn();
  EXPECT_EQ(pi.pi_post_vtd(0x30), PiPostResult::Suppressed);
  EXPECT_TRUE(pi.pi_test_pir(0x30));
  EXPECT_FALSE(pi.pi_test_on());
  EXPECT_EQ(pi.pi_post_vtd(0x30), PiPostResult::AlreadyPending);
  // URG overrides SN.
  EXPECT_EQ(pi.pi_post_vtd(0x31, /*urgent=*/true), PiPostResult::NeedsNotification);
  EXPECT_TRUE(pi.pi_test_on());
  EXPECT_EQ(pi.pi_post_vtd(0x32, true), PiPostResult::NotificationOutstanding);
  EXPECT_EQ(pi.pi_post_vtd(0x33), PiPostResult::NotificationOutstanding);
}

TEST(PiDesc, VtdNotifiesWhenSnClear) {
  PiDesc pi;
  EXPECT_EQ(pi.pi_post_vtd(0x30), PiPostResult::NeedsNotification);
  EXPECT_EQ(pi.pi_post_vtd(0x31), PiPostResult::NotificationOutstanding);
  EXPECT_EQ(pi.pi_post_vtd(0x31), PiPostResult::AlreadyPending);
  // ON cleared (e.g. by the CPU) while 0x31 is still in PIR: unlike KVM's sender, VT-d
  // notifies again for an already-set PIR bit because ON is clear.
  pi.pi_clear_on();
  EXPECT_EQ(pi.pi_post_vtd(0x31), PiPostResult::NeedsNotification);
  PiDesc kvm;
  kvm.pi_post(0x31);
  kvm.pi_clear_on();
  EXPECT_EQ(kvm.pi_post(0x31), PiPostResult::AlreadyPending);
}

// Random posts (KVM sender) against two receivers: the CPU's notification processing and
// KVM's vmx_sync_pir_to_irr()-style test-and-clear-ON + harvest. Every post is either
// coalesced with a vector still in PIR, or harvested exactly once; ON is set whenever PIR
// holds anything; each notification requested corresponds to one ON set/clear cycle.
TEST(PiDesc, RandomizedNoVectorLost) {
  std::mt19937 rng(0xC0FFEE);
  PiDesc pi;
  bool in_pir[256] = {};
  uint64_t accepted[256] = {}, harvested[256] = {};
  uint64_t posts = 0, coalesced = 0, notifications = 0, on_cycles = 0;

  auto harvest = [&](auto&& how) {
    Bitmap got{};
    const int hi = how(got);
    EXPECT_EQ(hi, highest_in(got));
    for (int v = 0; v < 256; ++v)
      if (apic_test_vector(uint8_t(v), got)) {
        EXPECT_TRUE(in_pir[v]) << v;
        in_pir[v] = false;
        ++harvested[v];
      }
    EXPECT_TRUE(pi.pi_is_pir_empty());
  };

  for (int step = 0; step < 200000; ++step) {
    const unsigned op = rng() % 16;
    if (op < 11) {
      // Bias towards a few hot vectors so coalescing happens often.
      const uint8_t vec = uint8_t(rng() % 4 ? 0xE0 + rng() % 8 : rng() % 256);
      const bool was_on = pi.pi_test_on();
      const PiPostResult res = pi.pi_post(vec);
      ++posts;
      if (in_pir[vec]) {
        EXPECT_EQ(res, PiPostResult::AlreadyPending);
        ++coalesced;
      } else {
        EXPECT_EQ(res, was_on ? PiPostResult::NotificationOutstanding
                              : PiPostResult::NeedsNotification);
        in_pir[vec] = true;
        ++accepted[vec];
        notifications += res == PiPostResult::NeedsNotification;
      }
    } else if (op < 14) {
      // CPU: notification vector arrives (only if one was sent, i.e. ON is set).
      if (pi.pi_test_on()) {
        ++on_cycles;
        uint8_t rvi = 0;
        harvest([&](Bitmap& b) { return pi.pi_process_notification(b, rvi); });
        EXPECT_FALSE(pi.pi_test_on());
      }
    } else {
      // KVM before VM entry: if (pi_test_and_clear_on()) harvest.
      if (pi.pi_test_and_clear_on()) {
        ++on_cycles;
        harvest([&](Bitmap& b) { return pi.pi_harvest_pir(b); });
      }
    }
    // Invariants after every step.
    for (int v = 0; v < 256; v += 17) ASSERT_EQ(pi.pi_test_pir(uint8_t(v)), in_pir[v]);
    ASSERT_TRUE(pi.pi_is_pir_empty() || pi.pi_test_on());
  }
  if (pi.pi_test_and_clear_on()) ++on_cycles;
  harvest([&](Bitmap& b) { return pi.pi_harvest_pir(b); });

  uint64_t total_accepted = 0;
  for (int v = 0; v < 256; ++v) {
    EXPECT_EQ(accepted[v], harvested[v]) << "vector " << v;
    total_accepted += accepted[v];
  }
  EXPECT_EQ(total_accepted + coalesced, posts);
  EXPECT_EQ(notifications, on_cycles);
  EXPECT_GT(coalesced, 1000u);  // the test exercised coalescing
  EXPECT_GT(on_cycles, 1000u);
}

// The VT-d sender with SN toggled at random: SN may hold back notifications, but a vector
// is never lost: every newly set PIR bit is harvested exactly once.
TEST(PiDesc, RandomizedVtdWithSnNoVectorLost) {
  std::mt19937 rng(1234);
  PiDesc pi;
  bool in_pir[256] = {};
  uint64_t accepted[256] = {}, harvested[256] = {};
  uint64_t suppressed = 0;
  for (int step = 0; step < 100000; ++step) {
    const unsigned op = rng() % 8;
    if (op < 5) {
      const uint8_t vec = uint8_t(0x20 + rng() % 32);
      const bool urgent = rng() % 8 == 0;
      const bool on = pi.pi_test_on(), sn = pi.pi_test_sn();
      const PiPostResult res = pi.pi_post_vtd(vec, urgent);
      if (!on && (urgent || !sn))
        EXPECT_EQ(res, PiPostResult::NeedsNotification);
      else if (in_pir[vec])
        EXPECT_EQ(res, PiPostResult::AlreadyPending);
      else
        EXPECT_EQ(res, on ? PiPostResult::NotificationOutstanding : PiPostResult::Suppressed);
      suppressed += res == PiPostResult::Suppressed;
      if (!in_pir[vec]) ++accepted[vec];
      in_pir[vec] = true;
    } else if (op == 5) {
      if (rng() % 2) pi.pi_set_sn(); else pi.pi_clear_sn();
    } else {
      pi.pi_clear_on();
      Bitmap got{};
      pi.pi_harvest_pir(got);
      for (int v = 0; v < 256; ++v)
        if (apic_test_vector(uint8_t(v), got)) {
          ASSERT_TRUE(in_pir[v]);
          in_pir[v] = false;
          ++harvested[v];
        }
    }
  }
  Bitmap got{};
  pi.pi_harvest_pir(got);
  for (int v = 0; v < 256; ++v) harvested[v] += apic_test_vector(uint8_t(v), got);
  for (int v = 0; v < 256; ++v) EXPECT_EQ(accepted[v], harvested[v]) << v;
  EXPECT_GT(suppressed, 100u);
}

}  // namespace
}  // namespace hw
