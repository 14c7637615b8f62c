#include "hw/mem_line.h"

#include <algorithm>

#include "hw/core.h"

namespace hw {

void MemLine::store(uint64_t v, int cpu, sim::Picos t) {
  old_ = new_;
  new_ = v;
  writer_ = cpu;
  stored_at_ = t;
  auto watchers = watchers_;  // a watcher may unwatch while being notified
  for (Core* c : watchers) c->notify_line(this, t);
}

void MemLine::watch(Core* c) {
  if (std::find(watchers_.begin(), watchers_.end(), c) == watchers_.end()) watchers_.push_back(c);
}

void MemLine::unwatch(Core* c) { std::erase(watchers_, c); }

}  // namespace hw
