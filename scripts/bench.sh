#!/usr/bin/env bash
# Runs strata's dispatch benchmark beside its peers on this machine and prints the ratios:
#   chain        strata chain_us_per_task (2 chips)      / StarPU chained us per task (2 CPU workers)  goal <= 1
#   independent  strata independent_tasks_per_s (2 chips) / StarPU independent tasks per second        goal >= 1
#   roundtrip    strata roundtrip_us_median              / Open MPI shared-memory ping-pong round trip (for reference)
# Usage: scripts/bench.sh [extra flags for `strata bench dispatch`, e.g. --tasks 20000 --reps 7]
# Builds the `release` preset (build/release), or a Release tree in $STRATA_BUILD_DIR if that is set. The peers live in shared/peers beside the repository and
# install their Debian packages (Open MPI, StarPU) on first use.
set -euo pipefail
root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
peers="$root/../shared/peers/run"
cd "$root"
[ -x "$peers" ] || { echo "bench.sh: the peer baselines are missing (expected $peers)" >&2; exit 1; }

scripts/setup.sh
if [ -n "${STRATA_BUILD_DIR:-}" ]; then
  echo "== configuring and building (Release in $STRATA_BUILD_DIR)"
  cmake -S . -B "$STRATA_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release --log-level=WARNING >/dev/null
  cmake --build "$STRATA_BUILD_DIR" --target strata_tool
  strata=$STRATA_BUILD_DIR/bin/strata
else
  echo "== configuring and building (preset release)"
  cmake --preset release --log-level=WARNING >/dev/null
  cmake --build --preset release --target strata_tool
  strata=build/release/bin/strata
fi

echo "== peers"
starpu_out=$("$peers" starpu 2)
echo "$starpu_out"
pingpong_out=$("$peers" pingpong)
echo "$pingpong_out"

echo "== strata bench dispatch --chips 2 $*"
strata_out=$("$strata" bench dispatch --chips 2 "$@")
echo "$strata_out"

# field NAME TEXT: the number after `NAME=` (peer lines) or `"NAME": ` (strata's JSON).
field() { grep -oE "(\"$1\": *|(^| )$1=)[0-9.eE+-]+" <<<"$2" | head -n1 | sed -E 's/.*[:=] *//'; }
starpu_chain_us=$(field us_per_task "$(grep '^starpu_chain' <<<"$starpu_out")")
starpu_indep_tps=$(field tasks_per_s "$(grep '^starpu_independent' <<<"$starpu_out")")
mpi_rt_us=$(field median "$(grep '^mpi_pingpong_roundtrip_us' <<<"$pingpong_out")")
chain_us=$(field chain_us_per_task "$strata_out")
indep_tps=$(field independent_tasks_per_s "$strata_out")
rt_us=$(field roundtrip_us_median "$strata_out")
for v in starpu_chain_us starpu_indep_tps mpi_rt_us chain_us indep_tps rt_us; do
  [ -n "${!v}" ] || { echo "bench.sh: could not read $v from the output above" >&2; exit 1; }
done

echo "== ratios"
awk -v c="$chain_us" -v sc="$starpu_chain_us" -v i="$indep_tps" -v si="$starpu_indep_tps" \
    -v r="$rt_us" -v mr="$mpi_rt_us" 'BEGIN {
  printf "chain        strata %9.3f us/task  starpu %9.3f us/task  ratio %.2f  (goal <= 1: %s)\n",
         c, sc, c / sc, (c <= sc ? "met" : "not met")
  printf "independent  strata %9.0f tasks/s  starpu %9.0f tasks/s  ratio %.2f  (goal >= 1: %s)\n",
         i, si, i / si, (i >= si ? "met" : "not met")
  printf "roundtrip    strata %9.3f us       mpi    %9.3f us       ratio %.2f\n", r, mr, r / mr
}'
