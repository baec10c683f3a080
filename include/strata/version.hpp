// strata/version.hpp — the library version, for code that must check it at compile or run time.
#pragma once

#define STRATA_VERSION_MAJOR 0
#define STRATA_VERSION_MINOR 1
#define STRATA_VERSION_PATCH 0

namespace strata {
/// "MAJOR.MINOR.PATCH" of the library actually linked.
const char* version() noexcept;
}  // namespace strata
