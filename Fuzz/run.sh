#!/usr/bin/env bash
# Runs one fuzz target (built by `make fuzz-build`) for SECONDS from its committed seeds
# (Fuzz/corpus/TARGET) plus what earlier runs found (.build-fuzz/corpus/TARGET), and prints its
# executions. A crash leaves its input as .build-fuzz/TARGET-crash-* and fails.
#
# HDF5Checkpoint is special: libhdf5 1.10, on corrupt global-heap references of variable-length
# strings, loops forever, overlaps a memcpy or crashes (bugs of libhdf5 that Facet cannot reach
# through its API), and it reads heap memory it never wrote, looping on AddressSanitizer's fill
# pattern. That target runs in fork mode, which goes on after a crash or a hang, with fresh
# memory zeroed as glibc's is and libhdf5's own memcpy misuse and leaks suppressed; then every
# crash input is replayed, and one whose innermost frame outside glibc and the sanitizers is not
# in libhdf5 fails the run. Fuzz/libhdf5-findings keeps such inputs (`train inspect` hangs or
# crashes on them too) for whoever moves checkpoints off variable-length strings or to a fixed
# libhdf5.
set -uo pipefail
target=$1 seconds=$2
binary=.build-fuzz/release/Fuzz$target
mkdir -p .build-fuzz/corpus/$target
rm -f .build-fuzz/$target-crash-* .build-fuzz/$target-timeout-* .build-fuzz/$target-leak-*
options=(-max_total_time=$seconds -timeout=3 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix=.build-fuzz/$target-)
if [[ $target == HDF5Checkpoint ]]; then
    export ASAN_OPTIONS=max_malloc_fill_size=0:suppressions=Fuzz/libhdf5.asan.supp
    export LSAN_OPTIONS=suppressions=Fuzz/libhdf5.lsan.supp
    options+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
echo "fuzz $target for $seconds s"
"$binary" .build-fuzz/corpus/$target Fuzz/corpus/$target "${options[@]}" > .build-fuzz/$target.log 2>&1
status=$?
# A run that crashed or timed out never removed its input file (Fuzz/Support/FuzzInput.swift).
rm -f /dev/shm/facet-fuzz-*
# Fork mode reports its progress lines only ("#executions: ... exec/s: ...").
grep -E '^stat::(number_of_executed_units|average_exec_per_sec)' .build-fuzz/$target.log || grep -E '^#[0-9]+:' .build-fuzz/$target.log | tail -1
if [[ $target == HDF5Checkpoint ]]; then
    status=0
    for input in .build-fuzz/$target-crash-*; do
        [[ -e $input ]] || continue
        frame=$(timeout 60 "$binary" -runs=1 "$input" 2>&1 | grep -E '^ +#[0-9]+ 0x' | grep -vE 'libc\.so|sysdeps|compiler-rt|sanitizer' | head -1)
        if [[ -z $frame ]]; then
            echo "crash did not recur when replayed: $input"
        elif [[ $frame == *libhdf5* ]]; then
            echo "crash inside libhdf5 (known, see above): $input"
        else
            echo "crash outside libhdf5: $input: $frame"
            status=1
        fi
    done
fi
[[ $status -eq 0 ]] || echo "fuzz $target failed: see .build-fuzz/$target.log"
exit $status
