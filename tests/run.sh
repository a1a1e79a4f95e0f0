#!/usr/bin/env bash
# Runs the whole test suite: unit tests (no mount), mount tests (differential
# against kernel overlayfs; need root and /dev/fuse) and the strata tool tests.
#   tests/run.sh              build in ./build and run everything
#   tests/run.sh --sanitize   the same in ./build-asan under ASan + UBSan
#   tests/run.sh --tsan       the unit tests in ./build-tsan under ThreadSanitizer
#   extra arguments after -- go to `meson test` (e.g. -- --suite unit)
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build="$top/build"
setup_args=()
extra=()
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) build="$top/build-asan"; setup_args=(-Db_sanitize=address,undefined -Db_lundef=false -Dbench=false) ;;
    --tsan) build="$top/build-tsan"; setup_args=(-Dtsan=true -Dbench=false); targets=(tests/unit/unit_tests) ;;
    --) shift; extra+=("$@"); break ;;
    *) echo "usage: $0 [--sanitize|--tsan] [-- MESON-TEST-ARGS]" >&2; exit 2 ;;
  esac
  shift
done

"$top/tools/install-deps.sh" || exit 1
if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "${setup_args[@]}" >/dev/null || exit 1
fi
ninja -C "$build" -j"$(nproc)" "${targets[@]}" || exit 1

if [ ${#targets[@]} -gt 0 ]; then
  # ThreadSanitizer: only the unit tests (the inode table's concurrency test
  # among them) are built and run, straight from their binary.
  TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} "$build/tests/unit/unit_tests"
  exit $?
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mounts() { awk '{for (i = 7; i <= NF; i++) if ($i == "-") { t = $(i + 1); if (t ~ /^fuse/ || t == "overlay") print $5; break }}' /proc/self/mountinfo | sort; }
before=$(mounts)
log=$(mktemp)
meson test -C "$build" --print-errorlogs --num-processes 1 "${extra[@]}" 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
ok=$(sed -n 's/^Ok:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -1)
fail=$(sed -n 's/^Fail:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -1)
timeout=$(sed -n 's/^Timeout:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -1)
skipped=$(sed -n 's/^Skipped:[[:space:]]*\([0-9]*\).*/\1/p' "$log" | tail -1)
rm -f "$log"
echo "${ok:-0} passed, $(( ${fail:-0} + ${timeout:-0} )) failed, ${skipped:-0} skipped"
# Nothing a test mounted may survive it.
left=$(comm -13 <(echo "$before") <(mounts))
if [ -n "$left" ]; then
  echo "leftover mounts after the tests:" >&2
  echo "$left" >&2
  rc=1
fi
exit "$rc"
