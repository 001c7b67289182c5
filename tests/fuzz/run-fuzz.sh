#!/usr/bin/env bash
# run-fuzz.sh FUZZER CORPUS: a bounded libFuzzer run for CI.
#
# Fuzzes from a copy of the committed seed corpus CORPUS (new inputs do not
# land in the tree) for $BSNAP_FUZZ_SECONDS seconds (default 30), with
# ASan+UBSan (built in by -DBSNAP_FUZZ=ON), and prints one line:
#   fuzz-run TARGET: N executions in S s (R/s), corpus A -> B inputs
# A crash, leak, timeout or sanitizer report fails the run; the input that
# did it is printed (base64) and kept in $BSNAP_FUZZ_ARTIFACTS (default: a
# directory next to the build) so it can become a regression seed in CORPUS.
set -euo pipefail
fuzzer=$1 corpus=$2
secs=${BSNAP_FUZZ_SECONDS:-30}
target=$(basename "$fuzzer")
target=${target#fuzz-}
[ -x "$fuzzer" ] || { echo "run-fuzz: no fuzzer $fuzzer"; exit 1; }
[ -d "$corpus" ] || { echo "run-fuzz: no corpus $corpus"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/bsnap-fuzz-$target.XXXXXX")
trap 'rm -rf "$work"' EXIT
artifacts=${BSNAP_FUZZ_ARTIFACTS:-$(dirname "$fuzzer")/artifacts}
mkdir -p "$work/corpus" "$artifacts"
cp -r "$corpus"/. "$work/corpus/"
before=$(find "$work/corpus" -type f | wc -l)
rc=0
ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=1:halt_on_error=1 \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-}:halt_on_error=1:print_stacktrace=1 \
    "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$target-" "$work/corpus" >"$work/log" 2>&1 || rc=$?
after=$(find "$work/corpus" -type f | wc -l)
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
if [ "$rc" -ne 0 ]; then
    tail -n 60 "$work/log"
    for a in "$artifacts/$target"-*; do
        [ -f "$a" ] || continue
        echo "run-fuzz: input that failed ($a), base64:"
        base64 "$a" | head -c 4000
        echo
    done
    echo "fuzz-run $target: FAILED (exit $rc) after ${execs:-?} executions"
    exit 1
fi
echo "fuzz-run $target: ${execs:-?} executions in $secs s (${rate:-?}/s), corpus $before -> $after inputs"
