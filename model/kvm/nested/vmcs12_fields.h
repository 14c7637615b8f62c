// What an L1 hypervisor's VMCS accesses cost depends on the field (issue 7, reference §8):
//  - VMCS shadowing: the fields of Linux's arch/x86/kvm/vmx/vmcs_shadow_fields.h are in
//    the shadow VMCS (RO: exit information L1 only reads; RW: guest state and controls L1
//    changes on every exit); VMREAD/VMWRITE of any other field exits to L0.
//  - Hyper-V enlightened VMCS: every field lives in a page of L1 memory and belongs to one
//    hv_clean_fields group (hyperv_evmcs.c's field table); L0 copies only the groups L1
//    marked dirty. Fields in no group (exit information, GUEST_RIP) are always copied.
//  - eVMCSv1 cannot express some controls (EVMCS1_UNSUPPORTED_*): L0 hides them from L1's
//    VMX capabilities and fails a VM entry that sets them.
#pragma once

#include <cstdint>
#include <string_view>

#include "hw/platform.h"
#include "hw/vmcs.h"

namespace kvm::nested {

enum class ShadowKind : uint8_t { None, ReadOnly, ReadWrite };
ShadowKind shadow_field_kind(hw::VmcsField f);

// hv_clean_fields bits (HV_VMX_ENLIGHTENED_CLEAN_FIELD_*).
enum EvmcsGroup : int {
  EVMCS_GROUP_NONE = -1,  // always copied (no clean bit)
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_IO_BITMAP = 0,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_MSR_BITMAP = 1,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP2 = 2,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_GRP1 = 3,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_PROC = 4,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_EVENT = 5,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_ENTRY = 6,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_EXCPN = 7,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_CRDR = 8,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_CONTROL_XLAT = 9,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_BASIC = 10,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP1 = 11,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_GUEST_GRP2 = 12,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_POINTER = 13,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_HOST_GRP1 = 14,
  HV_VMX_ENLIGHTENED_CLEAN_FIELD_ENLIGHTENMENTSCONTROL = 15,
};
inline constexpr int kEvmcsGroups = 16;
inline constexpr uint32_t HV_VMX_ENLIGHTENED_CLEAN_FIELD_ALL = 0xFFFF;
int evmcs_group(hw::VmcsField f);
std::string_view evmcs_group_name(int group);

// Exit-information fields the CPU (or L0, for vmcs12) writes on a VM exit.
bool is_exit_info_field(hw::VmcsField f);

// eVMCSv1 limits (EVMCS1_UNSUPPORTED_PINCTRL / _2NDEXEC): controls it cannot express.
uint32_t evmcs1_unsupported_pin();
uint32_t evmcs1_unsupported_secondary();
// The VMX capabilities L0 offers L1 when L1 uses eVMCSv1 (nested_evmcs_filter_control_msr).
hw::VmxCapabilities evmcs1_filter_caps(hw::VmxCapabilities caps);
// Number of eVMCSv1-unsupported controls a vmcs12 sets (a failed VM entry if > 0).
int evmcs1_violations(const hw::Vmcs& vmcs12);

}  // namespace kvm::nested
