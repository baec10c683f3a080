#!/usr/bin/env bash
# Runs strata's benchmarks beside their peers on this machine, in one go, and prints the ratios the goals
# are stated in.
#
#   scripts/bench.sh [all|dispatch|comm|pod] [extra flags for `strata bench dispatch`, e.g. --tasks 20000]
#
# dispatch (strata bench dispatch --chips 2 vs StarPU with 2 CPU workers and the Open MPI ping-pong):
#   chain        strata chain_us_per_task / StarPU chained us per task               goal <= 1
#   independent  strata independent_tasks_per_s / StarPU independent tasks per second goal >= 1
#   roundtrip    strata roundtrip_us_median / Open MPI shared-memory round trip        (for reference)
#   python       python3 -m strata.bench dispatch (the same, orchestrated from Python) / strata's figure
#                above, per figure                                                       (for reference)
# comm (2 and 4 chips / ranks):
#   alloc        strata bench domain alloc_release_us_median (1 MiB window) /
#                MPI split + shared window + free median (peers/run winalloc N)        goal <= 0.25
#   allreduce    strata bench allreduce busbw_GBps / MPI_Allreduce busbw (peers/run allreduce N), at 1 MiB
#                and 16 MiB                                                            goal >= 2 (2 chips), >= 1.5 (4)
#   membw        strata busbw / single-thread memcpy bandwidth (peers/run membw)       (fraction of the limit)
#   allgather, reducescatter, broadcast, alltoall
#                strata bench <kind> busbw / MPI_Allgather|MPI_Reduce_scatter_block|MPI_Bcast|MPI_Alltoall
#                busbw (bench/mpi/mpi_collectives.c, built here with mpicc), 1 MiB and 16 MiB  goal >= 2 (2 chips)
#   bf16/f32     strata bench allreduce --dtype bf16 elements_per_s / the same with --dtype f32  goal >= 1.5
# pod (mpirun -n 2 strata bench pod: a pod over MPI beside MPI in the same job; peers/run pingpong for reference):
#   pod roundtrip  a run() of one task on rank 1 / MPI's 8-byte ping-pong round trip     goal <= 3
#   pod 16 MiB     a 16 MiB INOUT task's bandwidth (to rank 1 and back) / MPI's 16 MiB p2p  goal >= 0.5
# Builds the `release` preset (build/release), or a Release tree in $STRATA_BUILD_DIR if that is set. The
# peers live in shared/peers beside the repository and install their Debian packages (Open MPI, StarPU)
# on first use. Timings vary with the machine's load: run it on a quiet machine and compare only
# figures of one run.
set -euo pipefail
root=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
peers="$root/../shared/peers/run"
cd "$root"
[ -x "$peers" ] || { echo "bench.sh: the peer baselines are missing (expected $peers)" >&2; exit 1; }

what=all
case "${1:-}" in
  all | dispatch | comm | pod) what=$1; shift ;;
esac

scripts/setup.sh
if [ -n "${STRATA_BUILD_DIR:-}" ]; then
  echo "== configuring and building (Release in $STRATA_BUILD_DIR)"
  cmake -S . -B "$STRATA_BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release --log-level=WARNING >/dev/null
  cmake --build "$STRATA_BUILD_DIR" --target strata_tool --parallel "$(nproc)"
  strata=$STRATA_BUILD_DIR/bin/strata
  build=$STRATA_BUILD_DIR
else
  echo "== configuring and building (preset release)"
  cmake --preset release --log-level=WARNING >/dev/null
  cmake --build --preset release --target strata_tool --parallel "$(nproc)"
  strata=build/release/bin/strata
  build=build/release
fi
# The Python package, when this build has it (STRATA_BUILD_PYTHON): its dispatch figures go beside the C++ ones.
python_bench=0
if grep -q '^STRATA_BUILD_PYTHON:BOOL=ON' "$build/CMakeCache.txt"; then
  cmake --build "$build" --target strata_python --parallel "$(nproc)"
  python_bench=1
fi
echo "== load: $(uptime | sed 's/.*load average/load average/')  cores: $(nproc)"

# field NAME TEXT: the number after `NAME=` (peer lines) or `"NAME": ` (strata's JSON).
field() { grep -oE "(\"$1\": *|(^| )$1=)[0-9.eE+-]+" <<<"$2" | head -n1 | sed -E 's/.*[:=] *//'; }
# need VAR...: every named variable was read.
need() {
  for v in "$@"; do
    [ -n "${!v}" ] || { echo "bench.sh: could not read $v from the output above" >&2; exit 1; }
  done
}
ratios=()

if [ "$what" = all ] || [ "$what" = dispatch ]; then
  echo "== dispatch: peers"
  starpu_out=$("$peers" starpu 2)
  echo "$starpu_out"
  pingpong_out=$("$peers" pingpong)
  echo "$pingpong_out"

  echo "== strata bench dispatch --chips 2 $*"
  strata_out=$("$strata" bench dispatch --chips 2 "$@")
  echo "$strata_out"

  starpu_chain_us=$(field us_per_task "$(grep '^starpu_chain' <<<"$starpu_out")")
  starpu_indep_tps=$(field tasks_per_s "$(grep '^starpu_independent' <<<"$starpu_out")")
  mpi_rt_us=$(field median "$(grep '^mpi_pingpong_roundtrip_us' <<<"$pingpong_out")")
  chain_us=$(field chain_us_per_task "$strata_out")
  indep_tps=$(field independent_tasks_per_s "$strata_out")
  rt_us=$(field roundtrip_us_median "$strata_out")
  need starpu_chain_us starpu_indep_tps mpi_rt_us chain_us indep_tps rt_us

  if [ "$python_bench" = 1 ]; then
    echo "== python3 -m strata.bench dispatch --chips 2 $*"
    py_out=$(PYTHONPATH="$build/python" /usr/bin/python3 -m strata.bench dispatch --chips 2 "$@")
    echo "$py_out"
    py_chain_us=$(field chain_us_per_task "$py_out")
    py_indep_tps=$(field independent_tasks_per_s "$py_out")
    py_rt_us=$(field roundtrip_us_median "$py_out")
    need py_chain_us py_indep_tps py_rt_us
    ratios+=("$(awk -v c="$py_chain_us" -v sc="$chain_us" -v i="$py_indep_tps" -v si="$indep_tps" \
      -v r="$py_rt_us" -v sr="$rt_us" 'BEGIN {
      printf "python chain        %9.3f us/task  strata %9.3f us/task  ratio %.2f  (target <= 3 us: %s)\n",
             c, sc, c / sc, (c <= 3 ? "met" : "not met")
      printf "python independent  %9.0f tasks/s  strata %9.0f tasks/s  ratio %.2f\n", i, si, i / si
      printf "python roundtrip    %9.3f us       strata %9.3f us       ratio %.2f  (target <= 10 us: %s)",
             r, sr, r / sr, (r <= 10 ? "met" : "not met")
    }')")
  fi

  ratios+=("$(awk -v c="$chain_us" -v sc="$starpu_chain_us" -v i="$indep_tps" -v si="$starpu_indep_tps" \
    -v r="$rt_us" -v mr="$mpi_rt_us" 'BEGIN {
    printf "chain        strata %9.3f us/task  starpu %9.3f us/task  ratio %.2f  (goal <= 1: %s)\n",
           c, sc, c / sc, (c <= sc ? "met" : "not met")
    printf "independent  strata %9.0f tasks/s  starpu %9.0f tasks/s  ratio %.2f  (goal >= 1: %s)\n",
           i, si, i / si, (i >= si ? "met" : "not met")
    printf "roundtrip    strata %9.3f us       mpi    %9.3f us       ratio %.2f", r, mr, r / mr
  }')")
fi

if [ "$what" = all ] || [ "$what" = comm ]; then
  echo "== comm: memory bandwidth"
  # The probe exits non-zero whatever it measured (its exit status is a by-product of its checksum), so
  # only its output counts.
  membw_out=$("$peers" membw || true)
  echo "$membw_out"
  memcpy_gbps=$(field memcpy_64MiB_GBps "$membw_out")
  need memcpy_gbps
  for n in 2 4; do
    echo "== comm: $n chips / ranks"
    winalloc_out=$("$peers" winalloc "$n")
    echo "$winalloc_out"
    mpi_alloc_us=$(field median "$(grep '^mpi_win_alloc_free_us' <<<"$winalloc_out")")
    domain_out=$("$strata" bench domain --chips "$n" --window 1048576)
    echo "$domain_out"
    alloc_us=$(field alloc_release_us_median "$domain_out")
    need mpi_alloc_us alloc_us
    ratios+=("$(awk -v n="$n" -v s="$alloc_us" -v m="$mpi_alloc_us" 'BEGIN {
      printf "alloc      %d chips  1 MiB    strata %9.1f us    mpi %9.1f us    ratio %.3f  (goal <= 0.25: %s)",
             n, s, m, s / m, (s <= 0.25 * m ? "met" : "not met") }')")

    allreduce_out=$("$peers" allreduce "$n")
    echo "$allreduce_out"
    goal=$([ "$n" = 2 ] && echo 2 || echo 1.5)
    for bytes in 1048576 16777216; do
      mpi_busbw=$(field busbw_GBps "$(grep "^mpi_allreduce ranks=$n bytes=$bytes " <<<"$allreduce_out")")
      ar_out=$("$strata" bench allreduce --chips "$n" --bytes "$bytes")
      echo "$ar_out"
      busbw=$(field busbw_GBps "$ar_out")
      need mpi_busbw busbw
      grep -q '"correct": *true' <<<"$ar_out" || { echo "bench.sh: strata bench allreduce gave a wrong result" >&2; exit 1; }
      ratios+=("$(awk -v n="$n" -v b="$bytes" -v s="$busbw" -v m="$mpi_busbw" -v g="$goal" -v mc="$memcpy_gbps" 'BEGIN {
        printf "allreduce  %d chips  %2d MiB   strata %6.2f GB/s  mpi %6.2f GB/s  ratio %.2f  (goal >= %s: %s)  %.0f%% of memcpy %.1f GB/s",
               n, b / 1048576, s, m, s / m, g, (s >= g * m ? "met" : "not met"), 100 * s / mc, mc }')")
    done

    # The other collectives against the project's own MPI peer (bench/mpi), built with the peers' Open MPI.
    mpi_bin=${PEERS_BUILD:-/tmp/peers-build}/strata_mpi_collectives
    mkdir -p "$(dirname "$mpi_bin")"
    [ "$mpi_bin" -nt bench/mpi/mpi_collectives.c ] || mpicc -O2 -o "$mpi_bin" bench/mpi/mpi_collectives.c
    # Open MPI allocates its temporaries on every call, and glibc gives large ones back to the kernel, so
    # each call would fault them in again (microseconds a page on a VM): MPI_Reduce_scatter_block spent
    # 5 ms on 1 MiB that way. The malloc settings keep freed memory, so the figures are MPI's own.
    coll_out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 MALLOC_MMAP_THRESHOLD_=1073741824 \
      MALLOC_TRIM_THRESHOLD_=4294967295 MALLOC_TOP_PAD_=67108864 timeout 600 mpirun --oversubscribe \
      --mca mpi_yield_when_idle 1 -n "$n" "$mpi_bin" 2>/dev/null | grep -E '^mpi_')
    echo "$coll_out"
    for bytes in 1048576 16777216; do
      for kind in allgather reducescatter broadcast alltoall; do
        case $kind in
          allgather) peer=mpi_allgather ;;
          reducescatter) peer=mpi_reduce_scatter ;;
          broadcast) peer=mpi_bcast ;;
          alltoall) peer=mpi_alltoall ;;
        esac
        mpi_busbw=$(field busbw_GBps "$(grep "^$peer ranks=$n bytes=$bytes " <<<"$coll_out")")
        c_out=$("$strata" bench "$kind" --chips "$n" --bytes "$bytes")
        echo "$c_out"
        busbw=$(field busbw_GBps "$c_out")
        need mpi_busbw busbw
        grep -q '"correct": *true' <<<"$c_out" || { echo "bench.sh: strata bench $kind gave a wrong result" >&2; exit 1; }
        ratios+=("$(awk -v k="$kind" -v n="$n" -v b="$bytes" -v s="$busbw" -v m="$mpi_busbw" -v g=2 'BEGIN {
          printf "%-13s %d chips  %2d MiB   strata %6.2f GB/s  mpi %6.2f GB/s  ratio %.2f  ", k, n, b / 1048576, s, m, s / m
          if (n == 2) printf "(goal >= %s: %s)", g, (s >= g * m ? "met" : "not met"); else printf "(goal set for 2 chips only)" }')")
      done
      # bf16 against f32 allreduce, both through the Orchestrator's call, in elements per second.
      f32_out=$("$strata" bench allreduce --chips "$n" --bytes "$bytes" --dtype f32)
      bf16_out=$("$strata" bench allreduce --chips "$n" --bytes "$bytes" --dtype bf16)
      echo "$f32_out"
      echo "$bf16_out"
      f32_eps=$(field elements_per_s "$f32_out")
      bf16_eps=$(field elements_per_s "$bf16_out")
      need f32_eps bf16_eps
      ratios+=("$(awk -v n="$n" -v b="$bytes" -v h="$bf16_eps" -v f="$f32_eps" 'BEGIN {
        printf "bf16/f32 allreduce %d chips  %2d MiB   bf16 %.3g el/s  f32 %.3g el/s  ratio %.2f  (goal >= 1.5: %s)",
               n, b / 1048576, h, f, h / f, (h >= 1.5 * f ? "met" : "not met") }')")
    done
  done
fi

if [ "$what" = all ] || [ "$what" = pod ]; then
  echo "== pod over MPI (2 ranks)"
  "$peers" pingpong | grep '^mpi_pingpong' || true
  pod_out=$(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 600 mpirun --oversubscribe -n 2 \
    "$strata" bench pod)
  echo "$pod_out"
  rt_ratio=$(field roundtrip_vs_mpi "$pod_out")
  bw_ratio=$(field inout_vs_mpi "$pod_out")
  pod_rt=$(field pod_roundtrip_us "$pod_out")
  mpi_pp=$(field mpi_pingpong_us "$pod_out")
  pod_bw=$(field pod_inout_16mib_GBps "$pod_out")
  mpi_bw=$(field mpi_p2p_16mib_GBps "$pod_out")
  need rt_ratio bw_ratio pod_rt mpi_pp pod_bw mpi_bw
  grep -q '"ok": *true' <<<"$pod_out" || { echo "bench.sh: strata bench pod gave a wrong result" >&2; exit 1; }
  ratios+=("$(awk -v r="$rt_ratio" -v p="$pod_rt" -v m="$mpi_pp" 'BEGIN {
    printf "pod roundtrip  strata %8.2f us    mpi ping-pong %8.2f us    ratio %.2f  (goal <= 3: %s)", p, m, r, (r <= 3 ? "met" : "not met") }')")
  ratios+=("$(awk -v r="$bw_ratio" -v p="$pod_bw" -v m="$mpi_bw" 'BEGIN {
    printf "pod 16 MiB     strata %8.2f GB/s  mpi p2p       %8.2f GB/s  ratio %.2f  (goal >= 0.5: %s)", p, m, r, (r >= 0.5 ? "met" : "not met") }')")
fi

echo "== ratios"
printf '%s\n' "${ratios[@]}"
