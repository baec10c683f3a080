// strata/strata.hpp — the whole public API of strata in one include.
//
// strata orchestrates tasks across the chips of an accelerator node: see worker.hpp for the entry
// point, kernel.hpp for writing kernels, types.hpp for task arguments and errors.hpp for failures,
// status.hpp for what a Worker is doing and progress.hpp for a progress line on long work.
#pragma once

#include "strata/errors.hpp"
#include "strata/kernel.hpp"
#include "strata/progress.hpp"
#include "strata/status.hpp"
#include "strata/types.hpp"
#include "strata/version.hpp"
#include "strata/worker.hpp"
