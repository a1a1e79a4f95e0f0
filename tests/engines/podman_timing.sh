#!/usr/bin/env bash
# Wall time of the podman scenario (podman_scenario.sh: import, 4-step build,
# runs, diff, commit, two parallel containers, cleanup) for kernel overlayfs
# (podman's native overlay driver), fuse-overlayfs and stratafs as
# mount_program. Not part of the test suite (it measures, it does not check):
#   STRATAFS=build/fs/stratafs tests/engines/podman_timing.sh [ROUNDS]
# Prints one line per back end with the time of each round and the median.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
eng_init timing
rounds=${1:-3}
fuse_overlayfs=$(command -v fuse-overlayfs || true)
echo "backend          rounds (s)                      median (s)"
for backend in kernel fuse-overlayfs stratafs; do
  case $backend in
    kernel) prog="" ;;
    fuse-overlayfs) prog=$fuse_overlayfs; [ -n "$prog" ] || { echo "fuse-overlayfs: not installed"; continue; } ;;
    stratafs) prog=$STRATAFS ;;
  esac
  times=()
  for r in $(seq 1 "$rounds"); do
    timeout 600 "$here/podman_scenario.sh" "$backend" "$prog" "$ENG_TMP/ans-$backend-$r" "$ENG_TMP" >/dev/null 2>&1 || { echo "$backend: scenario failed"; continue 2; }
    times+=("$(cat "$ENG_TMP/ans-$backend-$r/seconds")")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  printf '%-16s %-31s %s\n' "$backend" "${times[*]}" "$median"
done
