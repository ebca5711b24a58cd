#!/usr/bin/env python3
"""Local complexity written as batched PyTorch, the baseline `tessera lc` is compared against.

The algorithm of the official code (grok-adversarial `local_complexity.py`): for each point x,
the 2P vertices x +- r v_p of a cross-polytope spanned by P orthonormal directions are built as
one tensor, forwarded through the MLP in one pass, and per layer the neurons whose pre-activation
sign (torch.sign) is not the same on all vertices are counted. Only the hidden layers are counted
unless --reference-compatible (which also counts the logits, as the official MLP script does).

Default: the paper's MNIST MLP 784-200-200-200-10 (ReLU, PyTorch default init, seed 0), P = 25,
1000 points uniform in [0, 1]^784, r = 0.005, float64, 2 threads. Prints points per second.

Any tessera model directory (architecture.json + weights.safetensors) runs through `--model`: its
node graph is executed with torch.nn.functional (dense, conv2d, batch norm in evaluation mode,
max and average pooling, residual additions, flatten, ReLU), and `--layers` selects the counted
activation layers as `tessera lc --layers` does ("conv": those fed by feature maps [C, H, W],
every channel x position a neuron; default "all"). Forwarding stops after the last counted
layer. For the CIFAR-10 conv networks (bench/conv_lc_side_by_side.sh):

    python3 bench/lc_reference.py --model M --layers conv --cifar10-test DATA --points 1000 \
        --p 20 --radius 0.005 --batch 10 --save-points pts.npy --save-frame frame.npy

    python3 bench/lc_reference.py --dtype float64 --threads 2
    python3 bench/lc_reference.py --dtype float32 --threads 2

To compare counts with tessera on identical inputs, give a tessera model directory (reads
architecture.json and weights.safetensors; needs the `safetensors` package), a frame and points
as .npy files (needs numpy), and --save-counts:

    tessera lc --model M --points-npy pts.npy --frame frame.npy --radius 0.05 --out t.csv
    python3 bench/lc_reference.py --model M --points-npy pts.npy --frame frame.npy \
        --radius 0.05 --save-counts torch.csv

`--compare t.csv` checks the per-layer counts against tessera's CSV and prints whether they agree.
"""

import argparse
import gzip
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


class TesseraGraph(torch.nn.Module):
    """A tessera network (architecture.json's nodes, weights by "node.param") run with torch ops.

    `forward(x, tap, stop)` calls `tap(k, pre)` with the input of the k-th activation node (from
    1, tessera's layer_k) and returns the output, or None once node `stop` has been reached.
    """

    def __init__(self, nodes, weights, dtype):
        super().__init__()
        self.nodes = nodes
        self.params = {k: v.to(dtype) for k, v in weights.items()}
        self.input_shape = tuple(nodes[0]["shape"])
        self.input_width = 1
        for n in self.input_shape:
            self.input_width *= n
        self.activations = [i for i, n in enumerate(nodes) if n["op"] == "activation"]
        shapes = [self.input_shape]
        for node in nodes[1:]:
            shapes.append(self._shape_after(node, shapes))
        self.shapes = shapes
        for node in nodes:
            if node["op"] == "activation" and node["activation"]["kind"] != "relu":
                raise SystemExit(f"node {node['name']}: only ReLU activations are supported here")

    def _shape_after(self, node, shapes):
        x = torch.zeros((1,) + tuple(shapes[node["inputs"][0]]))
        others = [torch.zeros((1,) + tuple(shapes[i])) for i in node["inputs"][1:]]
        params = {k: torch.zeros(v.shape) for k, v in self.params.items()}
        return tuple(self._apply(node, [x] + others, params).shape[1:])

    def layer_numbers(self, selection):
        """Activation layer numbers (from 1) counted under `selection`: all, conv or K,K,..."""
        every = range(1, len(self.activations) + 1)
        if selection == "all":
            return list(every)
        if selection == "conv":
            return [k for k in every if len(self.shapes[self.activations[k - 1]]) == 3]
        numbers = sorted({int(k) for k in selection.split(",")})
        if any(k < 1 or k > len(self.activations) for k in numbers):
            raise SystemExit(f"--layers {selection}: the network has {len(self.activations)} activation layers")
        return numbers

    def _apply(self, node, xs, params):
        op, name, x = node["op"], node["name"], xs[0]
        F = torch.nn.functional
        if op == "dense":
            return F.linear(x, params[name + ".weight"], params.get(name + ".bias"))
        if op == "conv2d":
            return F.conv2d(x, params[name + ".weight"], params.get(name + ".bias"), tuple(node["stride"]),
                            tuple(node["padding"]), 1, node.get("groups", 1))
        if op == "batch_norm":
            return F.batch_norm(x, params[name + ".running_mean"], params[name + ".running_var"],
                                params[name + ".weight"], params[name + ".bias"], False, 0.0, node["eps"])
        if op == "activation":
            return F.relu(x)
        if op == "max_pool2d":
            return F.max_pool2d(x, node["kernel"], node["stride"], node.get("padding", 0),
                                ceil_mode=node.get("ceil_mode", False))
        if op == "avg_pool2d":
            return F.avg_pool2d(x, node["kernel"], node["stride"], node.get("padding", 0),
                                ceil_mode=node.get("ceil_mode", False))
        if op == "add":
            return xs[0] + xs[1]
        if op == "flatten":
            return x.flatten(1)
        raise SystemExit(f"node {name}: op {op} is not supported by this reference")

    def forward(self, x, tap=None, stop=None):
        values = [x]
        for i, node in enumerate(self.nodes[1:], start=1):
            xs = [values[j] for j in node["inputs"]]
            if node["op"] == "activation" and tap is not None:
                tap(self.activations.index(i) + 1, xs[0])
            if i == stop:
                return None
            values.append(self._apply(node, xs, self.params))
        return values[-1]


def load_tessera_model(model_dir, dtype):
    """A tessera model directory as a TesseraGraph."""
    from safetensors.torch import load_file

    with open(os.path.join(model_dir, "architecture.json")) as f:
        nodes = json.load(f)["nodes"]
    return TesseraGraph(nodes, load_file(os.path.join(model_dir, "weights.safetensors")), dtype)


def mlp_graph(widths, dtype):
    """PyTorch's default initialisation of an MLP (seeded by the caller), as a TesseraGraph."""
    mlp = build_mlp(widths, dtype)
    nodes = [{"name": "input0", "op": "input", "shape": [widths[0]], "inputs": []}]
    weights = {}
    for module in mlp:
        node = {"name": f"n{len(nodes)}", "inputs": [len(nodes) - 1]}
        if isinstance(module, torch.nn.Linear):
            node["op"] = "dense"
            weights[node["name"] + ".weight"] = module.weight.detach()
            weights[node["name"] + ".bias"] = module.bias.detach()
        else:
            node.update(op="activation", activation={"kind": "relu"})
        nodes.append(node)
    return TesseraGraph(nodes, weights, dtype)


def cifar10_test(data_dir, n, dtype):
    """The first n CIFAR-10 test images, [n, 3, 32, 32] scaled to [0, 1] (as tessera reads them)."""
    path = os.path.join(data_dir, "cifar10-jpg-derived", "test_batch.bin.gz")
    with gzip.open(path) as f:
        raw = f.read(n * 3073)
    if len(raw) < n * 3073:
        raise SystemExit(f"{path}: fewer than {n} images")
    records = torch.frombuffer(bytearray(raw), dtype=torch.uint8).reshape(n, 3073)
    return (records[:, 1:].to(torch.float64) / 255.0).to(dtype)


def orthonormal_frame(d, p, seed, dtype):
    """P orthonormal rows in R^d: Q of the QR of a seeded Gaussian d x P matrix."""
    gen = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, p, generator=gen, dtype=torch.float64))
    q = q * torch.sign(torch.diagonal(r))
    return q.T.contiguous().to(dtype)


def sign_changes(values, points, vertices):
    """Per point, the units whose sign (torch.sign) is not the same on all its vertices."""
    signs = torch.sign(values).reshape(points, vertices, -1)
    return (signs[:, 1:] != signs[:, :1]).any(dim=1).sum(dim=1)


@torch.no_grad()
def lc_counts(model, x, frame, radius, layers, count_output):
    """Per-layer sign-change counts, shape (points, counted layers): the 2P vertices of every
    point in one forward pass, stopped after the last counted layer."""
    b, p = x.shape[0], frame.shape[0]
    steps = radius * frame
    vertices = torch.cat([x[:, None, :] + steps[None], x[:, None, :] - steps[None]], dim=1)
    h = vertices.reshape((b * 2 * p,) + model.input_shape)
    counts = []

    def tap(k, pre):
        if k in layers:
            counts.append(sign_changes(pre, b, 2 * p))

    stop = None if count_output else model.activations[layers[-1] - 1]
    out = model(h, tap, stop)
    if count_output:
        counts.append(sign_changes(out, b, 2 * p))
    return torch.stack(counts, dim=1)


def compare_with_tessera(path, counts, radius):
    """Compare per-layer counts with the rows of one radius of a `tessera lc` CSV."""
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [line.strip().split(",") for line in f if line.strip()]
    layer_columns = [i for i, name in enumerate(header) if name.startswith("layer_")]
    radius_column = header.index("radius")
    theirs = {int(r[0]): [int(r[i]) for i in layer_columns] for r in rows
              if abs(float(r[radius_column]) - radius) <= 1e-12 * max(1.0, radius)}
    ours = counts.tolist()
    if len(theirs) != len(ours):
        return f"counts differ: tessera has {len(theirs)} points, PyTorch {len(ours)}"
    differ = sum(theirs.get(i) != row for i, row in enumerate(ours))
    if differ == 0:
        return f"counts identical ({len(ours)} points x {len(ours[0])} layers)"
    return f"counts differ on {differ} of {len(ours)} points"


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
    parser.add_argument("--model", help="tessera model directory (default: the MLP above, random init)")
    parser.add_argument("--layers", default="all", help="counted activation layers: all, conv or K,K,... (from 1)")
    parser.add_argument("--frame", help=".npy file of shape (P, d)")
    parser.add_argument("--points-npy", help=".npy file of shape (N, d) or (N, C, H, W)")
    parser.add_argument("--cifar10-test", metavar="DATA_DIR",
                        help="points: the first --points CIFAR-10 test images of DATA_DIR/cifar10-jpg-derived")
    parser.add_argument("--save-points", help="write the points used to this .npy file (float64)")
    parser.add_argument("--save-frame", help="write the frame used to this .npy file (float64)")
    parser.add_argument("--save-counts", help="write index,radius,layer_k..,total CSV")
    parser.add_argument("--compare", metavar="CSV", help="a `tessera lc` CSV whose counts must be the same")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    torch.manual_seed(args.seed)
    model = load_tessera_model(args.model, dtype) if args.model else mlp_graph([784, 200, 200, 200, 10], dtype)
    d = model.input_width
    if args.points_npy:
        import numpy as np

        x = torch.from_numpy(np.load(args.points_npy)).reshape(-1, d).to(torch.float64)
    elif args.cifar10_test:
        x = cifar10_test(args.cifar10_test, args.points, torch.float64).reshape(-1, d)
    else:
        gen = torch.Generator().manual_seed(args.seed + 1)
        x = torch.rand(args.points, d, generator=gen, dtype=dtype).to(torch.float64)
    if args.frame:
        import numpy as np

        frame = torch.from_numpy(np.load(args.frame)).to(torch.float64)
    else:
        frame = orthonormal_frame(d, args.p, args.seed, torch.float64)
    if args.save_points or args.save_frame:
        import numpy as np

        if args.save_points:
            np.save(args.save_points, x.numpy())
        if args.save_frame:
            np.save(args.save_frame, frame.numpy())
    x, frame = x.to(dtype), frame.to(dtype)
    layers = model.layer_numbers(args.layers)
    if not layers and not args.reference_compatible:
        raise SystemExit(f"--layers {args.layers}: no activation layer selected")

    def run(n):
        return torch.cat(
            [lc_counts(model, x[i : min(i + args.batch, n)], frame, args.radius, layers, args.reference_compatible)
             for i in range(0, n, args.batch)]
        )

    n = x.shape[0]
    counts = run(min(args.batch, n))  # warm-up: one batch
    best, best_cpu = float("inf"), float("nan")
    for _ in range(args.repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        passes = 0
        while passes == 0 or time.perf_counter() - start < args.min_seconds:
            counts = run(n)
            passes += 1
        seconds = (time.perf_counter() - start) / passes
        if seconds < best:
            best, best_cpu = seconds, (time.process_time() - start_cpu) / passes
    if args.save_counts:
        with open(args.save_counts, "w") as f:
            names = [f"layer_{k}" for k in layers] + ([f"layer_{len(model.activations) + 1}"]
                                                      if args.reference_compatible else [])
            f.write(f"index,radius,{','.join(names)},total\n")
            for i, row in enumerate(counts.tolist()):
                f.write(f"{i},{args.radius},{','.join(map(str, row))},{sum(row)}\n")
    if args.compare:
        print(compare_with_tessera(args.compare, counts, args.radius))
    print(
        f"torch {torch.__version__} {args.dtype} threads={args.threads} P={frame.shape[0]} r={args.radius} "
        f"points={n} batch={args.batch}: best {best:.3f} s (CPU {best_cpu:.3f} s), {n / best:.1f} points/s, "
        f"mean LC {counts.sum(dim=1).double().mean().item():.4f}"
    )

if __name__ == "__main__":
    main()
