#!/usr/bin/env python3
"""One training step of the paper's MNIST MLP in PyTorch, the baseline tessera's step is compared
against (`cargo xtask bench`).

MLP 784-200-200-200-10 (ReLU, PyTorch default init), batch 200 of inputs uniform in [0, 1]
(the cost does not depend on the pixel values), MSE on one-hot targets, AdamW (lr 1e-3,
weight decay 0.01): forward, backward, update, as tessera's `StepScratch::step` does on a fixed
batch. Prints the best of --repeat timings of --steps steps, in steps per second.

    python3 bench/train_reference.py --dtype float64 --threads 2
"""

import argparse
import time

import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200, help="steps per timed repetition")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions; the best is reported")
    parser.add_argument(
        "--min-seconds", type=float, default=0.0,
        help="repeat --steps steps within one timed repetition until this long has passed",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    widths = [784, 200, 200, 200, 10]
    layers = []
    for k, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(torch.nn.Linear(fan_in, fan_out, dtype=dtype))
        if k + 2 < len(widths):
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    x = torch.rand(args.batch, widths[0], dtype=dtype)
    target = torch.nn.functional.one_hot(torch.arange(args.batch) % 10, 10).to(dtype)

    def steps(n):
        for _ in range(n):
            optimizer.zero_grad(set_to_none=False)
            loss = torch.nn.functional.mse_loss(model(x), target)
            loss.backward()
            optimizer.step()

    steps(20)  # warm-up
    best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        passes = 0
        while passes == 0 or time.perf_counter() - start < args.min_seconds:
            steps(args.steps)
            passes += 1
        best = min(best, (time.perf_counter() - start) / passes)
    print(
        f"torch {torch.__version__} {args.dtype} threads={args.threads} batch={args.batch}: "
        f"best {best:.3f} s for {args.steps} steps, {args.steps / best:.1f} steps/s"
    )


if __name__ == "__main__":
    main()
