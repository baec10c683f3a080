// util/config.hpp — every tunable of strata, declared once: name, environment variable, type, default
// and one line of documentation. `strata info` prints the table.
//
// Values are read from the environment once per process (the first time a tunable is asked for) and
// never change afterwards (get_string_now, for one testing aid, is the exception); any thread may read them.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace strata::config {

enum class Type { Int, Bytes, Millis, String };

struct Tunable {
  const char* name;  // e.g. "task_ring"
  const char* env;   // e.g. "STRATA_TASK_RING"
  Type type;
  const char* fallback;  // the default, as text
  const char* doc;
};

/// Every tunable, in a stable order.
std::span<const Tunable> all();

/// The effective value of a numeric tunable (environment if set and valid, else the default).
/// Unknown names are a programming error and abort.
uint64_t get_u64(const char* name);
/// The effective value of a string tunable.
std::string get_string(const char* name);
/// A string tunable read from the environment now, not from the snapshot: only for a testing aid that a
/// test sets just before it builds a Worker (STRATA_SIM_FAULTS), whose value the Worker then hands to its
/// children itself.
std::string get_string_now(const char* name);
/// The effective value as text, as `strata info` prints it.
std::string effective(const Tunable& t);

}  // namespace strata::config
