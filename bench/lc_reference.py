#!/usr/bin/env python3
"""Local complexity written as batched PyTorch, the baseline `tessera lc` is compared against.

The algorithm of the official code (grok-adversarial `local_complexity.py`): for each point x,
the 2P vertices x +- r v_p of a cross-polytope spanned by P orthonormal directions are built as
one tensor, forwarded through the MLP in one pass, and per layer the neurons whose pre-activation
sign (torch.sign) is not the same on all vertices are counted. Only the hidden layers are counted
unless --reference-compatible (which also counts the logits, as the official MLP script does).

Default: the paper's MNIST MLP 784-200-200-200-10 (ReLU, PyTorch default init, seed 0), P = 25,
1000 points uniform in [0, 1]^784, r = 0.005, float64, 2 threads. Prints points per second.

    python3 bench/lc_reference.py --dtype float64 --threads 2
    python3 bench/lc_reference.py --dtype float32 --threads 2

To compare counts with tessera on identical inputs, give a tessera model directory (reads
architecture.json and weights.safetensors; needs the `safetensors` package), a frame and points
as .npy files (needs numpy), and --save-counts:

    tessera lc --model M --points-npy pts.npy --frame frame.npy --radius 0.05 --out t.csv
    python3 bench/lc_reference.py --model M --points-npy pts.npy --frame frame.npy \
        --radius 0.05 --save-counts torch.csv
"""

import argparse
import json
import os
import time

import torch


def build_mlp(widths, dtype):
    layers = []
    for k, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out, dtype=dtype))
        if k + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def load_tessera_mlp(model_dir, dtype):
    """A tessera model directory holding an MLP (dense and ReLU nodes only)."""
    from safetensors.torch import load_file

    with open(os.path.join(model_dir, "architecture.json")) as f:
        nodes = json.load(f)["nodes"]
    weights = load_file(os.path.join(model_dir, "weights.safetensors"))
    dense = [n for n in nodes if n["op"] == "dense"]
    widths = [dense[0]["in_features"]] + [n["out_features"] for n in dense]
    model = build_mlp(widths, dtype)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():
        for layer, node in zip(linears, dense):
            layer.weight.copy_(weights[node["name"] + ".weight"].to(dtype))
            layer.bias.copy_(weights[node["name"] + ".bias"].to(dtype))
    return model


def orthonormal_frame(d, p, seed, dtype):
    """P orthonormal rows in R^d: Q of the QR of a seeded Gaussian d x P matrix."""
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, p, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q.T.contiguous().to(dtype)


@torch.no_grad()
def lc_counts(model, x, frame, radius, count_output):
    """Per-layer sign-change counts, shape (points, layers)."""
    b, d = x.shape
    p = frame.shape[0]
    steps = radius * frame
    vertices = torch.cat([x[:, None, :] + steps[None], x[:, None, :] - steps[None]], dim=1)
    h = vertices.reshape(b * 2 * p, d)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    counted = linears if count_output else linears[:-1]
    counts = []
    for module in model:
        h = module(h)
        if isinstance(module, torch.nn.Linear) and any(module is c for c in counted):
            signs = torch.sign(h).reshape(b, 2 * p, -1)
            changed = (signs[:, 1:] != signs[:, :1]).any(dim=1)
            counts.append(changed.sum(dim=1))
        if len(counts) == len(counted):
            break
    return torch.stack(counts, dim=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--points", type=int, default=1000)
    parser.add_argument("--p", type=int, default=25)
    parser.add_argument("--radius", type=float, default=0.005)
    parser.add_argument("--batch", type=int, default=100, help="points per forward pass")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions; the best is reported")
    parser.add_argument(
        "--min-seconds", type=float, default=0.0,
        help="repeat the pass within one timed repetition until this long has passed (time per pass reported)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-compatible", action="store_true", help="also count the output layer")
    parser.add_argument("--model", help="tessera model directory of an MLP (default: random init)")
    parser.add_argument("--frame", help=".npy file of shape (P, d)")
    parser.add_argument("--points-npy", help=".npy file of shape (N, d)")
    parser.add_argument("--save-counts", help="write index,radius,layer_1..,total CSV")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    torch.manual_seed(args.seed)
    model = load_tessera_mlp(args.model, dtype) if args.model else build_mlp([784, 200, 200, 200, 10], dtype)
    d = model[0].in_features
    if args.points_npy:
        import numpy as np

        x = torch.from_numpy(np.load(args.points_npy)).reshape(-1, d).to(dtype)
    else:
        x = torch.rand(args.points, d, generator=torch.Generator().manual_seed(args.seed + 1), dtype=dtype)
    if args.frame:
        import numpy as np

        frame = torch.from_numpy(np.load(args.frame)).to(dtype)
    else:
        frame = orthonormal_frame(d, args.p, args.seed, dtype)

    def run():
        return torch.cat(
            [lc_counts(model, x[i : i + args.batch], frame, args.radius, args.reference_compatible)
             for i in range(0, x.shape[0], args.batch)]
        )

    counts = run()  # warm-up
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        passes = 0
        while passes == 0 or time.perf_counter() - start < args.min_seconds:
            counts = run()
            passes += 1
        best = min(best, (time.perf_counter() - start) / passes)
    n = x.shape[0]
    print(
        f"torch {torch.__version__} {args.dtype} threads={args.threads} P={frame.shape[0]} r={args.radius} "
        f"points={n} batch={args.batch}: best {best:.3f} s, {n / best:.0f} points/s, "
        f"mean LC {counts.sum(dim=1).double().mean().item():.4f}"
    )
    if args.save_counts:
        with open(args.save_counts, "w") as f:
            layers = ",".join(f"layer_{k + 1}" for k in range(counts.shape[1]))
            f.write(f"index,radius,{layers},total\n")
            for i, row in enumerate(counts.tolist()):
                f.write(f"{i},{args.radius},{','.join(map(str, row))},{sum(row)}\n")


if __name__ == "__main__":
    main()
