#!/usr/bin/env bash
# LC of the CIFAR-10 conv networks of issue 12 (the small CNN `CnnSpec::small_cifar` and the
# pre-activation ResNet18 of width 16, each with and without BN, BN in evaluation mode):
# `tessera lc` against the same algorithm as batched PyTorch (bench/lc_reference.py: the 2P
# vertices of a few points per forward pass, sign changes counted per neuron), on the same
# networks, points and frame, interleaved, 2 threads each. Counted: the activations fed by
# feature maps (`--layers conv`: the CNN's two conv layers, the ResNet's 16 block ReLUs), every
# channel x position a neuron. Per line: seconds for all points, points/s, and whether the
# per-point, per-layer counts of the two are identical; then tessera / PyTorch, by wall time and
# by CPU time (user + system; less sensitive to other load on the machine).
#
# The networks are tessera model directories trained briefly by `tessera train` (CNN 300 steps,
# ResNet 60 steps, batch 128, f32, CIFAR-10 batches 1-2), so that BN has running statistics;
# they, the points (the first POINTS CIFAR-10 test images, in [0, 1]) and the frame (P seeded
# orthonormal directions) are made once under WORK and reused. tessera is timed as a whole
# process (start, model load and CSV included); PyTorch as its best repetition in-process.
#
#     bench/conv_lc_side_by_side.sh 0                       # prepare only (train, points, frame)
#     bench/conv_lc_side_by_side.sh [REPS] [NETS] [DTYPES]  # defaults 1, "cnn cnn_bn resnet resnet_bn", "f64 f32"
#
# Environment: TESSERA_DATA (data root holding cifar10-jpg-derived/, default ../shared/data),
# WORK (/tmp/tessera-conv-lc), POINTS (1000), P (20), RADIUS (0.005, the conv figures' radius),
# THREADS (2), TESSERA (a tessera binary; default: build target/release/tessera),
# CNN_BATCH / RESNET_BATCH (points per PyTorch forward pass, 100 / 50: the fastest of those
# tried, 1-100 points, on this 2-core machine).
set -euo pipefail
reps=${1:-1}
nets=${2:-cnn cnn_bn resnet resnet_bn}
dtypes=${3:-f64 f32}
points=${POINTS:-1000}
p=${P:-20}
radius=${RADIUS:-0.005}
threads=${THREADS:-2}
work=${WORK:-/tmp/tessera-conv-lc}
cd "$(dirname "$0")/.."
data=$(realpath "${TESSERA_DATA:-../shared/data}")
if [ -z "${TESSERA:-}" ]; then
  cargo build --release -p tessera-cli
fi
tessera=${TESSERA:-target/release/tessera}
mkdir -p "$work"

# The newest checkpoint of a short training run of network $1, trained if missing.
model_dir() {
  local net=$1 run="$work/runs/$1"
  if ! ls -d "$run"/checkpoints/step_* >/dev/null 2>&1; then
    local bn=false model steps
    case $net in *_bn) bn=true ;; esac
    case $net in
      cnn*) steps=300 model="arch = \"cnn\"
convs = [{ channels = 32, max_pool = 2 }, { channels = 64, max_pool = 2 }]
hidden = [128]" ;;
      resnet*) steps=60 model="arch = \"resnet18\"
width = 16" ;;
    esac
    mkdir -p "$work/configs"
    cat >"$work/configs/$net.toml" <<TOML
seed = 0
[data]
dataset = "cifar10"
test_size = 1000
[model]
$model
batch_norm = $bn
dtype = "f32"
[optim]
kind = "adamw"
lr = 1e-3
weight_decay = 0.0
[train]
steps = $steps
batch_size = 128
loss = "cross_entropy"
checkpoint_at_eval = false
checkpoint_every = $steps
[eval]
count = 2
[lc]
enabled = false
TOML
    TESSERA_DATA=$data RAYON_NUM_THREADS=$threads "$tessera" train "$work/configs/$net.toml" --out "$run" >&2
  fi
  ls -d "$run"/checkpoints/step_* | sort -t_ -k2 -n | tail -1
}

for net in $nets; do model_dir "$net" >/dev/null; done
points_npy="$work/points-$points.npy" frame_npy="$work/frame-p$p.npy"
if [ ! -f "$points_npy" ] || [ ! -f "$frame_npy" ]; then
  python3 bench/lc_reference.py --model "$(model_dir "$(echo "$nets" | awk '{print $1}')")" --layers conv \
    --cifar10-test "$data" --points "$points" --p "$p" --radius "$radius" --batch 1 --repeat 0 \
    --save-points "$points_npy" --save-frame "$frame_npy" >/dev/null
fi

for rep in $(seq 1 "$reps"); do
  for net in $nets; do
    model=$(model_dir "$net")
    case $net in cnn*) batch=${CNN_BATCH:-100} ;; *) batch=${RESNET_BATCH:-50} ;; esac
    for dtype in $dtypes; do
      csv="$work/tessera-$net-$dtype-$points.csv"
      /usr/bin/time -f "%e %U %S" -o "$work/tessera-time" env RAYON_NUM_THREADS="$threads" "$tessera" lc \
        --model "$model" --points-npy "$points_npy" --frame "$frame_npy" --radius "$radius" --layers conv \
        --precision "$dtype" --out "$csv" >/dev/null 2>"$work/tessera-lc.log" ||
        { cat "$work/tessera-lc.log" >&2; exit 1; }
      read -r seconds user sys <"$work/tessera-time"
      torch_dtype=$([ "$dtype" = f32 ] && echo float32 || echo float64)
      torch_out=$(OMP_NUM_THREADS=$threads python3 bench/lc_reference.py --model "$model" --layers conv \
        --points-npy "$points_npy" --frame "$frame_npy" --radius "$radius" --dtype "$torch_dtype" \
        --batch "$batch" --repeat 1 --threads "$threads" --compare "$csv")
      torch_seconds=$(echo "$torch_out" | tail -1 | sed 's/.*best \([0-9.]*\) s.*/\1/')
      torch_cpu=$(echo "$torch_out" | tail -1 | sed 's/.*(CPU \([0-9.]*\) s).*/\1/')
      awk -v rep="$rep" -v net="$net" -v dt="$dtype" -v n="$points" -v t="$seconds" -v tc="$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')" \
        -v q="$torch_seconds" -v qc="$torch_cpu" -v same="$(echo "$torch_out" | head -1)" -v batch="$batch" 'BEGIN {
          printf "%s %-9s %s | tessera %6.1f s (CPU %6.1f s) %6.1f points/s | PyTorch batch %3d %6.1f s (CPU %6.1f s) %6.1f points/s | %.2fx (CPU %.2fx) | %s\n",
            rep, net, dt, t, tc, n / t, batch, q, qc, n / q, q / t, qc / tc, same }'
    done
  done
done
