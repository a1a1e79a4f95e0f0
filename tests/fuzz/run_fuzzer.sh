#!/bin/sh
# Runs one fuzz target for a bounded time over the corpus kept in the
# repository. New inputs go to a scratch directory (the kept corpus is only
# read); a crashing input is saved in the current directory as crash-*.
#   run_fuzzer.sh FUZZER CORPUS_DIR SECONDS      (STRATA_FUZZ_SECONDS overrides)
# FUZZER is a libFuzzer binary, or the deterministic driver built when clang
# is missing (it takes CORPUS_DIR SECONDS itself).
set -u
fuzzer=$1 corpus=$2 seconds=${STRATA_FUZZ_SECONDS:-$3}
top=$(mktemp -d /tmp/strata-fuzz-run-XXXXXX)
trap 'rm -rf "$top"' EXIT
export TMPDIR="$top"  # the targets' own scratch files go here too
case "$(basename "$fuzzer")" in
  *_driver) "$fuzzer" "$corpus" "$seconds"; exit $? ;;
esac
scratch=$top/corpus
log=$top/log
mkdir "$scratch"
"$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$PWD/crash-" "$scratch" "$corpus" >"$log" 2>&1
rc=$?
grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^INFO: seed corpus' "$log"
if [ "$rc" -ne 0 ]; then
  echo "fuzzer failed (exit $rc):"
  tail -40 "$log"
  exit 1
fi
echo "corpus: $(ls "$corpus" | wc -l) kept inputs, $(ls "$scratch" | wc -l) new this run"
