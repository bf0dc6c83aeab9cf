#!/usr/bin/env bash
# Data-parallel scaling on this machine: one LoRA SFT step of the `small` preset at seq 512 as
# 1 rank x 2 threads and as 2 ranks x 1 thread (each rank its own sequence, the gradient
# allreduce included and timed apart), then the allreduce of a 7B LoRA r16 gradient (40M
# floats) between 2 ranks over loopback. One JSON line per measurement, after the load average.
#
#   make release && bench/mpi_scaling.sh
#
# The machine is shared: run it when `uptime` shows a low load, and run it twice.
set -euo pipefail
cd "$(dirname "$0")/.."
TRAIN=${TRAIN:-.build/release/train}
SEQ=${SEQ:-512}
STEPS=${STEPS:-5}
# Open MPI refuses to run as root without these; --bind-to none lets a rank use any core.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPIRUN=(mpirun --oversubscribe --bind-to none)
# Facet picks the OpenBLAS core itself (see the README's Performance section).
ENV=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE)

echo "load: $(uptime)"
echo -n '1 rank x 2 threads: '
"${ENV[@]}" "$TRAIN" bench --preset small --seq "$SEQ" --steps "$STEPS" --threads 2 --json
echo -n '2 ranks x 1 thread: '
"${ENV[@]}" "${MPIRUN[@]}" -np 2 "$TRAIN" bench --preset small --seq "$SEQ" --steps "$STEPS" --threads 1 --json
echo -n 'allreduce 40M floats, 2 ranks: '
"${ENV[@]}" "${MPIRUN[@]}" -np 2 "$TRAIN" bench allreduce --floats 40000000 --repeats 5 --json
echo "load: $(uptime)"
