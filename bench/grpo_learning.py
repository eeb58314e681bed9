"""Does GRPO learn, and by how much beyond noise? Mean and spread over seeds.

    python bench/grpo_learning.py [--seeds 5]                 # the bandit of tests/test_grpo_learns.py
    python bench/grpo_learning.py --alfworld [--seeds 3]      # + the ALFWorld learning curve

The bandit (tests/grpo_bandit.py): per seed, success before/after, the gain in standard errors
(z) and the same run with negated advantages; the test's margin is its smallest z against the
test's threshold. The ALFWorld curve is the earlier end-to-end test, kept here because its effect
(a few episodes out of 24) is within run-to-run noise: a tiny model fitted by per-step SFT on the
expert play of 3 generated pick-and-place games, then 5 GRPO iterations (group 8, lr 2e-4), each
seed's sampled success on those games before and after (8 episodes per game).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

from prism_jax.runtime import enable_compilation_cache  # noqa: E402

TEST_MIN_Z = 10.0        # tests/test_grpo_learns.py asserts min z > 10 over its seeds


def _spread(xs) -> str:
    xs = np.asarray(xs, float)
    return f"{xs.mean():+.3f} +- {xs.std(ddof=1) if len(xs) > 1 else 0.0:.3f} (n={len(xs)})"


def bandit(seeds: int) -> None:
    from grpo_bandit import run_bandit

    print("bandit over responses: success before -> after (z = gain / SE)")
    for negate in (False, True):
        runs = []
        for s in range(seeds):
            t0 = time.perf_counter()
            r = run_bandit(s, negate=negate)
            runs.append(r)
            print(f"  {'negated ' if negate else ''}seed {s}: {r.before:.3f} -> {r.after:.3f}  "
                  f"z = {r.z:+.1f}  ({time.perf_counter() - t0:.1f} s)")
        label = "negated advantages" if negate else "GRPO"
        print(f"  {label}: gain {_spread([r.gain for r in runs])}, z from "
              f"{min(r.z for r in runs):+.1f} to {max(r.z for r in runs):+.1f}")
        if not negate:
            print(f"  test margin: smallest z {min(r.z for r in runs):.1f} vs the test's "
                  f"threshold {TEST_MIN_Z:.0f}")


def alfworld(seeds: int) -> None:
    from alfworld_runs import alfworld_success, expert_sft
    from prism_jax.grpo import GRPOConfig, train_grpo

    root = Path(tempfile.mkdtemp(prefix="prism-grpo-learning-"))
    fitted = expert_sft(root)                     # the SFT tests' model: wins its 3 games greedily
    games, data, sft = fitted["games"], fitted["data"], fitted["final"]
    before = alfworld_success(sft, games, repeats=8, temperature=1.0)
    print(f"ALFWorld (3 games x 8 episodes): SFT start {before:.3f}")
    gains = []
    for s in range(seeds):
        summary = train_grpo(GRPOConfig(
            model=Path(sft), tasks=data, out=root / f"grpo{s}", group_size=8, tasks_per_iter=3,
            iterations=5, lr=2e-4, max_steps=8, max_new_tokens=16, max_prompt_len=1024,
            temperature=1.0, mini_batch=32, micro_batch=32, bucket=256, save_every=100, seed=s),
            progress=False)
        after = alfworld_success(summary["final_model"], games, repeats=8, temperature=1.0, seed=s)
        gains.append(after - before)
        print(f"  seed {s}: {before:.3f} -> {after:.3f}")
    se = np.sqrt(before * (1 - before) / 24 * 2)
    print(f"  gain {_spread(gains)}; one seed's SE of a difference of two 24-episode rates "
          f"~{se:.3f}")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=5, help="seeds per experiment")
    ap.add_argument("--alfworld", action="store_true",
                    help="also run the ALFWorld learning curve (minutes per seed on 2 cores)")
    args = ap.parse_args(argv)
    enable_compilation_cache()
    bandit(args.seeds)
    if args.alfworld:
        alfworld(args.seeds)


if __name__ == "__main__":
    main()
