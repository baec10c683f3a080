// strata/strata.hpp — strata's API for host programs in one include.
//
// strata orchestrates tasks across the chips of an accelerator node: see worker.hpp for the entry
// point, kernel.hpp for writing kernels, types.hpp for task arguments, domain.hpp for communication
// domains, errors.hpp for failures, status.hpp for what a Worker is doing and progress.hpp for a
// progress line on long work.
//
// One public header is not included here: strata/comm_kernel.hpp, the kernel-side toolkit for kernels
// that talk to their peers over a domain (peer addresses, signals, waits, a barrier; it brings
// comm_context.h, the C ABI of the context such a kernel receives). Kernel code that uses it includes it
// itself; a host program does not need it.
#pragma once

#include "strata/domain.hpp"
#include "strata/errors.hpp"
#include "strata/kernel.hpp"
#include "strata/progress.hpp"
#include "strata/status.hpp"
#include "strata/types.hpp"
#include "strata/version.hpp"
#include "strata/worker.hpp"
