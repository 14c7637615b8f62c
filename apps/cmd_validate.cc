// kvmsim validate [--json] [--quick] [--reference FILE] [--scenarios DIR] [--only TEXT]
// Every published number of the seeds (validation/reference/seeds.csv, the file's header
// explains the columns) simulated: published, simulated, error, tolerance, pass/fail. A row
// whose scenario is missing, or whose run rejects a key of a mechanism not built yet, is
// pending (never passing). The work is in apps/validate_seeds.h (shared with Python).
#include <cstdio>
#include <iostream>
#include <string>

#include "apps/commands.h"
#include "apps/validate_seeds.h"

int cmd_validate(int argc, char** argv) {
  bool json = false;
  tools::ValidateOptions opt;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json") json = true;
    else if (a == "--quick") opt.quick = true;
    else if (a == "--reference" && i + 1 < argc) opt.reference = argv[++i];
    else if (a == "--scenarios" && i + 1 < argc) opt.scenarios = argv[++i];
    else if (a == "--only" && i + 1 < argc) opt.only = argv[++i];
    else {
      std::fprintf(stderr, "usage: kvmsim validate [--json] [--quick] [--reference FILE] [--scenarios DIR] [--only TEXT]\n");
      return 2;
    }
  }
  const tools::ValidateResult r = tools::validate_seeds(opt);
  if (json) {
    std::cout << r.to_json().dump(2) << "\n";
  } else {
    std::cout << r.table;
    std::printf("\n%d rows: %d pass, %d fail, %d pending (scenario or mechanism not built yet)\n", r.passed + r.failed + r.pending,
                r.passed, r.failed, r.pending);
  }
  return r.failed ? 1 : 0;
}
