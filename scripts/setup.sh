#!/usr/bin/env bash
# Installs the Debian packages that building and testing strata needs, if any are missing.
#
# Idempotent and silent when everything is there. Otherwise runs `apt-get update` once and
# `apt-get install -y` for just the missing packages, through sudo when not run as root.
# Set STRATA_SKIP_SETUP=1 to skip this step (e.g. on a machine you provision yourself).
set -euo pipefail

if [[ "${STRATA_SKIP_SETUP:-0}" == 1 ]]; then
  exit 0
fi

# cmake/ninja/g++: the build (g++ brings libasan, libubsan and libtsan for the sanitizer presets);
# libgtest-dev + googletest: the tests; libbenchmark-dev: bench/; pkg-config: dependency discovery;
# nlohmann-json3-dev: the trace the runtime writes and `strata trace` reads; python3: the SVG check.
packages=(cmake ninja-build g++ libgtest-dev googletest libbenchmark-dev pkg-config nlohmann-json3-dev python3)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: not a Debian-based system (no dpkg-query); make sure these are installed:" >&2
  echo "  ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
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
