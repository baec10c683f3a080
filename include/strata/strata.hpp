// strata/strata.hpp — the whole public API of strata in one include.
//
// strata orchestrates tasks across the chips of an accelerator node: see worker.hpp for the entry
// point, kernel.hpp for writing kernels, types.hpp for task arguments and errors.hpp for failures.
#pragma once

#include "strata/errors.hpp"
#include "strata/kernel.hpp"
#include "strata/types.hpp"
#include "strata/version.hpp"
#include "strata/worker.hpp"
