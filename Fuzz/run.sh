#!/usr/bin/env bash
# Runs one fuzz target (built by `make fuzz-build`) for SECONDS from its committed seeds
# (Fuzz/corpus/TARGET) plus what earlier runs found (.build-fuzz/corpus/TARGET), and prints its
# executions. A crash leaves its input as .build-fuzz/TARGET-crash-* and fails.
#
# HDF5Checkpoint runs as glibc would (a malloc libhdf5 asks of 2^64 bytes returns NULL, which it
# reports as an error) and with the leaks libhdf5 1.10 makes on its own error paths suppressed,
# as are the memory errors libhdf5 commits inside its own libc calls (Fuzz/libhdf5.asan.supp):
# Fuzz/libhdf5-open keeps such an input, on which libhdf5 1.10.8 crashes (Facet now refuses it
# before libhdf5 reads it: it has no checksum header; the target also fuzzes sealed inputs).
# Fuzz/libhdf5-findings keeps what it found when checkpoints held variable-length strings, whose
# corrupt global-heap references crashed or hung libhdf5 itself (FuzzFindingsTests).
set -uo pipefail
target=$1 seconds=$2
binary=.build-fuzz/release/Fuzz$target
mkdir -p .build-fuzz/corpus/$target
rm -f .build-fuzz/$target-crash-* .build-fuzz/$target-timeout-* .build-fuzz/$target-leak-*
options=(-max_total_time=$seconds -timeout=3 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=.build-fuzz/$target-)
if [[ $target == HDF5Checkpoint ]]; then
    export ASAN_OPTIONS=allocator_may_return_null=1:suppressions=Fuzz/libhdf5.asan.supp
    export LSAN_OPTIONS=suppressions=Fuzz/libhdf5.lsan.supp
fi
echo "fuzz $target for $seconds s"
"$binary" .build-fuzz/corpus/$target Fuzz/corpus/$target "${options[@]}" > .build-fuzz/$target.log 2>&1
status=$?
# A run that crashed or timed out never removed its input file (Fuzz/Support/FuzzInput.swift).
rm -f /dev/shm/facet-fuzz-*
grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' .build-fuzz/$target.log
[[ $status -eq 0 ]] || echo "fuzz $target failed: see .build-fuzz/$target.log"
exit $status
