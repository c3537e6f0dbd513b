"""Cost of the RIE terms: one training step of ArcFace alone against the full RIE loss (Eq. 10).

Same backbone, batch and input size, measured side by side in one run (interleaved
repeats, median), so the ratio is meaningful on a busy machine. Target: <= 1.15 on a
2-core CPU.

    python benchmarks/step_overhead.py [--batch 128] [--repeats 30]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from rie.method.losses import RIELoss, RIELossConfig
from rie.method.ri import ui_center
from rie.training.train import TrainConfig, build, compute_loss

TARGET = 1.15


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="small_facenet")
    parser.add_argument("--input-size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--classes", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()

    torch.manual_seed(0)
    config = TrainConfig(backbone=args.backbone, input_size=args.input_size)
    model, head = build(config, args.classes)
    model.train()
    head.train()
    x = torch.randn(args.batch, 3, args.input_size, args.input_size)
    y = torch.randint(args.classes, (args.batch,))
    u = ui_center(torch.randn(64, config.embedding_size))
    optimizer = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=1e-3, momentum=0.9)
    variants = {"arcface": None, "rie": RIELoss(RIELossConfig())}

    def step(criterion):
        loss, _ = compute_loss(model, head, criterion, x, y, u)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for criterion in variants.values():  # warm-up
        for _ in range(3):
            step(criterion)
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, criterion in variants.items():
            t0 = time.perf_counter()
            step(criterion)
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    ratio = med["rie"] / med["arcface"]
    print(f"backbone={args.backbone} input={args.input_size}px batch={args.batch} threads={torch.get_num_threads()}")
    print(f"ArcFace step : {med['arcface'] * 1e3:7.1f} ms (median of {args.repeats})")
    print(f"RIE step     : {med['rie'] * 1e3:7.1f} ms (L_cls + 5 L_L1 + 2 L_ID + 1 L_MSE)")
    print(f"ratio        : {ratio:.3f}  target <= {TARGET}  {'PASS' if ratio <= TARGET else 'FAIL'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
