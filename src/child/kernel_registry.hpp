// child/kernel_registry.hpp — the program-wide registry of kernels defined with STRATA_KERNEL.
//
// Filled at static-initialisation time (and when a shared library with STRATA_KERNELs is dlopen'ed),
// read by Worker::register_kernel. Forked children inherit it. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "strata/kernel.hpp"

namespace strata::child {

/// The function registered as `name`, or nullptr.
KernelFn find_static_kernel(std::string_view name);
/// Names of every registered kernel (for error messages).
std::vector<std::string> static_kernel_names();

}  // namespace strata::child
