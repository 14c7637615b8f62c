// Subcommands of kvmsim defined outside kvmsim.cc (argc/argv as main's; argv[1] is the command).
#pragma once

int cmd_calibrate(int argc, char** argv);  // kvmsim calibrate PLATFORM MEASUREMENTS... [--out FILE]
int cmd_validate(int argc, char** argv);   // kvmsim validate [--json] [--quick]
