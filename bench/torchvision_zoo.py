#!/usr/bin/env python3
"""torchvision classifiers through tessera: export, import, and LC against PyTorch hooks.

For each model (random weights, eval mode, a 64 x 64 input) this exports ONNX with the
TorchScript exporter (dynamo=False) and/or the default dynamo one, runs `tessera lc` on the
file, and computes the same local complexity in PyTorch: the 2P vertices x +- r v_p of every
point are forwarded in float64 and every call of an activation function (ReLU, ReLU6, Hardtanh,
functional or module, in the order they run) is intercepted by a TorchFunctionMode "hook"; per
activation call, the units whose pre-activation does not keep its sign (for a clamp: its sign
relative to both kinks, as `torch.sign`, so an exact kink is a sign of its own) over the 2P
vertices are counted, as `tessera lc` does by default. Same points, same frame (both written as
.npy files and given to tessera with --points-npy and --frame).

    pip install --no-deps torchvision==0.28.0     # needs torch; pillow for torchvision's import
    cargo build --release -p tessera-cli
    python3 bench/torchvision_zoo.py --tessera target/release/tessera --out /tmp/zoo \\
        --models resnet18,squeezenet1_1 --exporter both

The exporters fold batch norm into the preceding convolution in float32; a pre-activation within
about 1e-7 (relative) of a kink may then fall on the other side than in PyTorch's unfolded
float64 forward pass. --keep-batch-norm exports without that folding (TorchScript exporter only).

Prints one line per model and exporter (imports or refused with tessera's message, layers,
whether every per-layer count of every point agrees, timings) and writes the rows as JSON to
OUT/results.json. With --record NAME, also writes OUT/NAME.onnx (TorchScript) with the points,
frame and PyTorch's counts as NAME.lc.json, the format of the Rust test
`crates/tessera-onnx/tests/torchvision_zoo.rs`.
"""

import argparse
import json
import pathlib
import subprocess
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision

#: Model name -> constructor keyword arguments (random weights; torchvision's defaults).
MODELS = {
    "resnet18": {},
    "resnet50": {},
    "resnext50_32x4d": {},
    "wide_resnet50_2": {},
    "densenet121": {},
    "squeezenet1_0": {},
    "squeezenet1_1": {},
    "shufflenet_v2_x0_5": {},
    "shufflenet_v2_x1_0": {},
    "mobilenet_v2": {},
    "mobilenet_v3_small": {},
    "mnasnet0_5": {},
    "regnet_x_400mf": {},
    "regnet_y_400mf": {},
    "googlenet": {"aux_logits": False, "init_weights": True},
    "vgg11": {},
    "vgg11_bn": {},
    "alexnet": {},
    "efficientnet_b0": {},
    "convnext_tiny": {},
}


def activation_kinks(func, args, kwargs):
    """The kinks of an intercepted activation call, or None if `func` is not an activation."""
    if func in (F.relu, torch.relu, torch.relu_, torch.Tensor.relu, torch.Tensor.relu_):
        return (0.0,)
    if func is F.relu6:
        return (0.0, 6.0)
    if func is F.hardtanh:
        lo = kwargs.get("min_val", args[1] if len(args) > 1 else -1.0)
        hi = kwargs.get("max_val", args[2] if len(args) > 2 else 1.0)
        return (float(lo), float(hi))
    return None


class ActivationTaps(torch.overrides.TorchFunctionMode):
    """Records the input of every ReLU / ReLU6 / Hardtanh call as (pre-activation, kinks)."""

    def __init__(self):
        super().__init__()
        self.taps = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kinks = activation_kinks(func, args, kwargs)
        if kinks is not None:
            self.taps.append((args[0].detach().clone(), kinks))
        return func(*args, **kwargs)


@torch.no_grad()
def hook_lc(model, points, frame, radius):
    """Per point, per activation call: the units whose sign pattern changes over the vertices,
    and the smallest distance of a pre-activation to a kink relative to the layer's largest."""
    n, p = points.shape[0], frame.shape[0]
    steps = radius * frame
    vertices = torch.cat([points[:, None] + steps[None], points[:, None] - steps[None]], dim=1)
    shape = (n * 2 * p,) + tuple(model_input_shape(model))
    with ActivationTaps() as mode:
        model(vertices.reshape(shape))
    counts, margins = [], []
    for pre, kinks in mode.taps:
        pre = pre.reshape(n, 2 * p, -1)
        code = sum(torch.sign(pre - k) * 3**i for i, k in enumerate(kinks))
        counts.append((code[:, 1:] != code[:, :1]).any(dim=1).sum(dim=1))
        # How close the nearest pre-activation comes to a kink, relative to the layer's scale.
        distance = torch.stack([(pre - k).abs() for k in kinks]).amin(dim=0).flatten(1).amin(dim=1)
        margins.append(distance / pre.abs().flatten(1).amax(dim=1).clamp_min(1e-300))
    if not counts:
        return [[] for _ in range(n)], [[] for _ in range(n)]
    return torch.stack(counts, dim=1).tolist(), torch.stack(margins, dim=1).tolist()


def model_input_shape(model):
    return model._tessera_input_shape


def build(name, side):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None, **MODELS.get(name, {})).eval()
    model._tessera_input_shape = (3, side, side)
    return model


def export(model, path, exporter, side, keep_batch_norm):
    """With keep_batch_norm, the TorchScript exporter does not fold batch norm into the
    convolutions (in float32), so that tessera applies the very parameters PyTorch's float64
    forward applies. (The dynamo exporter always folds: unoptimised, its graph holds shape ops
    tessera does not fold, such as Expand.)"""
    x = torch.randn(1, 3, side, side)
    if exporter == "torchscript":
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"], dynamo=False,
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
                          do_constant_folding=not keep_batch_norm)
    else:
        torch.onnx.export(model, (x,), str(path), input_names=["x"], output_names=["y"], dynamo=True,
                          external_data=True, dynamic_shapes={"x": {0: torch.export.Dim("batch")}})


def tessera_lc(tessera, onnx_path, points_npy, frame_npy, radius, csv):
    start = time.perf_counter()
    run = subprocess.run([tessera, "lc", "--model", str(onnx_path), "--points-npy", str(points_npy), "--frame",
                          str(frame_npy), "--radius", str(radius), "--out", str(csv)], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if run.returncode != 0:
        lines = [l for l in run.stderr.strip().splitlines() if l.strip()]
        return None, " ".join(lines[-3:]), seconds
    rows = []
    with open(csv) as f:
        header = f.readline().strip().split(",")
        layer_columns = [i for i, h in enumerate(header) if h.startswith("layer_")]
        for line in f:
            cells = line.strip().split(",")
            rows.append([int(cells[i]) for i in layer_columns])
    return rows, None, seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", default="target/release/tessera")
    parser.add_argument("--out", default="/tmp/tessera-torchvision")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--exporter", choices=["torchscript", "dynamo", "both"], default="torchscript")
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--p", type=int, default=4)
    parser.add_argument("--radius", type=float, default=0.05)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--keep-batch-norm", action="store_true",
                        help="TorchScript export without constant folding (batch norm stays a node of its own)")
    parser.add_argument("--record", action="append", default=[], help="model to record for the Rust test")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    d = 3 * args.side * args.side
    gen = torch.Generator().manual_seed(1)
    points = torch.rand(args.points, d, generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(torch.randn(d, args.p, generator=gen, dtype=torch.float64))
    frame = (q * torch.sign(torch.diagonal(r))).T.contiguous()
    points_npy, frame_npy = out / "points.npy", out / "frame.npy"
    np.save(points_npy, points.numpy())
    np.save(frame_npy, frame.numpy())
    exporters = ["torchscript", "dynamo"] if args.exporter == "both" else [args.exporter]
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}; {args.points} points, P = {args.p}, "
          f"r = {args.radius}, input 3x{args.side}x{args.side}")
    results = []
    for name in args.models.split(","):
        model = build(name, args.side)
        start = time.perf_counter()
        expected, margins = hook_lc(model.double(), points, frame, args.radius)
        torch_seconds = time.perf_counter() - start
        model.float()
        for exporter in exporters:
            row = {"model": name, "exporter": exporter, "torch_seconds": round(torch_seconds, 2),
                   "hook_layers": len(expected[0])}
            path = out / f"{name}_{exporter}.onnx"
            try:
                export(model, path, exporter, args.side, args.keep_batch_norm)
            except Exception as e:  # noqa: BLE001 - the exporter's own failure is a result too
                lines = str(e).strip().splitlines()
                row["export_error"] = next((l for l in lines if "Unsupported" in l), lines[-1])[:200]
                print(f"{name} [{exporter}]: export failed: {row['export_error']}")
                results.append(row)
                continue
            counts, refusal, seconds = tessera_lc(args.tessera, path, points_npy, frame_npy, args.radius,
                                                  out / f"{name}_{exporter}.csv")
            row["tessera_seconds"] = round(seconds, 2)
            if counts is None:
                row["refused"] = refusal
                print(f"{name} [{exporter}]: refused: {refusal}")
            else:
                row["layers"] = len(counts[0])
                row["agrees"] = counts == expected
                row["mean_lc"] = sum(map(sum, counts)) / len(counts)
                if not row["agrees"]:
                    differing = [(i, k) for i, (ca, cb) in enumerate(zip(counts, expected))
                                 for k, (a, b) in enumerate(zip(ca, cb)) if a != b]
                    row["differences"] = len(differing)
                    # Near-ties: a pre-activation this close (relative) to a kink may fall on either
                    # side with float32 weights folded differently (the exporters fold batch norm).
                    row["largest_relative_margin_where_different"] = max(margins[i][k] for i, k in differing)
                total = len(counts) * len(counts[0])
                verdict = "agrees on every point and layer" if row["agrees"] else \
                    f"DIFFERS in {row.get('differences', '?')} of {total} (point, layer) counts, where a " \
                    f"pre-activation lies within {row.get('largest_relative_margin_where_different', 0):.1e} " \
                    "(relative) of a kink"
                print(f"{name} [{exporter}]: imports; {row['layers']} activation layers (hooks: "
                      f"{row['hook_layers']}); LC {verdict} (mean total {row['mean_lc']:.1f}); tessera "
                      f"{seconds:.1f} s, torch {torch_seconds:.1f} s")
            results.append(row)
        if name in args.record:
            path = out / f"{name}.onnx"
            export(model, path, "torchscript", args.side, args.keep_batch_norm)
            record = {"points": points.flatten().tolist(), "frame": frame.flatten().tolist(), "p": args.p,
                      "radius": args.radius, "per_layer": expected}
            (out / f"{name}.lc.json").write_text(json.dumps(record))
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
