// The engine of `kvmsim validate` (and of kvmsim.validate in Python): every row of the
// reference CSV (validation/reference/seeds.csv; its header explains the columns) simulated
// and checked. Runs are in-process and shared between rows with the same scenario and sets.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace tools {

struct ValidateOptions {
  std::string reference;  // CSV file; empty: the repository's validation/reference/seeds.csv
  std::string scenarios;  // directory of the rows' scenarios; empty: the repository's scenarios/
  bool quick = false;     // only the rows marked quick
  std::string only;       // only rows whose name or source contains this text
};

struct ValidateResult {
  // {"source", "name", "published", "simulated", "tolerance", "within_tolerance", "status",
  //  "scenario", "sets", "metric", "op", "error_pct"[, "pending_reason"]} per row, in CSV order.
  nlohmann::json rows = nlohmann::json::array();
  int passed = 0, failed = 0, pending = 0;
  std::string table;  // the text `kvmsim validate` prints
  nlohmann::json to_json() const;  // {"rows", "passed", "failed", "pending"} (`--json`)
};

// Throws std::runtime_error for an unreadable or malformed CSV; a row whose run fails is
// pending, never an exception.
ValidateResult validate_seeds(const ValidateOptions& opt);

}  // namespace tools
