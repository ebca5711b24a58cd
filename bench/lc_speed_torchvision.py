#!/usr/bin/env python3
"""LC speed of a torchvision classifier: `tessera lc` against batched PyTorch, interleaved.

The PyTorch side is the batched computation a PyTorch user would write: the 2P vertices of
`--batch` points at a time go through the model in one forward pass (float64 by default, as
tessera's f64), and a TorchFunctionMode counts, at every ReLU / ReLU6 / Hardtanh call, the units
whose sign relative to the kinks is not the same on all vertices of a point (nothing is kept).
The tessera side is `tessera lc` on the TorchScript export, run as a subprocess (import of the
ONNX file and process start included), with the same points and frame. Repetitions alternate
between the two so that a loaded machine slows both alike; the counts must agree.

    python3 bench/lc_speed_torchvision.py --tessera target/release/tessera --model resnet18 \\
        --points 100 --p 20 --repeat 3
"""

import argparse
import pathlib
import statistics
import time

import numpy as np
import torch

import torchvision_zoo as zoo


class CountingTaps(torch.overrides.TorchFunctionMode):
    """Counts, per activation call, the units that change piece over each point's vertices."""

    def __init__(self, points, vertices_per_point):
        super().__init__()
        self.points, self.vertices = points, vertices_per_point
        self.counts = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        kinks = zoo.activation_kinks(func, args, kwargs)
        if kinks is not None:
            pre = args[0].reshape(self.points, self.vertices, -1)
            code = sum(torch.sign(pre - k) * 3**i for i, k in enumerate(kinks))
            self.counts.append((code[:, 1:] != code[:, :1]).any(dim=1).sum(dim=1))
        return func(*args, **kwargs)


@torch.no_grad()
def torch_lc(model, points, frame, radius, batch):
    steps = radius * frame
    rows = []
    for start in range(0, points.shape[0], batch):
        x = points[start : start + batch]
        vertices = torch.cat([x[:, None] + steps[None], x[:, None] - steps[None]], dim=1)
        with CountingTaps(x.shape[0], 2 * frame.shape[0]) as mode:
            model(vertices.reshape((-1,) + tuple(model._tessera_input_shape)))
        rows.append(torch.stack(mode.counts, dim=1))
    return torch.cat(rows).tolist()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tessera", action="append", help="tessera binary (repeatable: several are compared)")
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--out", default="/tmp/tessera-lc-speed")
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--points", type=int, default=100)
    parser.add_argument("--p", type=int, default=20)
    parser.add_argument("--radius", type=float, default=0.05)
    parser.add_argument("--batch", type=int, default=5, help="points per PyTorch forward pass")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    d = 3 * args.side * args.side
    gen = torch.Generator().manual_seed(1)
    points = torch.rand(args.points, d, generator=gen, dtype=torch.float64)
    q, r = torch.linalg.qr(torch.randn(d, args.p, generator=gen, dtype=torch.float64))
    frame = (q * torch.sign(torch.diagonal(r))).T.contiguous()
    np.save(out / "points.npy", points.numpy())
    np.save(out / "frame.npy", frame.numpy())
    model = zoo.build(args.model, args.side)
    onnx_path = out / f"{args.model}.onnx"
    zoo.export(model, onnx_path, "torchscript", args.side, keep_batch_norm=False)
    model = model.to(dtype)
    binaries = args.tessera or ["target/release/tessera"]
    times = {b: [] for b in binaries} | {"torch": []}
    print(f"{args.model} 3x{args.side}x{args.side}, {args.points} points, P = {args.p}, r = {args.radius}, "
          f"{args.threads} threads; torch {torch.__version__} {args.dtype}, batch {args.batch} points")
    for rep in range(args.repeat):
        for binary in binaries:
            counts, refusal, seconds = zoo.tessera_lc(binary, onnx_path, out / "points.npy", out / "frame.npy",
                                                      args.radius, out / "tessera.csv")
            if counts is None:
                raise SystemExit(f"{binary}: {refusal}")
            times[binary].append(seconds)
        start = time.perf_counter()
        expected = torch_lc(model, points.to(dtype), frame.to(dtype), args.radius, args.batch)
        times["torch"].append(time.perf_counter() - start)
        agree = "counts agree" if counts == expected else \
            f"counts differ in {sum(a != b for x, y in zip(counts, expected) for a, b in zip(x, y))}"
        print(f"  round {rep + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items()) + f"; {agree}")
    for name, values in times.items():
        print(f"{name}: best {min(values):.1f} s, median {statistics.median(values):.1f} s "
              f"({args.points / min(values):.1f} points/s at best)")


if __name__ == "__main__":
    main()
