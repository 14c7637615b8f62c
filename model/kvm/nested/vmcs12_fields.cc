#include "kvm/nested/vmcs12_fields.h"

#include <array>

#include "hw/vmx.h"

namespace kvm::nested {

using hw::VmcsField;

namespace {

struct FieldTables {
  std::array<ShadowKind, hw::kNumVmcsFields> shadow{};
  std::array<int8_t, hw::kNumVmcsFields> group{};
};

const FieldTables& tables() {
  static const FieldTables t = [] {
    FieldTables x;
    x.group.fill(EVMCS_GROUP_NONE);
    auto ro = [&](VmcsField f) { x.shadow[static_cast<size_t>(f)] = ShadowKind::ReadOnly; };
    auto rw = [&](VmcsField f) { x.shadow[static_cast<size_t>(f)] = ShadowKind::ReadWrite; };
    // vmcs_shadow_fields.h (the fields the model has; GUEST_INTR_STATUS and GUEST_PML_INDEX
    // and the preemption timer only when the CPU has the feature: Broadwell has them).
    rw(VmcsField::GUEST_INTR_STATUS);
    rw(VmcsField::GUEST_PML_INDEX);
    rw(VmcsField::HOST_FS_SELECTOR);
    rw(VmcsField::HOST_GS_SELECTOR);
    ro(VmcsField::VM_EXIT_REASON);
    ro(VmcsField::VM_EXIT_INTR_INFO);
    ro(VmcsField::VM_EXIT_INSTRUCTION_LEN);
    ro(VmcsField::VM_EXIT_INTR_ERROR_CODE);
    ro(VmcsField::IDT_VECTORING_INFO_FIELD);
    ro(VmcsField::IDT_VECTORING_ERROR_CODE);
    ro(VmcsField::GUEST_CS_AR_BYTES);
    ro(VmcsField::GUEST_SS_AR_BYTES);
    rw(VmcsField::CPU_BASED_VM_EXEC_CONTROL);
    rw(VmcsField::PIN_BASED_VM_EXEC_CONTROL);
    rw(VmcsField::EXCEPTION_BITMAP);
    rw(VmcsField::VM_ENTRY_EXCEPTION_ERROR_CODE);
    rw(VmcsField::VM_ENTRY_INTR_INFO_FIELD);
    rw(VmcsField::VM_ENTRY_INSTRUCTION_LEN);
    rw(VmcsField::TPR_THRESHOLD);
    rw(VmcsField::GUEST_INTERRUPTIBILITY_INFO);
    rw(VmcsField::VMX_PREEMPTION_TIMER_VALUE);
    ro(VmcsField::EXIT_QUALIFICATION);
    ro(VmcsField::GUEST_LINEAR_ADDRESS);
    rw(VmcsField::GUEST_RIP);
    rw(VmcsField::GUEST_RSP);
    rw(VmcsField::GUEST_CR0);
    rw(VmcsField::GUEST_CR3);
    rw(VmcsField::GUEST_CR4);
    rw(VmcsField::GUEST_RFLAGS);
    rw(VmcsField::CR0_GUEST_HOST_MASK);
    rw(VmcsField::CR0_READ_SHADOW);
    rw(VmcsField::CR4_READ_SHADOW);
    rw(VmcsField::HOST_FS_BASE);
    rw(VmcsField::HOST_GS_BASE);
    ro(VmcsField::GUEST_PHYSICAL_ADDRESS);

    // hyperv_evmcs.c: the clean-field group of each field.
    auto g = [&](VmcsField f, int grp) { x.group[static_cast<size_t>(f)] = static_cast<int8_t>(grp); };
    g(VmcsField::IO_BITMAP_A, HV_VMX_ENLIGHTENED_CLEAN_FIELD_IO_BITMAP);
    g(VmcsField::IO_BITMAP_B, HV_VMX_ENLIGHTENED_CLEAN_FIELD_IO_BITMAP);
    g(VmcsField::MSR_BITMAP, HV_VMX_ENLIGHTENED_CLEAN_FIELD_MSR_BITMAP);
    g(VmcsField::TSC_OFFSET, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP2);
    g(VmcsField::VIRTUAL_APIC_PAGE_ADDR, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP2);
    g(VmcsField::TSC_MULTIPLIER, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP2);
    g(VmcsField::PIN_BASED_VM_EXEC_CONTROL, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1);
    g(VmcsField::VM_EXIT_CONTROLS, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1);
    g(VmcsField::SECONDARY_VM_EXEC_CONTROL, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1);
    g(VmcsField::PAGE_FAULT_ERROR_CODE_MASK, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1);
    g(VmcsField::CR3_TARGET_COUNT, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1);
    g(VmcsField::VM_EXIT_MSR_STORE_COUNT, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1);
    g(VmcsField::VM_ENTRY_MSR_LOAD_COUNT, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1);
    g(VmcsField::CPU_BASED_VM_EXEC_CONTROL, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_PROC);
    g(VmcsField::TPR_THRESHOLD, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_PROC);
    g(VmcsField::VM_ENTRY_INTR_INFO_FIELD, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_EVENT);
    g(VmcsField::VM_ENTRY_EXCEPTION_ERROR_CODE, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_EVENT);
    g(VmcsField::VM_ENTRY_INSTRUCTION_LEN, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_EVENT);
    g(VmcsField::VM_ENTRY_CONTROLS, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_ENTRY);
    g(VmcsField::EXCEPTION_BITMAP, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_EXCPN);
    g(VmcsField::GUEST_CR0, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CRDR);
    g(VmcsField::GUEST_CR3, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CRDR);
    g(VmcsField::GUEST_CR4, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CRDR);
    g(VmcsField::CR0_GUEST_HOST_MASK, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CRDR);
    g(VmcsField::CR4_GUEST_HOST_MASK, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CRDR);
    g(VmcsField::CR0_READ_SHADOW, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CRDR);
    g(VmcsField::CR4_READ_SHADOW, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CRDR);
    g(VmcsField::EPT_POINTER, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_XLAT);
    g(VmcsField::VIRTUAL_PROCESSOR_ID, HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_XLAT);
    g(VmcsField::GUEST_RSP, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_BASIC);
    g(VmcsField::GUEST_RFLAGS, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_BASIC);
    g(VmcsField::GUEST_INTERRUPTIBILITY_INFO, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_BASIC);
    g(VmcsField::GUEST_ACTIVITY_STATE, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP1);
    g(VmcsField::GUEST_IA32_PAT, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP1);
    g(VmcsField::GUEST_IA32_EFER, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP1);
    g(VmcsField::GUEST_SYSENTER_ESP, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP1);
    g(VmcsField::VMCS_LINK_POINTER, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP1);
    g(VmcsField::GUEST_INTR_STATUS, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP1);
    g(VmcsField::GUEST_ES_SELECTOR, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2);
    g(VmcsField::GUEST_CS_SELECTOR, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2);
    g(VmcsField::GUEST_CS_LIMIT, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2);
    g(VmcsField::GUEST_CS_AR_BYTES, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2);
    g(VmcsField::GUEST_SS_AR_BYTES, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2);
    g(VmcsField::GUEST_CS_BASE, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2);
    g(VmcsField::GUEST_GDTR_BASE, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2);
    g(VmcsField::GUEST_IDTR_BASE, HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2);
    g(VmcsField::HOST_RSP, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_POINTER);
    g(VmcsField::HOST_RIP, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_POINTER);
    g(VmcsField::HOST_CR0, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    g(VmcsField::HOST_CR3, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    g(VmcsField::HOST_CR4, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    g(VmcsField::HOST_FS_SELECTOR, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    g(VmcsField::HOST_GS_SELECTOR, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    g(VmcsField::HOST_FS_BASE, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    g(VmcsField::HOST_GS_BASE, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    g(VmcsField::HOST_IA32_PAT, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    g(VmcsField::HOST_IA32_EFER, HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1);
    // Fields eVMCSv1 has no slot for (PLE, posted interrupts, preemption timer, EOI-exit
    // bitmaps...) stay in no group; L1 cannot use them (evmcs1_filter_caps).
    return x;
  }();
  return t;
}

}  // namespace

ShadowKind shadow_field_kind(VmcsField f) { return tables().shadow[static_cast<size_t>(f)]; }
int evmcs_group(VmcsField f) { return tables().group[static_cast<size_t>(f)]; }

std::string_view evmcs_group_name(int group) {
  static constexpr std::string_view kNames[kEvmcsGroups] = {
      "IO_BITMAP", "MSR_BITMAP", "CONTROL_GRP2", "CONTROL_GRP1", "CONTROL_PROC", "CONTROL_EVENT",
      "CONTROL_ENTRY", "CONTROL_EXCPN", "CRDR", "CONTROL_XLAT", "GUEST_BASIC", "GUEST_GRP1",
      "GUEST_GRP2", "HOST_POINTER", "HOST_GRP1", "ENLIGHTENMENTSCONTROL"};
  return group >= 0 && group < kEvmcsGroups ? kNames[group] : "NONE";
}

bool is_exit_info_field(VmcsField f) {
  switch (f) {
    case VmcsField::VM_EXIT_REASON:
    case VmcsField::VM_EXIT_INTR_INFO:
    case VmcsField::VM_EXIT_INTR_ERROR_CODE:
    case VmcsField::VM_EXIT_INSTRUCTION_LEN:
    case VmcsField::VMX_INSTRUCTION_INFO:
    case VmcsField::IDT_VECTORING_INFO_FIELD:
    case VmcsField::IDT_VECTORING_ERROR_CODE:
    case VmcsField::EXIT_QUALIFICATION:
    case VmcsField::GUEST_LINEAR_ADDRESS:
    case VmcsField::GUEST_PHYSICAL_ADDRESS:
    case VmcsField::VM_INSTRUCTION_ERROR:
      return true;
    default:
      return false;
  }
}

uint32_t evmcs1_unsupported_pin() { return hw::PIN_BASED_VMX_PREEMPTION_TIMER | hw::PIN_BASED_POSTED_INTR; }

uint32_t evmcs1_unsupported_secondary() {
  return hw::SECONDARY_EXEC_VIRTUAL_INTR_DELIVERY | hw::SECONDARY_EXEC_APIC_REGISTER_VIRT |
         hw::SECONDARY_EXEC_SHADOW_VMCS | hw::SECONDARY_EXEC_TSC_SCALING | hw::SECONDARY_EXEC_PAUSE_LOOP_EXITING;
}

hw::VmxCapabilities evmcs1_filter_caps(hw::VmxCapabilities caps) {
  caps.preemption_timer = false;
  caps.posted_interrupts = false;
  caps.apicv = false;
  caps.vmcs_shadowing = false;
  caps.tsc_scaling = false;
  caps.ple = false;
  caps.ipiv = false;
  return caps;
}

int evmcs1_violations(const hw::Vmcs& v) {
  int n = 0;
  n += __builtin_popcount(v.pin() & evmcs1_unsupported_pin());
  n += __builtin_popcount(v.secondary() & evmcs1_unsupported_secondary());
  return n;
}

}  // namespace kvm::nested
