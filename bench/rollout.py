"""Rollout sampling throughput: our jitted KV-cache sampler vs transformers `generate` (torch, CPU)
on the same model and the same batch of left-padded prompts, sampling at temperature 1.

    python bench/rollout.py                       # batch 16, prompts <= 128, 64 new tokens
    python bench/rollout.py --batch 64
    python bench/rollout.py --vocab 151936        # a Qwen3-sized vocabulary
    python bench/rollout.py --top-p 0.9
    python bench/rollout.py --profile             # + where a decode step's time goes

The model is Qwen3-architecture, vocabulary 32k, d=256, 4 layers (`common.NARROW`; --hidden,
--layers... change it). --profile traces one `generate` call with jax.profiler and sums the XLA
ops' time by the named scope they come from (prefill, decode layers: projections / attention /
slicing / the rest, lm head, sampling), per decode step.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import (NARROW, add_model_args, add_thread_arg, apply_threads, load_line,  # noqa: E402
                    make_checkpoint, model_config, report, timeit)
from prism_jax.models import load_pretrained  # noqa: E402
from prism_jax.runtime import enable_compilation_cache  # noqa: E402
from prism_jax.sampler import _generate, _stop_table, generate, left_pad  # noqa: E402
from xprof import breakdown, op_times, print_breakdown  # noqa: E402


def _category(op_name: str) -> str:
    """Coarse bucket of an HLO op from its op_name metadata (the named scopes of sampler.py and
    transformer.py)."""
    if "/prefill/" in op_name:
        return "prefill"
    if "/sample/" in op_name:
        return "decode: sampling (one vocabulary pass + inverse CDF)"
    if "/lm_head/" in op_name:
        return "decode: lm head matmul"
    if "/attention/" in op_name:
        return "decode layers: attention over the cache"
    if "...d,de->...e" in op_name or "btd,de->bte" in op_name:
        return "decode layers: projection matmuls"
    if "dynamic_slice" in op_name or "dynamic_update_slice" in op_name:
        return "decode layers: layer slices of weights / cache writes"
    if "/while/" in op_name:
        return "decode layers: norms, RoPE, residuals, loop"
    return "other"


def profile(params, cfg, ids, mask, new: int, temperature: float, top_p: float) -> None:
    """Trace one generate call and print milliseconds per decode step by category."""
    args = (params, cfg, jnp.asarray(ids), jnp.asarray(mask), jax.random.key(0),
            jnp.float32(temperature), jnp.float32(top_p), jnp.asarray(_stop_table([])), jnp.int32(0))
    static = dict(max_new_tokens=new, greedy=temperature == 0.0,
                  nucleus=temperature > 0 and top_p < 1.0, compute_dtype=None)
    parts = breakdown(op_times(_generate, *args, **static), _category)
    print(f"profile of one generate call (XLA op time; {load_line()}):")
    print(f"  prefill: {parts.pop('prefill', 0.0):.1f} ms in all")
    print_breakdown("  decode, per step:", parts, per=new, unit="ms/step")


def main(argv: list[str] | tuple[str, ...] = ()) -> float:
    """Print both throughputs and their ratio; returns the ratio (ours / transformers)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16, help="prompts per batch")
    ap.add_argument("--prompt", type=int, default=128, help="longest prompt length (tokens)")
    ap.add_argument("--new", type=int, default=64, help="tokens generated per prompt")
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--top-p", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="also print a decode step's breakdown")
    add_model_args(ap, NARROW)
    add_thread_arg(ap)
    args = ap.parse_args(list(argv))
    threads = apply_threads(args.threads)
    enable_compilation_cache()
    path, ref = make_checkpoint(config=model_config(args, NARROW))
    ours = load_pretrained(path)
    rng = np.random.default_rng(0)
    # Ragged prompts as in a rollout batch (different chat lengths), left-padded on both sides.
    lengths = rng.integers(args.prompt // 2, args.prompt + 1, args.batch)
    prompts = [rng.integers(2, ref.config.vocab_size, n).tolist() for n in lengths]
    ids, mask = left_pad(prompts, pad_id=0, length=args.prompt)
    tokens = args.batch * args.new
    greedy = args.temperature == 0.0

    # No EOS or stop sequence on either side, so both produce exactly `new` tokens per row.
    def ours_run():
        return generate(ours.params(), ours.config, ids, mask, max_new_tokens=args.new,
                        temperature=args.temperature, top_p=args.top_p, seed=0)

    def ref_run():
        sampling = {} if greedy else dict(temperature=args.temperature, top_p=args.top_p, top_k=0)
        with torch.no_grad():
            return ref.generate(input_ids=torch.as_tensor(ids, dtype=torch.long),
                                attention_mask=torch.as_tensor(mask, dtype=torch.long),
                                max_new_tokens=args.new, min_new_tokens=args.new,
                                do_sample=not greedy, pad_token_id=0, **sampling)

    assert ours_run().tokens.shape == (args.batch, args.new)
    t_ours, t_ref = timeit(ours_run, args.repeats), timeit(ref_run, args.repeats)
    n_params = sum(p.numel() for p in ref.parameters()) / 1e6
    print(f"rollout sampling: {n_params:.1f}M-parameter model (vocab {args.vocab}, d {args.hidden}, "
          f"{args.layers} layers), batch {args.batch}, prompts <= {args.prompt} tokens, {args.new} "
          f"new tokens each, temperature {args.temperature}, top-p {args.top_p}, float32, "
          f"{threads} threads")
    ratio = report("sampling", tokens, "tokens", t_ours, t_ref, "transformers")
    if args.profile:
        profile(ours.params(), ours.config, ids, mask, args.new, args.temperature, args.top_p)
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
