// tools/strata/info.cpp — `strata info`: what this build of strata is and every knob it reads.
//
// The tunables come from the one table in util/config.hpp, so nothing is listed here by hand: a tunable
// added there shows up here. The text shows byte counts also in binary units ("268435456 (256 MiB)");
// --json prints one object whose numeric defaults and values are numbers.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "cli.hpp"
#include "comm/backend.hpp"
#include "strata/version.hpp"
#include "util/config.hpp"
#include "util/text.hpp"

namespace strata::tool {
namespace {

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

void print_table(const std::vector<std::vector<std::string>>& rows) {
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
    std::printf("%s\n", line.c_str());
  }
}

// A tunable's value as the table shows it: byte counts also in binary units.
std::string shown(const config::Tunable& t, const std::string& value) {
  if (t.type != config::Type::Bytes) return value;
  return value + " (" + util::bytes_text(std::stoull(value)) + ")";
}

// A tunable's value as JSON: a number unless it is a string tunable.
cli::Json json_value(const config::Tunable& t, const std::string& value) {
  if (t.type == config::Type::String) return value;
  return static_cast<uint64_t>(std::stoull(value));
}

void print_json(const std::vector<std::string>& backends, const std::string& default_backend) {
  cli::Json j;
  j["version"] = strata::version();
  j["backends"] = cli::Json::array();
  for (const std::string& b : backends) j["backends"].push_back(b);
  j["default_backend"] = default_backend;
  j["tunables"] = cli::Json::array();
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
  cli::print_json(j);
}

}  // namespace

int info_main(int argc, char** argv) {
  CLI::App app{
      "Prints the version, the chip backends and every tunable with its environment variable, type,\n"
      "default and effective value.",
      argv[0]};
  bool as_json = false;
  app.add_flag("--json", as_json, "all of it as one JSON object (numbers as numbers)");
  if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;

  const std::vector<std::string> backends = comm::backend_names();
  const std::string def = config::get_string("backend");
  if (as_json) {
    print_json(backends, def);
    return 0;
  }
  std::printf("strata %s\n\n", strata::version());

  std::printf("backends:\n");
  for (const std::string& b : backends) {
    bool is_default = b == def || b.starts_with(def + " ");
    std::printf("  %s%s\n", b.c_str(), is_default ? "  (default)" : "");
  }

  std::printf("\ntunables (set the environment variable to override the default):\n");
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"name", "environment", "type", "default", "value", "description"});
  for (const config::Tunable& t : config::all()) {
    const std::string value = config::effective(t);
    rows.push_back({t.name, t.env, type_name(t.type), shown(t, t.fallback),
                    shown(t, value) + (value != t.fallback ? " *" : ""), t.doc});
  }
  print_table(rows);
  std::printf("\n  * set from the environment\n");
  return 0;
}

}  // namespace strata::tool
