#!/usr/bin/env bash
# tests/mpi/run_case.sh — runs one case of a pod over MPI under a watchdog and checks what it left:
#
#   run_case.sh <limit seconds> <ranks> <program> [args...]
#
# Starts `mpirun --oversubscribe -n <ranks> <program> [args...]` (as root with the two variables Open
# MPI asks for), kills the whole job if it passes the limit, then fails unless it exited 0, no process of
# <program> is left on this machine, and /dev/shm holds nothing new. Prints the job's output.
set -uo pipefail
limit="$1" ranks="$2" program="$3"
shift 3

if [[ $(id -u) -eq 0 ]]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
shm_entries() { find /dev/shm -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort; }
# Processes running <program> (the ranks and every chip and helper they forked).
leftovers() {
  local pid exe
  for pid in /proc/[0-9]*; do
    exe="$(readlink "$pid/exe" 2>/dev/null)" || continue
    [[ "$exe" == "$program" ]] && echo "${pid#/proc/}"
  done
}

shm_before="$(shm_entries)"
# --enable-recovery: a rank's death is strata's to report; without it mpirun kills the job at once.
timeout -k 10 "$limit" mpirun --oversubscribe --enable-recovery -n "$ranks" "$program" "$@"
rc=$?
status=0
if [[ $rc -eq 124 || $rc -eq 137 ]]; then
  echo "run_case.sh: the job passed its limit of ${limit}s and was killed" >&2
  status=1
elif [[ $rc -ne 0 ]]; then
  echo "run_case.sh: the job exited with status $rc" >&2
  status=1
fi
# Give exiting processes a moment, then look.
for _ in $(seq 50); do
  [[ -z "$(leftovers)" ]] && break
  sleep 0.1
done
left="$(leftovers)"
if [[ -n "$left" ]]; then
  echo "run_case.sh: processes of $program left running: $(echo $left)" >&2
  kill -9 $left 2>/dev/null
  status=1
fi
new_shm="$(comm -13 <(echo "$shm_before") <(shm_entries))"
if [[ -n "$new_shm" ]]; then
  echo "run_case.sh: left in /dev/shm: $(echo $new_shm)" >&2
  status=1
fi
exit $status
