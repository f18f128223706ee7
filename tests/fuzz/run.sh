#!/bin/sh
# Runs one libFuzzer target for $SD_FUZZ_SECONDS (default 20) seconds:
#   run.sh FUZZER WORKDIR SEEDS REGRESSIONS
# New interesting inputs go to WORKDIR/corpus (the checked-in seeds stay
# as they are); a crashing input is written to WORKDIR/crash-<sha1> and the
# run fails. Keep such an input in REGRESSIONS once it is fixed.
set -eu
fuzzer=$1 work=$2 seeds=$3 regressions=$4
seconds=${SD_FUZZ_SECONDS:-20}
mkdir -p "$work/corpus"
set -- "$work/corpus" "$seeds"
[ -d "$regressions" ] && set -- "$@" "$regressions"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
  -max_len=16384 -print_final_stats=1 -artifact_prefix="$work/" "$@"
