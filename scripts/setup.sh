#!/usr/bin/env bash
# Installs the Debian packages that building and testing strata needs, if any are missing, then checks
# that the CMake found is new enough (3.25; Ubuntu 22.04, for one, ships 3.22).
#
# Idempotent and silent when everything is there. Otherwise runs `apt-get update` once and
# `apt-get install -y` for just the missing packages, through sudo when not run as root. Exits non-zero,
# saying why, when a package cannot be installed or CMake is too old.
# Set STRATA_SKIP_SETUP=1 to skip this step (e.g. on a machine you provision yourself).
set -euo pipefail

if [[ "${STRATA_SKIP_SETUP:-0}" == 1 ]]; then
  exit 0
fi

# cmake/ninja/g++: the build (g++ brings libasan, libubsan and libtsan for the sanitizer presets);
# libgtest-dev + googletest: the tests; nlohmann-json3-dev: the trace the runtime writes, `strata trace`,
# and the JSON the tool and the benchmarks print; libcli11-dev: the command-line flags of the tool and
# the benchmarks; python3: the SVG check; python3-dev, pybind11-dev, python3-numpy, python3-pytest: the
# Python package (python/) and its tests, built for Debian's interpreter; libopenblas0: numpy's BLAS with
# a thread pool, as users have it (the tests fork after `import numpy` started it).
packages=(cmake ninja-build g++ libgtest-dev googletest nlohmann-json3-dev libcli11-dev python3 python3-dev
          pybind11-dev python3-numpy python3-pytest libopenblas0 libopenmpi-dev openmpi-bin)
cmake_minimum=3.25

# Fails unless `cmake` is at least $cmake_minimum, saying which one was found and what to do.
check_cmake() {
  if ! command -v cmake >/dev/null 2>&1; then
    echo "setup.sh: cmake not found; strata needs CMake $cmake_minimum or newer" >&2
    exit 1
  fi
  local version
  version=$(cmake --version | sed -n '1s/^cmake version \([0-9][0-9.]*\).*/\1/p')
  if [[ -z "$version" ]] || ! printf '%s\n%s\n' "$cmake_minimum" "$version" | sort -C -V; then
    echo "setup.sh: strata needs CMake $cmake_minimum or newer; $(command -v cmake) is ${version:-of unknown version}." >&2
    echo "  Install a newer one (e.g. 'pip install cmake', Kitware's APT repository, or a release from" >&2
    echo "  cmake.org) and put it first on PATH." >&2
    exit 1
  fi
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: not a Debian-based system (no dpkg-query); make sure these are installed:" >&2
  echo "  ${packages[*]}" >&2
  check_cmake
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
  check_cmake
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup.sh: missing packages (${missing[*]}) and not root, and sudo is not installed." >&2
    echo "  Install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "setup.sh: installing missing packages: ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
check_cmake
