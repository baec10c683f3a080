// tools/strata/info.cpp — `strata info`: what this build of strata is and every knob it reads. The report
// itself is libstrata's (info_text, info_json in strata/info.hpp), which `python3 -m strata info`
// prints too.
#include "strata/info.hpp"

#include <cstdio>

#include "cli.hpp"

namespace strata::tool {

int info_main(int argc, char** argv) {
  CLI::App app{
      "Prints the version, the chip backends and every tunable with its environment variable, type,\n"
      "default and effective value.",
      argv[0]};
  bool as_json = false;
  app.add_flag("--json", as_json, "all of it as one JSON object (numbers as numbers)");
  if (int rc = cli::parse(app, argc, argv); rc >= 0) return rc;
  if (as_json)
    std::printf("%s\n", strata::info_json().c_str());
  else
    std::fputs(strata::info_text().c_str(), stdout);
  std::fflush(stdout);
  return 0;
}

}  // namespace strata::tool
