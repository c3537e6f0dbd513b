"""Training throughput: images per second of a training step (ArcFace alone and the full RIE loss)
for small_facenet at 32 px, MobileFaceNet and IResNet-50 at 112 px, and the rate at which a
DataLoader reads a folder of PNG files, against those step rates.

Everything is measured side by side in one run (ArcFace and RIE steps interleaved, medians), so
the ratios mean something on a busy machine; the absolute rates are this machine's. The loader
reads through ``FaceFolderSet`` (decode, resize, to [-1, 1]) as ``rie train`` does; a ratio
loader/step above 1 means the data keep up with the model at that worker count.

    python benchmarks/throughput.py [--repeats 5] [--device cpu|cuda] [--workers 0 2]

Measured (2-core shared CPU, OMP_NUM_THREADS=1, --repeats 3), images/s ArcFace | RIE | time ratio:
small_facenet 32 px 1637 | 1370 | 1.20; MobileFaceNet 112 px 11.2 | 9.3 | 1.20; IResNet-50 112 px
2.2 | 2.0 | 1.11. PNG loader, 0 workers: 2942 img/s at 32 px (2.1x small_facenet's RIE step rate),
1870 at 112 px (200x MobileFaceNet's); 2 workers were slower on 512 files (worker start-up is
not amortised): on a CPU the model, not the data, is the bottleneck at 112 px.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from rie.data.datasets import load_image_folder
from rie.method.losses import RIELoss, RIELossConfig
from rie.method.ri import ui_center
from rie.training.train import TrainConfig, build, compute_loss

# (backbone, input size, embedding size, batch): a few steps each on a CPU
MODELS = (("small_facenet", 32, 128, 128), ("mobilefacenet", 112, 512, 32), ("iresnet50", 112, 512, 16))


def step_rates(backbone, size, dim, batch, repeats, device, classes=300):
    torch.manual_seed(0)
    config = TrainConfig(backbone=backbone, input_size=size, embedding_size=dim)
    model, head = build(config, classes)
    model.to(device).train()
    head.to(device).train()
    x = torch.randn(batch, 3, size, size, device=device)
    y = torch.randint(classes, (batch,), device=device)
    u = ui_center(torch.randn(64, dim)).to(device)
    optimizer = torch.optim.SGD(list(model.parameters()) + list(head.parameters()), lr=1e-3, momentum=0.9)
    variants = {"arcface": None, "rie": RIELoss(RIELossConfig())}

    def step(criterion):
        loss, _ = compute_loss(model, head, criterion, x, y, u)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    for criterion in variants.values():  # warm-up
        step(criterion)
    times = {name: [] for name in variants}
    for _ in range(repeats):
        for name, criterion in variants.items():
            t0 = time.perf_counter()
            step(criterion)
            times[name].append(time.perf_counter() - t0)
    return {name: batch / statistics.median(ts) for name, ts in times.items()}


def png_folder(root: Path, n: int, size: int) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"id{i % 8}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def load_rate(root: Path, size: int, workers: int, batch: int = 32) -> float:
    faces = load_image_folder(root, image_size=size)
    loader = DataLoader(faces, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True)
    t0 = time.perf_counter()
    n = sum(len(x) for x, _, _ in loader)
    return n / (time.perf_counter() - t0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2])
    parser.add_argument("--images", type=int, default=512, help="PNG files in the loader's folder")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"device={device} threads={torch.get_num_threads()} repeats={args.repeats}")
    print(f"{'model':<15}{'px':>5}{'batch':>7}{'ArcFace img/s':>15}{'RIE img/s':>12}{'RIE/ArcFace time':>18}")
    rates = {}
    for backbone, size, dim, batch in MODELS:
        r = step_rates(backbone, size, dim, batch, args.repeats, device)
        rates[(backbone, size)] = r["rie"]
        print(f"{backbone:<15}{size:>5}{batch:>7}{r['arcface']:>15.1f}{r['rie']:>12.1f}{r['arcface'] / r['rie']:>18.3f}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in (32, 112):
            root = png_folder(Path(tmp) / str(size), args.images, size)
            for w in args.workers:
                rate = load_rate(root, size, w)
                steps = "  ".join(f"{b}: {rate / r:.1f}x" for (b, s), r in rates.items() if s == size)
                print(f"PNG loader {size:>3}px, {w} worker(s): {rate:8.1f} img/s; loader / RIE step rate  {steps}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
