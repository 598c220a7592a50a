#!/bin/sh
# Runs each libFuzzer harness for a bounded time and prints a table of the
# executions per harness. make fuzz calls it as
#   run-fuzzers.sh SECONDS SOURCE_FUZZ_DIR BUILD_FUZZ_DIR HARNESS...
# Each harness starts from SOURCE_FUZZ_DIR/corpus/HARNESS and
# SOURCE_FUZZ_DIR/regressions/HARNESS, which are only read. New corpus
# entries go to BUILD_FUZZ_DIR/corpus-run/HARNESS, crashing inputs to
# BUILD_FUZZ_DIR/crashes/HARNESS/ and the output to
# BUILD_FUZZ_DIR/HARNESS.fuzz.log. FUZZ_FLAGS adds libFuzzer options, such
# as -max_len=8192. The harnesses run under nice, to leave the CPU to
# interactive work.
set -u

if [ $# -lt 4 ]; then
  echo "usage: run-fuzzers.sh SECONDS SOURCE_FUZZ_DIR BUILD_FUZZ_DIR HARNESS..." >&2
  exit 2
fi
seconds=$1
source_dir=$2
build_dir=$3
shift 3
case $seconds in
  '' | *[!0-9]*)
    echo "run-fuzzers.sh: FUZZ_SECONDS must be a whole number of seconds, not '$seconds'." >&2
    exit 2 ;;
esac

# Prints the executions libFuzzer reported in a log, or nothing.
executions() {
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9][0-9]*\).*/\1/p' "$1" | tail -n 1)
  if [ -z "$runs" ]; then
    runs=$(sed -n 's/^#\([0-9][0-9]*\)[[:space:]]*DONE.*/\1/p' "$1" | tail -n 1)
  fi
  echo "$runs"
}

table=$(printf '%-12s %8s %12s %10s %11s  %s' harness seconds executions \
  'exec/s' 'new inputs' result)
failed=0
for harness in "$@"; do
  corpus=$build_dir/corpus-run/$harness
  crashes=$build_dir/crashes/$harness
  log=$build_dir/$harness.fuzz.log
  mkdir -p "$corpus" "$crashes" || exit 1
  before=$(ls "$corpus" | wc -l)
  dictionary=
  if [ -f "$source_dir/dict/$harness.dict" ]; then
    dictionary=-dict=$source_dir/dict/$harness.dict
  fi

  echo "fuzz_$harness: running for $seconds s, output in $log"
  # -close_fd_mask=3 silences the harness, but libFuzzer and the sanitizers
  # still report on a copy of stderr.
  # shellcheck disable=SC2086
  nice -n 10 "$build_dir/fuzz_$harness" -max_total_time="$seconds" \
    -timeout=10 -print_final_stats=1 -close_fd_mask=3 \
    -artifact_prefix="$crashes/" $dictionary ${FUZZ_FLAGS-} \
    "$corpus" "$source_dir/corpus/$harness" \
    "$source_dir/regressions/$harness" >"$log" 2>&1
  status=$?

  runs=$(executions "$log")
  rate=-
  if [ -n "$runs" ] && [ "$seconds" -gt 0 ]; then
    rate=$((runs / seconds))
  fi
  added=$(($(ls "$corpus" | wc -l) - before))
  result=ok
  if [ "$status" -ne 0 ]; then
    failed=1
    result="FAILED (exit $status; see $log and $crashes/)"
  fi
  table=$table$(printf '\n%-12s %8s %12s %10s %11s  %s' "$harness" \
    "$seconds" "${runs:--}" "$rate" "$added" "$result")
done

echo
echo "$table"
if [ "$failed" -ne 0 ]; then
  echo
  echo "A harness failed. Reproduce with fuzz/fuzz_HARNESS FILE, fix the bug," >&2
  echo "then copy the input into fuzz/regressions/HARNESS/ so make check replays it." >&2
  exit 1
fi
