// worker/info.cpp — info_text() and info_json() (strata/info.hpp): what `strata info` and
// `python3 -m strata info` print.
//
// The tunables come from the one table in util/config.hpp, so nothing is listed here by hand: a tunable
// added there shows up here. The text shows byte counts also in binary units ("268435456 (256 MiB)");
// the JSON object's numeric defaults and values are numbers.
#include "strata/info.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "comm/backend.hpp"
#include "strata/version.hpp"
#include "util/config.hpp"
#include "util/text.hpp"

namespace strata {
namespace {

using Json = nlohmann::ordered_json;

const char* type_name(config::Type t) {
  switch (t) {
    case config::Type::Int:
      return "int";
    case config::Type::Bytes:
      return "bytes";
    case config::Type::Millis:
      return "ms";
    case config::Type::String:
      return "string";
  }
  return "?";
}

void append_table(const std::vector<std::vector<std::string>>& rows, std::string* out) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line = " ";
    for (size_t c = 0; c < row.size(); ++c) {
      line += ' ';
      line += row[c];
      // The last column (the doc line) is not padded: no trailing blanks.
      if (c + 1 < row.size()) line.append(width[c] - row[c].size() + 1, ' ');
    }
    *out += line + "\n";
  }
}

// A tunable's value as the table shows it: byte counts also in binary units.
std::string shown(const config::Tunable& t, const std::string& value) {
  if (t.type != config::Type::Bytes) return value;
  return value + " (" + util::bytes_text(std::stoull(value)) + ")";
}

// A tunable's value as JSON: a number unless it is a string tunable.
Json json_value(const config::Tunable& t, const std::string& value) {
  if (t.type == config::Type::String) return value;
  return static_cast<uint64_t>(std::stoull(value));
}

}  // namespace

std::string info_text() {
  const std::vector<std::string> backends = comm::backend_names();
  const std::string def = config::get_string("backend");
  std::string out = "strata " + std::string(version()) + "\n\nbackends:\n";
  for (const std::string& b : backends) {
    const bool is_default = b == def || b.starts_with(def + " ");
    out += "  " + b + (is_default ? "  (default)" : "") + "\n";
  }
  out += "\ntunables (set the environment variable to override the default):\n";
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"name", "environment", "type", "default", "value", "description"});
  for (const config::Tunable& t : config::all()) {
    const std::string value = config::effective(t);
    rows.push_back({t.name, t.env, type_name(t.type), shown(t, t.fallback),
                    shown(t, value) + (value != t.fallback ? " *" : ""), t.doc});
  }
  append_table(rows, &out);
  out += "\n  * set from the environment\n";
  return out;
}

std::string info_json() {
  Json j;
  j["version"] = version();
  j["backends"] = Json::array();
  for (const std::string& b : comm::backend_names()) j["backends"].push_back(b);
  j["default_backend"] = config::get_string("backend");
  j["tunables"] = Json::array();
  for (const config::Tunable& t : config::all()) {
    const std::string value = config::effective(t);
    j["tunables"].push_back({{"name", t.name},
                             {"environment", t.env},
                             {"type", type_name(t.type)},
                             {"default", json_value(t, t.fallback)},
                             {"value", json_value(t, value)},
                             {"from_environment", value != t.fallback},
                             {"description", t.doc}});
  }
  return j.dump();
}

}  // namespace strata
