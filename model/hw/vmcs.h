// The VMCS: the fields the model uses, named and encoded as in the SDM (vol. 3C app. B) and
// Linux's asm/vmx.h. Storage is dense (an index per field) so the hot path never searches;
// VMREAD/VMWRITE by SDM encoding go through a lookup for nested use and for tests.
//
// Pointers that real hardware holds as physical addresses (MSR bitmap, virtual-APIC page,
// posted-interrupt descriptor) are held as references to the model's objects.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <string_view>

namespace hw {

class LapicRegisters;
struct PiDesc;
struct Icr;
struct PidPointerTable;

// Model-level observer (not architectural) for configurations that let the guest write
// the physical ICR (NoExit PV IPI): says whether a write stays inside the VM.
class IcrMonitor {
 public:
  virtual ~IcrMonitor() = default;
  virtual bool allowed(const Icr& icr) const = 0;
};

#define KVMSIM_VMCS_FIELDS(X)                                  \
  X(VIRTUAL_PROCESSOR_ID, 0x0000)                             \
  X(POSTED_INTR_NV, 0x0002)                                   \
  X(GUEST_INTR_STATUS, 0x0810)                                \
  X(TSC_OFFSET, 0x2010)                                       \
  X(VIRTUAL_APIC_PAGE_ADDR, 0x2012)                           \
  X(POSTED_INTR_DESC_ADDR, 0x2016)                            \
  X(EOI_EXIT_BITMAP0, 0x201C)                                 \
  X(EOI_EXIT_BITMAP1, 0x201E)                                 \
  X(EOI_EXIT_BITMAP2, 0x2020)                                 \
  X(EOI_EXIT_BITMAP3, 0x2022)                                 \
  X(EPT_POINTER, 0x201A)                                      \
  X(TSC_MULTIPLIER, 0x2032)                                   \
  X(TERTIARY_VM_EXEC_CONTROL, 0x2034)                         \
  X(GUEST_PHYSICAL_ADDRESS, 0x2400)                           \
  X(PIN_BASED_VM_EXEC_CONTROL, 0x4000)                        \
  X(CPU_BASED_VM_EXEC_CONTROL, 0x4002)                        \
  X(EXCEPTION_BITMAP, 0x4004)                                 \
  X(VM_EXIT_CONTROLS, 0x400C)                                 \
  X(VM_ENTRY_CONTROLS, 0x4012)                                \
  X(VM_ENTRY_INTR_INFO_FIELD, 0x4016)                         \
  X(TPR_THRESHOLD, 0x401C)                                    \
  X(SECONDARY_VM_EXEC_CONTROL, 0x401E)                        \
  X(PLE_GAP, 0x4020)                                          \
  X(PLE_WINDOW, 0x4022)                                       \
  X(VM_INSTRUCTION_ERROR, 0x4400)                             \
  X(VM_EXIT_REASON, 0x4402)                                   \
  X(VM_EXIT_INTR_INFO, 0x4404)                                \
  X(VM_EXIT_INSTRUCTION_LEN, 0x440C)                          \
  X(GUEST_INTERRUPTIBILITY_INFO, 0x4824)                      \
  X(GUEST_ACTIVITY_STATE, 0x4826)                             \
  X(VMX_PREEMPTION_TIMER_VALUE, 0x482E)                       \
  X(EXIT_QUALIFICATION, 0x6400)                               \
  X(GUEST_LINEAR_ADDRESS, 0x640A)                             \
  X(GUEST_CR0, 0x6800)                                        \
  X(GUEST_CR3, 0x6802)                                        \
  X(GUEST_CR4, 0x6804)                                        \
  X(GUEST_RSP, 0x681C)                                        \
  X(GUEST_RIP, 0x681E)                                        \
  X(GUEST_RFLAGS, 0x6820)                                     \
  X(HOST_CR3, 0x6C02)                                         \
  X(HOST_RSP, 0x6C14)                                         \
  X(HOST_RIP, 0x6C16)                                         \
  /* Fields nested VMX needs (vmcs12 and the shadow lists); appended, issue 7. */ \
  X(GUEST_ES_SELECTOR, 0x0800)                                \
  X(GUEST_CS_SELECTOR, 0x0802)                                \
  X(GUEST_PML_INDEX, 0x0812)                                  \
  X(HOST_FS_SELECTOR, 0x0C08)                                 \
  X(HOST_GS_SELECTOR, 0x0C0A)                                 \
  X(IO_BITMAP_A, 0x2000)                                      \
  X(IO_BITMAP_B, 0x2002)                                      \
  X(MSR_BITMAP, 0x2004)                                       \
  X(VMREAD_BITMAP, 0x2026)                                    \
  X(VMWRITE_BITMAP, 0x2028)                                   \
  X(VMCS_LINK_POINTER, 0x2800)                                \
  X(GUEST_IA32_PAT, 0x2804)                                   \
  X(GUEST_IA32_EFER, 0x2806)                                  \
  X(HOST_IA32_PAT, 0x2C00)                                    \
  X(HOST_IA32_EFER, 0x2C02)                                   \
  X(PAGE_FAULT_ERROR_CODE_MASK, 0x4006)                       \
  X(CR3_TARGET_COUNT, 0x400A)                                 \
  X(VM_EXIT_MSR_STORE_COUNT, 0x400E)                          \
  X(VM_ENTRY_MSR_LOAD_COUNT, 0x4014)                          \
  X(VM_ENTRY_EXCEPTION_ERROR_CODE, 0x4018)                    \
  X(VM_ENTRY_INSTRUCTION_LEN, 0x401A)                         \
  X(VM_EXIT_INTR_ERROR_CODE, 0x4406)                          \
  X(IDT_VECTORING_INFO_FIELD, 0x4408)                         \
  X(IDT_VECTORING_ERROR_CODE, 0x440A)                         \
  X(VMX_INSTRUCTION_INFO, 0x440E)                             \
  X(GUEST_CS_LIMIT, 0x4802)                                   \
  X(GUEST_CS_AR_BYTES, 0x4816)                                \
  X(GUEST_SS_AR_BYTES, 0x4818)                                \
  X(CR0_GUEST_HOST_MASK, 0x6000)                              \
  X(CR4_GUEST_HOST_MASK, 0x6002)                              \
  X(CR0_READ_SHADOW, 0x6004)                                  \
  X(CR4_READ_SHADOW, 0x6006)                                  \
  X(GUEST_CS_BASE, 0x6808)                                    \
  X(GUEST_GDTR_BASE, 0x6816)                                  \
  X(GUEST_IDTR_BASE, 0x6818)                                  \
  X(GUEST_SYSENTER_ESP, 0x6824)                               \
  X(HOST_CR0, 0x6C00)                                         \
  X(HOST_CR4, 0x6C04)                                         \
  X(HOST_FS_BASE, 0x6C06)                                     \
  X(HOST_GS_BASE, 0x6C08)                                     \
  /* IPI virtualization (issue 4; SDM 25.6.2 tertiary controls, 25.6.8 "IPI virtualization") */ \
  X(LAST_PID_POINTER_INDEX, 0x0008)                           \
  X(PID_POINTER_TABLE, 0x2042)

enum class VmcsField : uint8_t {
#define KVMSIM_X(name, enc) name,
  KVMSIM_VMCS_FIELDS(KVMSIM_X)
#undef KVMSIM_X
  kCount
};
inline constexpr int kNumVmcsFields = static_cast<int>(VmcsField::kCount);

uint32_t vmcs_encoding(VmcsField f);
std::string_view vmcs_field_name(VmcsField f);
// -1 if the encoding is not a field the model implements.
int vmcs_field_from_encoding(uint32_t encoding);

// The 4-KiB MSR bitmap (SDM 24.6.9): read-low 0x000, read-high 0x400, write-low 0x800,
// write-high 0xC00; a set bit means the access exits. "Low" covers MSRs 0-0x1FFF,
// "high" 0xC0000000-0xC0001FFF; every other MSR always exits.
class MsrBitmap {
 public:
  MsrBitmap() { bits_.set(); }  // everything intercepted until KVM opens holes
  bool read_exits(uint32_t msr) const { return exits(msr, 0x000); }
  bool write_exits(uint32_t msr) const { return exits(msr, 0x800); }
  void intercept(uint32_t msr, bool read, bool write) { set(msr, 0x000, read); set(msr, 0x800, write); }
  // Nested VMX: an access exits if either bitmap intercepts it (vmcs01's and vmcs12's).
  void merge_intercepts(const MsrBitmap& a, const MsrBitmap& b) { bits_ = a.bits_ | b.bits_; }

 private:
  static int bit_index(uint32_t msr, int base) {
    if (msr <= 0x1FFF) return base * 8 + static_cast<int>(msr);
    if (msr >= 0xC0000000u && msr <= 0xC0001FFFu) return (base + 0x400) * 8 + static_cast<int>(msr - 0xC0000000u);
    return -1;
  }
  bool exits(uint32_t msr, int base) const {
    int i = bit_index(msr, base);
    return i < 0 || bits_.test(static_cast<size_t>(i));
  }
  void set(uint32_t msr, int base, bool v) {
    int i = bit_index(msr, base);
    if (i >= 0) bits_.set(static_cast<size_t>(i), v);
  }
  std::bitset<4096 * 8> bits_;
};

class Vmcs {
 public:
  uint64_t read(VmcsField f) const { return fields_[static_cast<size_t>(f)]; }
  void write(VmcsField f, uint64_t v) { fields_[static_cast<size_t>(f)] = v; }
  uint32_t pin() const { return static_cast<uint32_t>(read(VmcsField::PIN_BASED_VM_EXEC_CONTROL)); }
  uint32_t primary() const { return static_cast<uint32_t>(read(VmcsField::CPU_BASED_VM_EXEC_CONTROL)); }
  // Secondary controls count only when the primary control activates them (SDM 24.6.2).
  uint32_t secondary() const {
    return (primary() & (1u << 31)) ? static_cast<uint32_t>(read(VmcsField::SECONDARY_VM_EXEC_CONTROL)) : 0;
  }
  // Tertiary controls count only when primary bit 17 activates them (SDM 25.6.2).
  uint64_t tertiary() const {
    return (primary() & (1u << 17)) ? read(VmcsField::TERTIARY_VM_EXEC_CONTROL) : 0;
  }
  void set_bits(VmcsField f, uint64_t bits, bool on) { write(f, on ? (read(f) | bits) : (read(f) & ~bits)); }
  bool eoi_exit(uint8_t vector) const {
    auto f = static_cast<VmcsField>(static_cast<int>(VmcsField::EOI_EXIT_BITMAP0) + vector / 64);
    return (read(f) >> (vector % 64)) & 1;
  }
  void set_eoi_exit(uint8_t vector, bool on) {
    auto f = static_cast<VmcsField>(static_cast<int>(VmcsField::EOI_EXIT_BITMAP0) + vector / 64);
    set_bits(f, 1ull << (vector % 64), on);
  }

  // Referenced structures (physical addresses on real hardware).
  MsrBitmap* msr_bitmap = nullptr;
  LapicRegisters* virtual_apic = nullptr;
  PiDesc* pi_desc = nullptr;
  const PidPointerTable* pid_table = nullptr;  // PID_POINTER_TABLE (IPI virtualization)
  const IcrMonitor* icr_monitor = nullptr;
  bool launched = false;
  // Bare metal (vm.bare_metal): the same core runs the program natively; no VMX transition
  // costs are charged and the "exits" are the host kernel's own service paths.
  bool native = false;

 private:
  std::array<uint64_t, kNumVmcsFields> fields_{};
};

}  // namespace hw
