// Where the documents of a YAML text start, counting at most `max` of them. Both YAML
// loaders (scenarios, platforms) use this instead of YAML::LoadAll: in yaml-cpp 0.7
// LoadAll loops forever on a stray ',' (jbeder/yaml-cpp#1040) because the parser stops
// advancing and keeps reporting empty documents at the same position.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace sim {

std::vector<YAML::Mark> yaml_document_starts(const std::string& text, size_t max = 2);

}  // namespace sim
