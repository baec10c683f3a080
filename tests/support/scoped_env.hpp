// tests/support/scoped_env.hpp — sets an environment variable for the life of a scope.
//
// For what strata reads from the environment when a Worker is built (the sim backend's fault injection,
// STRATA_SIM_FAULTS): set in the constructor, restored (or unset) in the destructor. CTest runs one test
// per process, but a guard leaves the environment as it found it all the same. Not thread-safe (setenv):
// use it on the test's thread, before the Worker is built.
#pragma once

#include <cstdlib>
#include <optional>
#include <string>

namespace strata::test {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> old_;
};

}  // namespace strata::test
