#include "apps/commands.h"
int cmd_validate(int, char**) { return 2; }
