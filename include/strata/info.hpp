// strata/info.hpp — the report `strata info` prints: the version, the chip backends and every tunable.
// The `strata` tool and the Python package (`python3 -m strata info`) both print it from here.
#pragma once

#include <string>

namespace strata {
/// What `strata info` prints: the version, the chip backends (the default marked) and the table of every
/// tunable (name, environment variable, type, default, effective value, description). Lines end in '\n'.
std::string info_text();
/// What `strata info --json` prints: one JSON object on one line, without the newline. Fields: version,
/// backends, default_backend, tunables (each: name, environment, type, default, value, from_environment,
/// description); numeric defaults and values are numbers.
std::string info_json();
}  // namespace strata
