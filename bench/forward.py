"""Forward throughput: our jitted Flax decoder vs transformers (torch, CPU) on the same model.

    python bench/forward.py [--batch 8] [--seq 256] [--threads 1]

The model is the 34M-parameter Qwen3-architecture `common.BENCH_CONFIG` (--hidden, --layers...
change it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import (add_model_args, add_thread_arg, apply_threads, make_checkpoint,  # noqa: E402
                    model_config, report, timeit)
from prism_jax.models import load_pretrained  # noqa: E402
from prism_jax.runtime import enable_compilation_cache  # noqa: E402


def main(argv=()) -> float:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    add_model_args(ap)
    add_thread_arg(ap)
    args = ap.parse_args(list(argv))
    threads = apply_threads(args.threads)
    enable_compilation_cache()
    path, ref = make_checkpoint(config=model_config(args))
    ours = load_pretrained(path)
    ids = np.random.default_rng(0).integers(0, ref.config.vocab_size, (args.batch, args.seq))
    tokens = args.batch * args.seq

    t_ours = timeit(lambda: jax.block_until_ready(ours(ids)))
    with torch.no_grad():
        t_ref = timeit(lambda: ref(torch.as_tensor(ids)).logits)
        diff = np.abs(np.asarray(ours(ids)) - ref(torch.as_tensor(ids)).logits.numpy()).max()
    print(f"model: {sum(p.numel() for p in ref.parameters()) / 1e6:.1f}M params, batch {args.batch} x "
          f"{args.seq} tokens, float32, {threads} threads; max |logit diff| {diff:.1e}")
    return report("forward", tokens, "tokens", t_ours, t_ref, "transformers")


if __name__ == "__main__":
    main(sys.argv[1:])
