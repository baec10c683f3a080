#!/usr/bin/env bash
# Installs what is missing, builds strata and runs its tests (labels unit, integration, fault, python and mpi).
#
#   scripts/test.sh                 # preset `release` (`ci`, warnings as errors, when CI=true)
#   scripts/test.sh --sanitizers    # also the `asan` (ASan+UBSan) and `tsan` presets
#                                   # (or STRATA_TEST_SANITIZERS=1)
#
# After the tests it checks that they left nothing behind: no new entry in /dev/shm and no process
# started from this build still running. Exits non-zero if anything failed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
self="$root/scripts/test.sh"
cd "$root"

sanitizers="${STRATA_TEST_SANITIZERS:-0}"
for arg in "$@"; do
  case "$arg" in
    --sanitizers) sanitizers=1 ;;
    -h | --help)
      sed -n '2,9s/^# \{0,1\}//p' "$self"
      exit 0
      ;;
    *)
      echo "test.sh: unknown argument '$arg' (try --help)" >&2
      exit 2
      ;;
  esac
done

scripts/setup.sh

presets=(release)
if [[ "${CI:-}" == true ]]; then
  presets=(ci)
fi
if [[ "$sanitizers" == 1 ]]; then
  presets+=(asan tsan)
fi

# Processes whose executable lives in one of our build trees, as "pid exe" lines.
build_processes() {
  local pid exe preset
  for pid in /proc/[0-9]*; do
    pid="${pid#/proc/}"
    exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || continue
    for preset in "${presets[@]}"; do
      if [[ "$exe" == "$root/build/$preset/"* ]]; then
        echo "$pid $exe"
        break
      fi
    done
  done
}

shm_entries() { find /dev/shm -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort || true; }

shm_before="$(shm_entries)"
procs_before="$(build_processes | cut -d' ' -f1 | sort)"

jobs="$(nproc 2>/dev/null || echo 2)"  # build and test parallelism: the core count
failed=()
run_preset() {
  local preset="$1"
  local -a wrap=()
  echo "== preset $preset: configure =="
  cmake --preset "$preset" --log-level=WARNING >/dev/null || return 1
  echo "== preset $preset: build =="
  cmake --build --preset "$preset" --parallel "$jobs" || return 1
  # gcc 12's TSan cannot map its shadow memory with the higher ASLR entropy of newer kernels
  # (vm.mmap_rnd_bits > 28): run those tests with address randomisation off.
  if [[ "$preset" == tsan && "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ]]; then
    wrap=(setarch "$(uname -m)" -R)
  fi
  echo "== preset $preset: test (labels unit|integration|fault|python|mpi; asan: no python; tsan: unit|integration|fault) =="
  "${wrap[@]}" ctest --preset "$preset" --output-on-failure --parallel "$jobs" || return 1
}

for preset in "${presets[@]}"; do
  if ! run_preset "$preset"; then
    failed+=("$preset")
  fi
done

# Leftovers. A child killed because its parent exited may take a moment to disappear from /proc, so
# leftover processes are looked for a few times over about two seconds before they count.
leftover=""
for _ in 1 2 3 4 5 6 7 8 9 10; do
  leftover="$(build_processes | sort | join -v1 - <(echo "$procs_before") || true)"
  [[ -z "$leftover" ]] && break
  sleep 0.2
done
if [[ -n "$leftover" ]]; then
  echo "test.sh: FAIL: processes from this build are still running after the tests:" >&2
  while read -r pid exe; do
    echo "  pid $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || echo "$exe")" >&2
  done <<<"$leftover"
  echo "  killing them (SIGKILL)" >&2
  while read -r pid _; do kill -KILL "$pid" 2>/dev/null || true; done <<<"$leftover"
  failed+=("leftover-processes")
fi

shm_after="$(shm_entries)"
shm_new="$(comm -13 <(echo "$shm_before") <(echo "$shm_after"))"
if [[ -n "$shm_new" ]]; then
  echo "test.sh: FAIL: new entries in /dev/shm after the tests:" >&2
  sed 's/^/  \/dev\/shm\//' <<<"$shm_new" >&2
  failed+=("dev-shm")
fi

if [[ ${#failed[@]} -ne 0 ]]; then
  echo "test.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "test.sh: all passed (${presets[*]}); nothing left in /dev/shm, no process left running"
