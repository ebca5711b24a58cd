#!/usr/bin/env python3
"""Conv training speed in PyTorch (CPU), the baseline tessera's conv training is compared against.

One training step = forward in training mode, cross-entropy, backward, AdamW (lr 1e-3, weight
decay 0.01), float32, batch 128 of 32x32x3 inputs uniform in [0, 1], 2 threads. The networks are
those of `examples/conv_step.rs` (crates/tessera-train), built the same way as tessera's builders:

  cnn        conv3x3(3->32)-ReLU-maxpool2-conv3x3(32->64)-ReLU-maxpool2-dense(4096->128)-ReLU-dense(->10)
  cnn_bn     the same with BN after every conv (convs then have no bias)
  resnet     pre-activation ResNet18 of width k = 16 (kuangliu style, no BN)
  resnet_bn  the same with BN before every ReLU of the blocks

Prints one line per network and repetition: `torch NAME REP img/s ms/step cpu-ms/step` (the last:
process CPU time per step, user + system; OpenMP's spinning counts). `--reps 1` with a
loop outside lets the tessera measurement run interleaved with this one (bench/conv_side_by_side.sh).

    python3 bench/conv_reference.py --threads 2 --steps 20 --reps 3
"""

import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def small_cnn(batch_norm):
    layers = []
    cin = 3
    for cout in (32, 64):
        layers.append(nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm))
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers += [nn.ReLU(), nn.MaxPool2d(2)]
        cin = cout
    layers += [nn.Flatten(), nn.Linear(64 * 8 * 8, 128), nn.ReLU(), nn.Linear(128, 10)]
    return nn.Sequential(*layers)


class PreActBlock(nn.Module):
    def __init__(self, cin, cout, stride, batch_norm):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin) if batch_norm else nn.Identity()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        a1 = F.relu(self.bn1(x))
        shortcut = self.shortcut(a1) if self.shortcut is not None else x
        out = self.conv1(a1)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet18(nn.Module):
    def __init__(self, k, batch_norm, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, k, 3, 1, 1, bias=False)
        blocks, cin = [], k
        for stage, mult in enumerate((1, 2, 4, 8)):
            for block in range(2):
                stride = 2 if stage > 0 and block == 0 else 1
                blocks.append(PreActBlock(cin, k * mult, stride, batch_norm))
                cin = k * mult
        self.blocks = nn.Sequential(*blocks)
        self.linear = nn.Linear(cin, classes)

    def forward(self, x):
        out = self.blocks(self.conv1(x))
        out = F.avg_pool2d(out, 4)
        return self.linear(out.flatten(1))


NETWORKS = {
    "cnn": lambda: small_cnn(False),
    "cnn_bn": lambda: small_cnn(True),
    "resnet": lambda: PreActResNet18(16, False),
    "resnet_bn": lambda: PreActResNet18(16, True),
}


def steps_per_second(model, x, y, steps, warmup):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - start), (time.process_time() - cpu) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--nets", default=",".join(NETWORKS), help="comma-separated: " + ", ".join(NETWORKS))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, 32, 32)
    y = torch.arange(args.batch) % 10
    for rep in range(args.reps):
        for name in args.nets.split(","):
            model = NETWORKS[name]().train()
            rate, cpu = steps_per_second(model, x, y, args.steps, args.warmup)
            print(f"torch {name} {rep} {rate * args.batch:.0f} img/s {1000 / rate:.1f} ms/step "
                  f"{1000 * cpu:.1f} cpu-ms/step", flush=True)


if __name__ == "__main__":
    main()
