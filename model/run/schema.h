// Every key a scenario file may hold, with its type, default, range and meaning. The
// table in scenarios/README.md is generated from this (`kvmsim schema`).
#pragma once

#include "sim/config.h"

namespace run {

const sim::Schema& scenario_schema();

}  // namespace run
