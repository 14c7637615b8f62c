#include "hw/vmcs.h"

namespace hw {
namespace {

constexpr uint32_t kEncodings[] = {
#define KVMSIM_X(name, enc) enc,
    KVMSIM_VMCS_FIELDS(KVMSIM_X)
#undef KVMSIM_X
};
constexpr std::string_view kNames[] = {
#define KVMSIM_X(name, enc) #name,
    KVMSIM_VMCS_FIELDS(KVMSIM_X)
#undef KVMSIM_X
};

}  // namespace

uint32_t vmcs_encoding(VmcsField f) { return kEncodings[static_cast<size_t>(f)]; }
std::string_view vmcs_field_name(VmcsField f) { return kNames[static_cast<size_t>(f)]; }

int vmcs_field_from_encoding(uint32_t encoding) {
  for (int i = 0; i < kNumVmcsFields; ++i)
    if (kEncodings[i] == encoding) return i;
  return -1;
}

}  // namespace hw
