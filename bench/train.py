"""SFT training throughput: our jitted step (micro-batches accumulated in a scan, clipping, AdamW)
vs transformers + torch (forward, masked token-mean loss, backward per micro-batch, clipping,
torch.optim.AdamW) on the same model and batch, float32 on CPU. Ends with the rollout benchmark.

    python bench/train.py [--batch 4] [--accum 2] [--seq 512]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import (add_model_args, add_thread_arg, apply_threads, load_line,  # noqa: E402
                    make_checkpoint, model_config, report, timeit)
from prism_jax.models import load_pretrained  # noqa: E402
from prism_jax.runtime import enable_compilation_cache  # noqa: E402
from prism_jax.models.transformer import unstack_layers  # noqa: E402
from prism_jax.sft import SFTConfig, make_optimizer, make_train_step, unrolled_layers  # noqa: E402
from xprof import breakdown, op_times, print_breakdown  # noqa: E402


def _category(op_name: str) -> str:
    """Coarse bucket of an SFT-step op from its op_name."""
    backward = "transpose(" in op_name
    side = "backward" if backward else "forward"
    if "/while/" not in op_name:
        return "optimizer (clipping, AdamW) and accumulation"
    if "/logprobs/" in op_name:
        return f"lm head + log-softmax ({side})"
    if "/attention/" in op_name:
        return f"attention ({side})"
    if any(s in op_name for s in ("...d,de->...e", "...e,de->...d", "...d,...e->de")):
        return f"projection matmuls ({side})"
    if "dynamic_slice" in op_name or "dynamic_update_slice" in op_name:
        return "layer slices and stacking"
    return f"norms, RoPE, activations, residuals ({side})"


def main(argv: list[str] | tuple[str, ...] = ()) -> float:
    """Print both throughputs and their ratio; returns the ratio (ours / transformers)."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batch", type=int, default=4, help="trajectories per micro-batch")
    ap.add_argument("--accum", type=int, default=2, help="micro-batches per optimizer step")
    ap.add_argument("--seq", type=int, default=512, help="tokens per trajectory")
    ap.add_argument("--no-rollout", action="store_true", help="skip the rollout benchmark")
    ap.add_argument("--remat", default="none", help="our step's remat policy (none, full, dots...)")
    ap.add_argument("--layout", default="auto", choices=["auto", "scan", "unroll"],
                    help="our step's layer layout (SFTHparams.layers; auto: unroll on CPU)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="also print where our step's time goes")
    add_model_args(ap)
    add_thread_arg(ap)
    args = ap.parse_args(list(argv))
    threads = apply_threads(args.threads)
    enable_compilation_cache()
    path, ref = make_checkpoint(config=model_config(args))
    ours = load_pretrained(path)
    cfg = ours.config
    rng = np.random.default_rng(0)
    a, b, t = args.accum, args.batch, args.seq
    ids = rng.integers(2, cfg.vocab_size, (a, b, t)).astype(np.int32)
    attn = np.ones((a, b, t), np.int32)
    # Assistant turns: the second half of every trajectory is trained on.
    loss_mask = (np.arange(t) >= t // 2).astype(np.int32)[None, None].repeat(a, 0).repeat(b, 1)
    tokens = a * b * t

    config = SFTConfig(model=path, data=path, out=path, lr=1e-5, warmup_ratio=0.0, accum_steps=a)
    optimizer = make_optimizer(config, total_steps=1000)
    step = make_train_step(cfg, optimizer, accum_steps=a, remat=args.remat)
    batch = {"input_ids": jax.numpy.asarray(ids), "attention_mask": jax.numpy.asarray(attn),
             "loss_mask": jax.numpy.asarray(loss_mask)}
    unroll = unrolled_layers(args.layout, None)
    state = [unstack_layers(ours.params()) if unroll else ours.params(), None]
    state[1] = optimizer.init(state[0])

    def ours_run():
        state[0], state[1], metrics = step(state[0], state[1], batch)
        jax.block_until_ready(metrics["loss"])

    ref.train()
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    t_ids, t_attn = torch.as_tensor(ids, dtype=torch.long), torch.as_tensor(attn)
    weights = torch.as_tensor((loss_mask * attn)[..., 1:], dtype=torch.float32)
    n_targets = weights.sum()

    def ref_run():
        for m in range(a):
            logits = ref(t_ids[m], attention_mask=t_attn[m]).logits[:, :-1]
            nll = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size),
                                                    t_ids[m, :, 1:].reshape(-1), reduction="none")
            ((nll.reshape(b, t - 1) * weights[m]).sum() / n_targets).backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    t_ours, t_ref = timeit(ours_run, args.repeats), timeit(ref_run, args.repeats)
    n_params = sum(p.numel() for p in ref.parameters()) / 1e6
    print(f"SFT step: {n_params:.1f}M parameters, {a} x {b} trajectories x {t} tokens, AdamW + "
          f"clipping, float32, remat {args.remat}, layers {'unrolled' if unroll else 'scanned'}, "
          f"{threads} threads")
    ratio = report("SFT step", tokens, "tokens", t_ours, t_ref, "transformers")
    if args.profile:
        parts = breakdown(op_times(step, state[0], state[1], batch), _category)
        print_breakdown(f"profile of one SFT step (XLA op time; {load_line()}):", parts)

    rollout = Path(__file__).with_name("rollout.py")
    if not args.no_rollout and rollout.exists():
        spec = importlib.util.spec_from_file_location("bench_rollout", rollout)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if hasattr(module, "main"):
            print()
            module.main([] if args.threads is None else ["--threads", str(args.threads)])
    return ratio


if __name__ == "__main__":
    main(sys.argv[1:])
