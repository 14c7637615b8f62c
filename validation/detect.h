// Which tool printed this text? Content sniffing, so `kvmsim compare` can take any file.
#pragma once

#include <string_view>

namespace validation {

enum class Format { PerfKvmStat, Ftrace, Cyclictest, VmexitLog, KvmStats, Unknown };

const char* to_string(Format f);
// The Format whose to_string is `name` ("perf-kvm-stat", "ftrace", ...); Unknown otherwise.
Format format_from_string(std::string_view name);

// Looks at the first 4096 lines at most; never throws.
Format detect_format(std::string_view text);

}  // namespace validation
