"""Throughput of the synthetic face world: images per second, whole pipeline.

Draws identities, samples nuisance from a mix of tiers (as the VLR roles do),
renders at the internal resolution and runs the camera (sampling, blur, noise,
JPEG, upsampling) to uint8 output. Prints images/s and PASS/FAIL against a target.

    python benchmarks/generation.py                 # 32 x 32, target 5000 images/s
    python benchmarks/generation.py --image-size 112 --target 0
"""

from __future__ import annotations

import argparse
import time

import torch

from rie.data import synth


def measure(n: int, image_size: int, tier_mix: tuple[str, ...], repeats: int, chunk: int) -> float:
    """Best-of-``repeats`` images per second for rendering n images (nuisance sampling included)."""
    gen = torch.Generator().manual_seed(0)
    ids = synth.sample_identities(64, gen)
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        per = n // len(tier_mix)
        nz_parts = [synth.sample_nuisance(per, gen, t, image_size) for t in tier_mix]
        nz = {k: torch.cat([p[k] for p in nz_parts]) for k in nz_parts[0]}
        theta = ids[torch.arange(len(nz["yaw"])) % len(ids)]
        batch = synth.render(theta, nz, image_size, chunk=chunk)
        seconds = time.perf_counter() - start
        best = max(best, len(batch) / seconds)
    return best


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192, help="images per timed run")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=512)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--target", type=float, default=5000.0, help="images/s needed to PASS (0: just report)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, image_size {args.image_size}")
    results = {}
    for name, mix in (("hr", ("hr",)), ("vlr mix", ("moderate", "hard")), ("ui", ("ui",))):
        results[name] = measure(args.n, args.image_size, mix, args.repeats, args.chunk)
        print(f"  {name:8s} {results[name]:8.0f} images/s")
    worst = min(results.values())
    ok = worst >= args.target
    print(f"slowest {worst:.0f} images/s, target {args.target:.0f}: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
