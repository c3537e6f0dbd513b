"""How many of notebook 04's verdicts survive another CPU code path (issue: "vary what a new machine varies").

Float32 results differ between CPUs because the vectorised kernels round differently. The same machine
can run another kernel family: ``ATEN_CPU_CAPABILITY`` (e.g. ``avx2`` or ``default`` instead of
``avx512``) changes the rounding as another CPU would. This script re-trains the two encoders and
notebook 04's ArcFace and Ours on every seed pair under another capability (in a fresh model folder),
evaluates the Tables 1-3 protocols, and compares the claims "Ours > baseline" with those of the
committed report's models (the cache ``data/models``, trained under this machine's own capability):

    python docs/verdict_stability.py [--capability avx2] [--profile default]

It prints the count of verdicts that stay the same and writes ``docs/verdict_stability.json``.
About 10 minutes alone on the 2-core CPU at the default profile.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def claims(profile: str, model_dir: str) -> list[dict]:
    """The "Ours > baseline" claims of notebook 04's Tables 1-3 section, from the models in ``model_dir``."""
    import torch

    from rie.common.constants import RUN_SEEDS, notebook_sizes
    from rie.data.synth import WorldConfig, build_world
    from rie.evaluation.protocols import ladder_images
    from rie.experiments import training_and_ablation as ablation
    from rie.training.recipes import pretrained_encoders

    torch.manual_seed(0)
    world = build_world(WorldConfig.from_profile(profile, seed=0), cache_dir=ROOT / "data" / "cache")
    sizes = notebook_sizes("04_training_and_ablation", profile)
    evaluate = ablation.protocols_evaluator(ladder_images(n_identities=sizes.ladder_identities), sizes.n_mated,
                                            sizes.n_nonmated, seed=0)
    pre = world["pretrain"]
    encoders = pretrained_encoders(pre.images, pre.labels, profile, model_dir)
    rows = ablation.run(world, encoders, [ablation.BASELINE, ablation.OURS], RUN_SEEDS[profile], profile, model_dir,
                        evaluate=evaluate)
    return ablation.protocol_claims(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capability", default="avx2", help="ATEN_CPU_CAPABILITY of the second run")
    parser.add_argument("--profile", default="default")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: the run under the other capability
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(claims(args.profile, args.child)))
        return 0
    import torch

    here = claims(args.profile, str(ROOT / "data" / "models"))
    with tempfile.TemporaryDirectory() as other_dir:
        env = {**os.environ, "ATEN_CPU_CAPABILITY": args.capability}
        out = subprocess.run([sys.executable, __file__, "--profile", args.profile, "--child", other_dir], env=env,
                             check=True, capture_output=True, text=True).stdout
    there = json.loads(out.strip().splitlines()[-1])
    same = [a["verdict"] == b["verdict"] for a, b in zip(here, there)]
    result = {"capability_here": torch.backends.cpu.get_cpu_capability(), "capability_other": args.capability,
              "claims": len(same), "same_verdict": sum(same),
              "changed": [{"claim": a["claim"], "here": a["verdict"], "other": b["verdict"],
                           "effect_here": a["effect"], "effect_other": b["effect"]} for a, b, s in zip(here, there, same) if not s]}
    (ROOT / "docs" / "verdict_stability.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['same_verdict']} of {result['claims']} verdicts (notebook 04, Ours > baseline on Tables 1-3) stay the "
          f"same under ATEN_CPU_CAPABILITY={args.capability} (here: {result['capability_here']})")
    for c in result["changed"]:
        print(f"  changed: {c['claim']}: {c['here']} -> {c['other']} ({c['effect_here']:+.2f} -> {c['effect_other']:+.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
