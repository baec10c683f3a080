#!/usr/bin/env bash
# Installs what is missing, builds strata (preset `release`) and runs `strata demo`.
# Arguments are passed to `strata demo`, e.g. `scripts/demo.sh --help`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
echo "== configuring and building (preset release) =="
cmake --preset release --log-level=WARNING >/dev/null
cmake --build --preset release --target strata_tool --parallel "$(nproc 2>/dev/null || echo 2)"
exec build/release/bin/strata demo "$@"
