// child/callables.hpp — what a Worker can run, by id: kernels (chips), host callables (subs) and
// orchestration functions (child Workers).
//
// The parent fills the tables as the user registers; a child gets its copy by fork and looks entries up
// by the id a task frame carries. Kernels loaded after init() (load_kernel, register_kernel by name)
// reach a chip's copy through a LoadKernel frame. Ids are positions and never change.
#pragma once

#include <string>
#include <vector>

#include "comm/backend.hpp"
#include "strata/worker.hpp"

namespace strata::child {

struct KernelEntry {
  std::string name;
  comm::KernelImpl impl;
  std::string library;  // non-empty for load_kernel
};
struct HostEntry {
  std::string name;
  HostCallable fn;
};
struct OrchEntry {
  std::string name;
  OrchCallable fn;
};

struct Callables {
  std::vector<KernelEntry> kernels;
  std::vector<HostEntry> hosts;
  std::vector<OrchEntry> orchs;
};

}  // namespace strata::child
