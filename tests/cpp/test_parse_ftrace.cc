// ftrace / trace-cmd kvm event parser: exact values from the sample, old formats, pairing of
// reordered lines, and robustness (truncation at every byte, garbled lines).
#include <gtest/gtest.h>

#include "parse_test_util.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "validation/detect.h"
#include "validation/ftrace_kvm.h"
#include "validation/json.h"

using namespace validation;
using namespace parse_test;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

std::string join(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

const std::string kSample = "trace-cmd-report.txt";

}  // namespace

TEST(ParseFtrace, SampleByReason) {
  KvmTrace t = parse_ftrace_kvm(read_sample(kSample));
  EXPECT_EQ(t.stats.lines, 54u);
  EXPECT_EQ(t.stats.bad_lines, 0u);
  EXPECT_EQ(t.kvm_exit_events, 17u);
  EXPECT_EQ(t.kvm_entry_events, 17u);
  EXPECT_EQ(t.exits.size(), 16u);
  EXPECT_EQ(t.unpaired_exits, 1u);    // vcpu 1's last EPT_VIOLATION
  EXPECT_EQ(t.unpaired_entries, 1u);  // vcpu 1's first kvm_entry
  EXPECT_EQ(t.other_events, 5u);      // kvm_msr x2, kvm_apic_accept_irq, kvm_eoi, kvm_pio
  EXPECT_EQ(t.lost_events, 17u);
  EXPECT_FALSE(t.reordered);
  ASSERT_EQ(t.by_reason.size(), 9u);
  const ReasonSummary& msr = t.by_reason.at("MSR_WRITE");
  EXPECT_EQ(msr.count, 3u);
  EXPECT_EQ(msr.paired, 3u);
  EXPECT_DOUBLE_EQ(msr.total_us, 17.0);
  EXPECT_DOUBLE_EQ(msr.min_us, 2.0);
  EXPECT_DOUBLE_EQ(msr.max_us, 12.0);
  const ReasonSummary& hlt = t.by_reason.at("HLT");
  EXPECT_EQ(hlt.count, 3u);
  EXPECT_DOUBLE_EQ(hlt.total_us, 462.0);  // 102 + 250 + 110 (the old-format section)
  EXPECT_DOUBLE_EQ(hlt.avg_us(), 154.0);
  const ReasonSummary& ept = t.by_reason.at("EPT_VIOLATION");
  EXPECT_EQ(ept.count, 3u);
  EXPECT_EQ(ept.paired, 2u);
  EXPECT_DOUBLE_EQ(ept.avg_us(), 6.5);
  EXPECT_DOUBLE_EQ(t.by_reason.at("PAUSE_INSTRUCTION").total_us, 12.0);
  EXPECT_DOUBLE_EQ(t.by_reason.at("IO_INSTRUCTION").max_us, 9.0);
  EXPECT_EQ(detect_format(read_sample(kSample)), Format::Ftrace);
}

TEST(ParseFtrace, SampleSpansAndOtherEvents) {
  KvmTrace t = parse_ftrace_kvm(read_sample(kSample));
  ASSERT_FALSE(t.exits.empty());
  const ExitSpan& s = t.exits.front();
  EXPECT_EQ(s.reason, "MSR_WRITE");
  EXPECT_EQ(s.vcpu, 0);
  EXPECT_EQ(s.cpu, 15);
  EXPECT_EQ(s.pid, 18971u);
  EXPECT_NEAR(s.start_s, 95922.997039, 1e-9);
  EXPECT_DOUBLE_EQ(s.duration_us, 2.0);
  const ExitSpan& old = t.exits.back();  // old kvm_exit without "vcpu N": vcpu from kvm_entry
  EXPECT_EQ(old.pid, 2350u);
  EXPECT_EQ(old.vcpu, 0);
  EXPECT_DOUBLE_EQ(old.duration_us, 6.0);

  ASSERT_EQ(t.ipis.size(), 2u);
  EXPECT_EQ(t.ipis[0].dst, 1u);
  EXPECT_EQ(t.ipis[0].vec, 251u);
  EXPECT_EQ(t.ipis[0].delivery_mode, "Fixed");
  EXPECT_EQ(t.ipis[0].dest_mode, "physical");
  EXPECT_EQ(t.ipis[0].level, "de-assert");
  EXPECT_EQ(t.ipis[0].trigger, "edge");
  EXPECT_EQ(t.ipis[0].shorthand, "dst");
  EXPECT_EQ(t.ipis[1].vec, 253u);

  ASSERT_EQ(t.injections.size(), 3u);
  EXPECT_EQ(t.injections[0].vector, 0xfdu);
  EXPECT_EQ(t.injections[1].vector, 0xecu);
  EXPECT_EQ(t.injections[2].vector, 239u);  // old "irq %u" form
  EXPECT_FALSE(t.injections[0].soft);

  ASSERT_EQ(t.ple_window_updates.size(), 3u);
  EXPECT_TRUE(t.ple_window_updates[0].grow);
  EXPECT_EQ(t.ple_window_updates[0].old_window, 4096u);
  EXPECT_EQ(t.ple_window_updates[0].new_window, 8192u);
  EXPECT_FALSE(t.ple_window_updates[1].grow);
  EXPECT_EQ(t.ple_window_updates[1].vcpu, 1);
  // old kvm_ple_window: "ple_window 8192 (grow 4096)" is new 8192, old 4096
  EXPECT_TRUE(t.ple_window_updates[2].grow);
  EXPECT_EQ(t.ple_window_updates[2].new_window, 8192u);
  EXPECT_EQ(t.ple_window_updates[2].old_window, 4096u);

  ASSERT_EQ(t.lapic_expire.size(), 2u);
  EXPECT_EQ(t.lapic_expire[0].delta, -1234);
  EXPECT_TRUE(t.lapic_expire[0].early);
  EXPECT_EQ(t.lapic_expire[1].delta, 380);
  EXPECT_FALSE(t.lapic_expire[1].early);
}

TEST(ParseFtrace, ReorderedLinesPairTheSame) {
  std::string text = read_sample(kSample);
  KvmTrace ref = parse_ftrace_kvm(text);
  std::vector<std::string> lines = lines_of(text);
  std::mt19937 rng(7);
  for (int round = 0; round < 20; ++round) {
    std::shuffle(lines.begin(), lines.end(), rng);
    KvmTrace t = parse_ftrace_kvm(join(lines));
    EXPECT_TRUE(t.reordered);
    EXPECT_EQ(t.exits.size(), ref.exits.size());
    EXPECT_EQ(t.unpaired_exits, ref.unpaired_exits);
    EXPECT_EQ(t.unpaired_entries, ref.unpaired_entries);
    ASSERT_EQ(t.by_reason.size(), ref.by_reason.size());
    for (const auto& [reason, s] : ref.by_reason) {
      EXPECT_EQ(t.by_reason.at(reason).count, s.count) << reason;
      EXPECT_DOUBLE_EQ(t.by_reason.at(reason).total_us, s.total_us) << reason;
    }
    for (size_t i = 0; i < t.exits.size() && i < ref.exits.size(); ++i) {
      EXPECT_EQ(t.exits[i].reason, ref.exits[i].reason);
      EXPECT_DOUBLE_EQ(t.exits[i].duration_us, ref.exits[i].duration_us);
    }
    EXPECT_EQ(t.ple_window_updates.size(), 3u);
    EXPECT_TRUE(t.ple_window_updates[0].grow);  // back in time order
  }
}

TEST(ParseFtrace, TwoThreadsInterleavedOnOneCpuPairByThread) {
  // An exit of thread A, then one of thread B, then their entries in the other order.
  const char* text =
      " qemu-kvm-100 [003] 10.000010: kvm_exit: reason HLT rip 0x1 info 0 0\n"
      " qemu-kvm-101 [003] 10.000020: kvm_exit: reason CPUID rip 0x2 info 0 0\n"
      " qemu-kvm-101 [003] 10.000021: kvm_entry: vcpu 1\n"
      " qemu-kvm-100 [003] 10.000110: kvm_entry: vcpu 0\n";
  KvmTrace t = parse_ftrace_kvm(text);
  ASSERT_EQ(t.exits.size(), 2u);
  EXPECT_DOUBLE_EQ(t.by_reason.at("HLT").total_us, 100.0);
  EXPECT_DOUBLE_EQ(t.by_reason.at("CPUID").total_us, 1.0);
  EXPECT_EQ(t.exits[0].vcpu, 0);
  EXPECT_EQ(t.unpaired_exits + t.unpaired_entries, 0u);
}

TEST(ParseFtrace, PerfScriptOutput) {
  const char* text =
      " qemu-system-x86  3406 [002]  2207.853553: kvm:kvm_exit: reason EXTERNAL_INTERRUPT rip "
      "0xffffffff9ed2c3de info 0 800000ec\n"
      " qemu-system-x86  3406 [002]  2207.853556: kvm:kvm_entry: vcpu 0\n";
  KvmTrace t = parse_ftrace_kvm(text);
  ASSERT_EQ(t.exits.size(), 1u);
  EXPECT_EQ(t.exits[0].pid, 3406u);
  EXPECT_EQ(t.exits[0].cpu, 2);
  EXPECT_DOUBLE_EQ(t.exits[0].duration_us, 3.0);
}

TEST(ParseFtrace, LineFullOfBracketsIsNoise) {
  std::string junk;
  for (int i = 0; i < 20000; ++i) junk += " [1] -[";
  KvmTrace t = parse_ftrace_kvm(junk + "\n x-1 [000] 1.0: kvm_entry: vcpu 0\n");
  EXPECT_EQ(t.kvm_entry_events, 1u);
}

TEST(ParseFtrace, ReasonFlagsSvmNamesAndNestedExits) {
  const char* text =
      " CPU 0/KVM-7 [001] d.... 1.000001: kvm_exit: vcpu 0"
      " reason INVALID_STATE FAILED_VMENTRY rip 0x0 "
      "info1 0x0000000000000000 info2 0x0000000000000000"
      " intr_info 0x00000000 error_code 0x00000000\n"
      " CPU 0/KVM-7 [001] d.... 1.000003: kvm_entry: vcpu 0, rip 0x0\n"
      " CPU 0/KVM-7 [001] d.... 1.000005: kvm_exit: vcpu 0 reason PF excp rip 0xffffffff81000000 "
      "info1 0x0000000000000002 info2 0x00007f0000001000"
      " intr_info 0x00000000 error_code 0x00000000\n"
      " CPU 0/KVM-7 [001] d.... 1.000006: kvm_nested_vmexit: vcpu 0 reason npf rip 0x1000 "
      "info1 0x0000000100000014 info2 0x0000000fee00000"
      " intr_info 0x00000000 error_code 0x00000000\n"
      " CPU 0/KVM-7 [001] d.... 1.000009: kvm_entry: vcpu 0,"
      " rip 0xffffffff81000000[immediate exit]\n"
      " CPU 0/KVM-7 [001] d.... 1.000010: kvm_exit: vcpu 0 reason msr rip 0x1 info1 0x0 info2 0x0 "
      "intr_info 0x0 error_code 0x0 requests 0x0000000000000000\n"
      " CPU 0/KVM-7 [001] d.... 1.000012: kvm_entry: vcpu 0, rip 0x3 [immediate exit]\n";
  KvmTrace t = parse_ftrace_kvm(text);
  EXPECT_EQ(t.stats.bad_lines, 0u);
  EXPECT_EQ(t.by_reason.count("INVALID_STATE"), 1u);
  EXPECT_EQ(t.by_reason.count("PF excp"), 1u);
  EXPECT_DOUBLE_EQ(t.by_reason.at("PF excp").total_us, 4.0);
  EXPECT_EQ(t.by_reason.count("npf"), 0u);  // nested exits do not open a span
  EXPECT_EQ(t.nested_by_reason.at("npf"), 1u);
  EXPECT_EQ(t.exits.size(), 3u);
}

TEST(ParseFtrace, InjectionForms) {
  const char* text =
      " CPU 0/KVM-7 [001] d..1. 2.000001: kvm_inj_virq: Soft/INTn 0x80\n"
      " CPU 0/KVM-7 [001] d..1. 2.000002: kvm_inj_virq: IRQ 0x22 [reinjected]\n";
  KvmTrace t = parse_ftrace_kvm(text);
  ASSERT_EQ(t.injections.size(), 2u);
  EXPECT_TRUE(t.injections[0].soft);
  EXPECT_EQ(t.injections[0].vector, 0x80u);
  EXPECT_TRUE(t.injections[1].reinjected);
  EXPECT_EQ(t.injections[1].vector, 0x22u);
}

TEST(ParseFtrace, BannersAreNotBadButBrokenEventsAre) {
  const char* text =
      "# tracer: nop\n"
      "#\n"
      "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
      "cpus=8\n"
      "version = 6\n"
      "CPU 0 is empty\n"
      " CPU 0/KVM-7 [001] d.... 3.000001: kvm_apic_ipi: dst 1"
      " vec 999 (Fixed|physical|assert|edge|dst)\n"
      " CPU 0/KVM-7 [001] d.... 3.000002: kvm_apic_ipi: dst 1"
      " vec 9 (Bogus|physical|assert|edge|dst)\n"
      " CPU 0/KVM-7 [001] d.... 3.00x003: kvm_exit: vcpu 0 reason HLT rip 0x0\n"
      " CPU 0/KVM-7 [001] d.... 3.000004: kvm_exit: vcpu 0 reason HLT rip zz\n"
      " CPU 0/KVM-7 [001] d.... 3.000005: kvm_ple_window_update: vcpu 0 old 1 new 2 (grew)\n"
      " CPU 0/KVM-7 [001] d.... 3.000006: sched_switch: prev_comm=CPU 0/KVM prev_pid=7\n"
      "kvm_exit: half a line\n";
  KvmTrace t = parse_ftrace_kvm(text);
  EXPECT_EQ(t.other_events, 1u);
  EXPECT_EQ(t.stats.bad_lines, 6u);
  ASSERT_FALSE(t.stats.bad_samples.empty());
  EXPECT_EQ(t.stats.bad_samples[0].first, 7u);
  EXPECT_NE(t.stats.bad_samples[0].second.find("kvm_apic_ipi"), std::string::npos);
  EXPECT_EQ(t.stats.bad_samples[2].first, 9u);
  EXPECT_NE(t.stats.bad_samples[2].second.find("timestamp"), std::string::npos);
}

TEST(ParseFtrace, SameTimestampKeepsInputOrder) {
  const char* text =
      " qemu-kvm-5 [000] 4.000001: kvm_exit: reason CPUID rip 0x1 info 0 0\n"
      " qemu-kvm-5 [000] 4.000001: kvm_entry: vcpu 0\n";
  KvmTrace t = parse_ftrace_kvm(text);
  ASSERT_EQ(t.exits.size(), 1u);
  EXPECT_DOUBLE_EQ(t.exits[0].duration_us, 0.0);
}

TEST(ParseFtrace, JsonShape) {
  nlohmann::json j = to_json(parse_ftrace_kvm(read_sample(kSample)));
  EXPECT_EQ(j["exits"]["HLT"]["samples"], 3);
  EXPECT_DOUBLE_EQ(j["exits"]["HLT"]["avg_us"].get<double>(), 154.0);
  EXPECT_EQ(j["ipis"], 2);
  EXPECT_EQ(j["ple_window_updates"], 3);
  EXPECT_EQ(j["bad_lines"], 0);
}

TEST(ParseFtrace, EmptyAndEventlessInputThrow) {
  try {
    parse_ftrace_kvm("");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 0u);
    EXPECT_NE(std::string(e.what()).find("input is empty"), std::string::npos);
  }
  EXPECT_THROW(parse_ftrace_kvm("cpus=8\nCPU 0 is empty\n"), ParseError);
  try {
    parse_ftrace_kvm("cpus=8\n x-1 [000] garbage: kvm_exit: reason HLT\n");
    FAIL();
  } catch (const ParseError& e) {
    EXPECT_EQ(e.line, 2u);  // the first line that looked like an event
  }
}

TEST(ParseFtrace, TruncationAtEveryByteIsSane) {
  std::string text = read_sample(kSample);
  size_t last_parsed = 0;
  for (size_t n = 0; n <= text.size(); ++n) {
    std::string_view cut(text.data(), n);
    try {
      KvmTrace t = parse_ftrace_kvm(cut);
      EXPECT_EQ(t.stats.lines, count_lines(cut));
      EXPECT_LE(t.stats.parsed + t.stats.bad_lines, t.stats.lines);
      EXPECT_LE(t.exits.size(), 16u);
      EXPECT_LE(t.kvm_exit_events, 17u);
      EXPECT_LE(t.unpaired_exits, t.kvm_exit_events);
      for (const auto& s : t.exits) EXPECT_GE(s.duration_us, 0.0);
      if (n > 0 && text[n - 1] == '\n') {
        EXPECT_GE(t.stats.parsed, last_parsed) << n;
        last_parsed = t.stats.parsed;
      }
    } catch (const ParseError& e) {
      EXPECT_LE(e.line, count_lines(cut));
    }
  }
}

TEST(ParseFtrace, GarbledLinesNeverCrash) {
  std::string text = read_sample(kSample);
  KvmTrace full = parse_ftrace_kvm(text);
  std::mt19937 rng(99);
  for (int i = 0; i < 500; ++i) {
    std::string g = garble(text, rng);
    KvmTrace t = parse_ftrace_kvm(g);
    EXPECT_EQ(t.stats.lines, full.stats.lines);
    EXPECT_LE(t.stats.parsed + t.stats.bad_lines, t.stats.lines);
    EXPECT_GE(t.stats.parsed + 1, full.stats.parsed);
    EXPECT_LE(t.exits.size(), full.exits.size() + 1);
    (void)to_json(t).dump();
  }
}
