#!/usr/bin/env bash
# Conv training speed, tessera and PyTorch interleaved on the same cores: for each repetition
# and each network, tessera (crates/tessera-train/examples/conv_step.rs) then PyTorch
# (bench/conv_reference.py), 2 threads each (RAYON_NUM_THREADS=2, torch.set_num_threads(2));
# THREADS=1 for the single-threaded comparison.
# The machine may be shared: interleaving makes both see about the same load; compare the two
# lines of one repetition (wall img/s and CPU ms per step).
#
# A third program (e.g. an older build of the example, BEFORE=path) runs after tessera.
# The example gets the purge setting the `tessera` binary sets for its allocator
# (MIMALLOC_PURGE_DECOMMITS=0: freed pages reset, not decommitted and faulted in again).
#
#     bench/conv_side_by_side.sh [REPS] [CNN_STEPS] [RESNET_STEPS]     (defaults 3, 10, 3)
set -euo pipefail
reps=${1:-3}
cnn_steps=${2:-10}
resnet_steps=${3:-3}
threads=${THREADS:-2}
cd "$(dirname "$0")/.."
cargo build --release -p tessera-train --example conv_step
tessera=${TESSERA:-target/release/examples/conv_step}
for rep in $(seq 1 "$reps"); do
  for net in cnn cnn_bn resnet resnet_bn; do
    case $net in cnn*) steps=$cnn_steps warmup=2 ;; *) steps=$resnet_steps warmup=1 ;; esac
    MIMALLOC_PURGE_DECOMMITS=0 RAYON_NUM_THREADS=$threads "$tessera" --nets "$net" --steps "$steps" --warmup "$warmup" | sed "s/ 0 / $rep /"
    if [ -n "${BEFORE:-}" ]; then
      RAYON_NUM_THREADS=$threads "$BEFORE" --nets "$net" --steps "$steps" --warmup "$warmup" | sed "s/^tessera/before/; s/ 0 / $rep /"
    fi
    OMP_NUM_THREADS=$threads python3 bench/conv_reference.py --threads "$threads" --nets "$net" --steps "$steps" --warmup "$warmup" |
      sed "s/ 0 / $rep /"
  done
done
