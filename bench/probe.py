"""Probe throughput and memory: our jitted probe step vs the PyTorch reference.

Reference: transformers model, batch-1 loop, loss = mean CE over response tokens, loss.backward(),
then p.grad.norm() of every q/k/v/o/gate/up/down weight (what a PyTorch user would write, and
the paper's way). Each side runs in its own subprocess on the same checkpoint and trajectories,
so peak memory is comparable: we report the growth of peak RSS over the RSS after loading the
model. Our side also reports its achieved GFLOP/s (model FLOPs counted from the shapes,
`prism_jax.plan.probe_flops`, over the measured time) against the machine's float32 matmul peak (bench/matmul.py: the best of jnp.dot, torch.mm
and numpy on square products, measured in the same process and thread setting).

    python bench/probe.py                          # 8 trajectories of 256-512 tokens, batch 8
    python bench/probe.py --threads 1              # fair on a loaded box (compare CPU time)
    python bench/probe.py --remat full             # least memory
    python bench/probe.py --hidden 512 --layers 8 --vocab 8192    # the 34M bench model

The model is Qwen3-architecture, vocabulary 32k, d=256, 4 layers (`common.NARROW`). Response
(loss) tokens are a random 40% of each trajectory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

MATRICES = ("q", "k", "v", "o", "gate", "up", "down")
TORCH_NAMES = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
               "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
               "down": "mlp.down_proj"}


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def batch(n: int, t: int, vocab: int):
    rng = np.random.default_rng(0)
    ids = rng.integers(2, vocab, (n, t)).astype(np.int32)
    lengths = rng.integers(t // 2, t + 1, n)
    attn = (np.arange(t)[None] < lengths[:, None]).astype(np.int32)
    loss = attn * (rng.random((n, t)) < 0.4)
    return ids, attn, loss.astype(np.int32)


def run_ours(path, n, t, b, remat, peak):
    import jax
    from matmul import peak_gflops
    from prism_jax.models import load_pretrained
    from prism_jax.plan import probe_flops
    from prism_jax.probe import choose_remat, make_probe_step, plan_batches
    from prism_jax.runtime import enable_compilation_cache
    enable_compilation_cache()
    model = load_pretrained(path)
    ids, attn, loss = batch(n, t, model.config.vocab_size)
    step = make_probe_step(model.config, remat=remat)
    params = model.params()
    base = rss_mb()
    plan = plan_batches(attn.sum(1), b, t, multiple=64)
    compiled = {}
    for idx, length in plan:  # compile (and warm up) each bucket shape once, outside the timing
        if length not in compiled:
            compiled[length] = step.lower(params, ids[idx, :length], attn[idx, :length],
                                          loss[idx, :length]).compile()
            jax.block_until_ready(compiled[length](params, ids[idx, :length], attn[idx, :length],
                                                   loss[idx, :length]))
    t0, c0 = time.perf_counter(), time.process_time()
    out = [compiled[length](params, ids[idx, :length], attn[idx, :length], loss[idx, :length])
           for idx, length in plan]
    norms = np.empty((n, out[0].shape[1]), np.float32)
    for (idx, _), o in zip(plan, jax.device_get(out)):
        norms[idx] = o[: len(idx)]
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    # model FLOPs, counted from the shapes (XLA's cost analysis counts a scanned layer once)
    flops = sum(probe_flops(model.config, len(idx), length, float(loss[idx, 1:length].sum()),
                            remat=remat if remat != "auto" else choose_remat(model.config, len(idx), length))
                for idx, length in plan)
    temp = max(c.memory_analysis().temp_size_in_bytes for c in compiled.values())
    return dict(seconds=elapsed, cpu=cpu, base_mb=base, xla_temp_mb=temp / 2**20, flops=flops,
                peak_gflops=peak_gflops() if peak else None, norms=norms.tolist())


def run_torch(path, n, t, b, remat, peak):
    import torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    ids, attn, loss = batch(n, t, model.config.vocab_size)
    base = rss_mb()

    def one(i):
        k = int(attn[i].sum())
        x = torch.as_tensor(ids[i, :k], dtype=torch.long)[None]
        labels = torch.where(torch.as_tensor(loss[i, :k] == 1), x[0], -100)[None]
        model.zero_grad(set_to_none=True)
        model(x, labels=labels).loss.backward()
        return [layer.get_submodule(TORCH_NAMES[m]).weight.grad.norm().item()
                for layer in model.model.layers for m in MATRICES]

    one(0)  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    norms = [one(i) for i in range(n)]
    return dict(seconds=time.perf_counter() - t0, cpu=time.process_time() - c0, base_mb=base,
                norms=norms)


def child(args):
    from common import apply_threads
    apply_threads(args.threads)
    result = (run_ours if args.side == "ours" else run_torch)(
        args.path, args.trajectories, args.seq, args.batch, args.remat, not args.no_peak)
    result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    from common import NARROW, add_model_args, add_thread_arg, load_line, model_config

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trajectories", type=int, default=8)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--remat", default="auto", choices=["auto", "full", "none"],
                    help="probe-step rematerialisation: auto (none when the activations are "
                         "small), full (least memory) or none")
    ap.add_argument("--no-peak", action="store_true", help="skip measuring the matmul peak")
    ap.add_argument("--side", choices=["ours", "torch"], help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    add_model_args(ap, NARROW)
    add_thread_arg(ap)
    args = ap.parse_args()
    if args.side:
        return child(args)

    from common import make_checkpoint
    path, _ = make_checkpoint(config=model_config(args, NARROW))
    res = {}
    for side in ("ours", "torch"):
        cmd = [sys.executable, __file__, "--side", side, "--path", str(path), "--trajectories",
               str(args.trajectories), "--seq", str(args.seq), "--batch", str(args.batch),
               "--remat", args.remat] + (["--no-peak"] if args.no_peak else []) + (
               ["--threads", str(args.threads)] if args.threads else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        res[side] = json.loads(out.stdout.strip().splitlines()[-1])
    ours, ref = res["ours"], res["torch"]
    rel = np.max(np.abs(np.array(ours["norms"]) - np.array(ref["norms"])) / np.array(ref["norms"]))
    n = args.trajectories
    grow = {k: v["peak_mb"] - v["base_mb"] for k, v in res.items()}
    print(f"{n} trajectories of {args.seq // 2}-{args.seq} tokens, model vocab {args.vocab} d "
          f"{args.hidden} {args.layers} layers (prism-jax: batch {args.batch}, length-bucketed, "
          f"remat={args.remat}; torch: batch 1, unpadded), {args.threads or os.cpu_count()} threads")
    print(f"prism-jax  {n / ours['seconds']:7.2f} traj/s  ({ours['seconds']:.2f} s wall, "
          f"{ours['cpu']:.2f} s CPU)   peak RSS growth {grow['ours']:7.0f} MB "
          f"(XLA temp {ours['xla_temp_mb']:.0f} MB)")
    print(f"torch      {n / ref['seconds']:7.2f} traj/s  ({ref['seconds']:.2f} s wall, "
          f"{ref['cpu']:.2f} s CPU)   peak RSS growth {grow['torch']:7.0f} MB")
    gflops = ours["flops"] / ours["seconds"] / 1e9
    per_cpu = ours["flops"] / ours["cpu"] / 1e9 / (args.threads or os.cpu_count())
    peak = ours["peak_gflops"]
    share = lambda r: f" ({100 * r / peak:.0f}% of the float32 matmul peak, {peak:.1f} GFLOP/s)" if peak else ""
    print(f"prism-jax achieved {gflops:.1f} GFLOP/s per wall second{share(gflops)}, "
          f"{per_cpu:.1f} per CPU second and thread{share(per_cpu * (args.threads or os.cpu_count()))}")
    print(f"speed-up {ref['seconds'] / ours['seconds']:.2f}x wall clock, {ref['cpu'] / ours['cpu']:.2f}x "
          f"CPU time; memory ratio (torch / ours) {grow['torch'] / max(grow['ours'], 1):.2f}x; max "
          f"rel. norm diff {rel:.1e}; {load_line()}")


if __name__ == "__main__":
    main()
