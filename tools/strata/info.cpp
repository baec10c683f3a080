// tools/strata/info.cpp — `strata info`: what this build of strata is and every knob it reads.
//
// The tunables come from the one table in util/config.hpp, so nothing is listed here by hand: a tunable
// added there shows up here.
#include <algorithm>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "cli.hpp"
#include "comm/backend.hpp"
#include "strata/version.hpp"
#include "util/config.hpp"

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

}  // namespace

int info_main(int argc, char** argv) {
  if (argc > 1) {
    std::string_view a = argv[1];
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: strata info\n  prints the version, the chip backends and every tunable with its "
          "environment variable, type, default and effective value\n");
      return 0;
    }
    std::fprintf(stderr, "strata info: unknown option '%s' (it takes none)\n", argv[1]);
    return kUsageExit;
  }

  std::printf("strata %s\n\n", strata::version());

  std::printf("backends:\n");
  std::string def = config::get_string("backend");
  for (const std::string& b : comm::backend_names()) {
    bool is_default = b == def || b.starts_with(def + " ");
    std::printf("  %s%s\n", b.c_str(), is_default ? "  (default)" : "");
  }

  std::printf("\ntunables (set the environment variable to override the default):\n");
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"name", "environment", "type", "default", "value", "description"});
  for (const config::Tunable& t : config::all()) {
    std::string value = config::effective(t);
    if (value != t.fallback) value += " *";
    rows.push_back({t.name, t.env, type_name(t.type), t.fallback, value, t.doc});
  }
  print_table(rows);
  std::printf("\n  * set from the environment\n");
  return 0;
}

}  // namespace strata::tool
