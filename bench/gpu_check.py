"""The GPU check: parity and speed of prism-jax against torch/transformers on one GPU, in one
command of a few minutes.

    python bench/gpu_check.py                   # on a CUDA machine (jax[cuda], flax, optax, torch,
                                                # transformers; no grain, tyro or gymnasium needed)
    python bench/gpu_check.py --json out.json   # also write the figures
    python bench/gpu_check.py --cpu-smoke       # the same sections on a tiny model, on CPU

On a random Qwen3-architecture model of 0.6B parameters (Qwen3-0.6B's shape), it prints:
  1. logits parity with transformers, float32 and bfloat16;
  2. probe norms against torch's backward() + per-matrix grad norms (the paper's way), and the
     probe's throughput against that batch-1 loop;
  3. the SFT step (bf16 compute, float32 parameters and AdamW) against transformers + torch AdamW
     under autocast;
  4. rollout sampling (bf16, temperature 1) against transformers `generate`;
with each side's achieved TFLOP/s (model FLOPs, prism_jax.plan) or GB/s (decode: weights + KV
cache read per step) against the device's peak, and the attention implementation that ran.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# name -> Qwen3Config kwargs and the shapes of each section
SIZES = {
    "gpu": dict(model=dict(vocab_size=151936, hidden_size=1024, intermediate_size=3072,
                           num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                           head_dim=128, tie_word_embeddings=True),
                parity=(2, 256), probe=(16, 1024, 8), sft=(4, 1024), sample=(64, 512, 128)),
    "cpu-smoke": dict(model=dict(vocab_size=512, hidden_size=64, intermediate_size=128,
                                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                 head_dim=16, tie_word_embeddings=True),
                      parity=(2, 32), probe=(4, 64, 2), sft=(2, 64), sample=(4, 16, 8)),
}
MATRICES = ("q", "k", "v", "o", "gate", "up", "down")
TORCH_NAMES = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
               "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
               "down": "mlp.down_proj"}


def _timed(fn, sync, repeats: int = 3) -> float:
    """Best wall time of fn() over `repeats` calls after a warm-up (sync() waits for the device)."""
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


class Report:
    def __init__(self):
        self.figures: dict = {}

    def line(self, key: str, text: str, **values) -> None:
        print(f"  {text}", flush=True)
        self.figures[key] = values


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny model on CPU (tests the script)")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args(argv)
    size = SIZES["cpu-smoke" if args.cpu_smoke else "gpu"]
    if args.cpu_smoke:
        os.environ["JAX_PLATFORMS"] = "cpu"
    # torch shares the GPU: JAX takes memory as it needs it instead of 75% up front
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

    import jax
    import jax.numpy as jnp
    import numpy as np
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from prism_jax import plan as P
    from prism_jax.models import load_pretrained
    from prism_jax.models.attention import resolve_attention
    from prism_jax.runtime import enable_compilation_cache

    enable_compilation_cache()

    dev = "cpu" if args.cpu_smoke else "cuda"
    if dev == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: torch sees no CUDA device (use --cpu-smoke to try the script)")
    jdev = jax.devices()[0]
    kind = getattr(jdev, "device_kind", str(jdev))
    hw = P.hardware_for(kind)
    print(f"gpu_check: jax {jax.__version__} on {kind} ({jax.default_backend()}), torch "
          f"{torch.__version__}" + (f"; peak {hw.bf16_flops / 1e12:.0f} TFLOP/s bf16, "
                                     f"{hw.hbm_bytes / 1e12:.2f} TB/s ({hw.name})" if hw else ""))
    torch_sync = (lambda: torch.cuda.synchronize()) if dev == "cuda" else (lambda: None)
    rep = Report()
    t_start = time.perf_counter()

    torch.manual_seed(0)
    hf_cfg = Qwen3Config(**size["model"], eos_token_id=1, pad_token_id=0)
    ref = Qwen3ForCausalLM(hf_cfg).eval()
    root = Path(tempfile.mkdtemp(prefix="prism-gpu-check-"))
    ref.save_pretrained(root)
    ref = ref.to(dev)
    ours = load_pretrained(root)
    cfg = ours.config
    n_params = cfg.num_params()
    print(f"model: random Qwen3 architecture, {n_params / 1e9:.2f}B parameters, vocab "
          f"{cfg.vocab_size}, {cfg.num_layers} layers, d {cfg.hidden_size}")
    rng = np.random.default_rng(0)
    peak = hw.bf16_flops if hw else 1.0
    frac = lambda x, peak: f" = {100 * x / peak:.0f}% of the bf16 peak" if hw else ""

    # 1. logits parity -----------------------------------------------------------------------
    print("1. logits vs transformers (max |difference|, logits of std ~1)")
    b, t = size["parity"]
    ids = rng.integers(2, cfg.vocab_size, (b, t))
    ref_bf16 = copy.deepcopy(ref).to(torch.bfloat16)
    with torch.no_grad():
        want = ref(torch.as_tensor(ids, device=dev)).logits.float().cpu().numpy()
        theirs_bf16 = ref_bf16(torch.as_tensor(ids, device=dev)).logits.float().cpu().numpy()
    with jax.default_matmul_precision("highest"):
        got = np.asarray(ours(ids))
    ours_bf16 = load_pretrained(root, dtype=jnp.bfloat16)
    got_bf16 = np.asarray(ours_bf16(ids))
    impl = resolve_attention(cfg.attention, jnp.bfloat16, cfg.head_dim, t)
    rep.line("parity", f"float32: {np.abs(got - want).max():.1e}; bfloat16: ours {np.abs(got_bf16 - want).max():.1e}, "
             f"transformers' own bf16 {np.abs(theirs_bf16 - want).max():.1e}; attention: "
             f"{resolve_attention(cfg.attention, jnp.float32, cfg.head_dim, t)} (fp32), {impl} (bf16)",
             fp32=float(np.abs(got - want).max()), bf16=float(np.abs(got_bf16 - want).max()),
             torch_bf16=float(np.abs(theirs_bf16 - want).max()), attention_bf16=impl)

    # 2. probe -------------------------------------------------------------------------------
    from prism_jax.probe import choose_remat, make_probe_step
    n, t, pb = size["probe"]
    print(f"2. probe: {n} trajectories of {t // 2}-{t} tokens (40% loss tokens); ours batch {pb}, "
          f"torch batch 1 (backward(), then each matrix's grad norm)")
    pids = rng.integers(2, cfg.vocab_size, (n, t)).astype(np.int32)
    lengths = rng.integers(t // 2, t + 1, n)
    attn = (np.arange(t)[None] < lengths[:, None]).astype(np.int32)
    loss = (attn * (rng.random((n, t)) < 0.4)).astype(np.int32)
    batches = [slice(i, i + pb) for i in range(0, n, pb)]

    def torch_norms(model, rows):
        out = []
        for i in rows:
            k = int(attn[i].sum())
            x = torch.as_tensor(pids[i, :k], dtype=torch.long, device=dev)[None]
            labels = torch.where(torch.as_tensor(loss[i, :k] == 1, device=dev), x[0], -100)[None]
            model.zero_grad(set_to_none=True)
            model(x, labels=labels).loss.backward()
            out.append([layer.get_submodule(TORCH_NAMES[m]).weight.grad.float().norm().item()
                        for layer in model.model.layers for m in MATRICES])
        return np.asarray(out)

    # norms in float32 at full precision (no TF32) on the first batch
    torch.backends.cuda.matmul.allow_tf32 = False
    with jax.default_matmul_precision("highest"):
        got = np.asarray(make_probe_step(cfg)(ours.params(), pids[batches[0]], attn[batches[0]],
                                              loss[batches[0]]))
    want = torch_norms(ref, range(min(pb, n)))
    rel = float(np.max(np.abs(got - want) / want))
    # throughput in bfloat16 on both sides
    step = make_probe_step(cfg, compute_dtype=jnp.bfloat16)
    params = ours_bf16.params()
    out = []
    ours_probe = lambda: out.append(jax.block_until_ready(
        [step(params, pids[s], attn[s], loss[s]) for s in batches]))
    t_ours = _timed(ours_probe, lambda: None)
    t_torch = _timed(lambda: torch_norms(ref_bf16, range(n)), torch_sync)
    flops = sum(P.probe_flops(cfg, pb, t, float(loss[s, 1:].sum()),
                              remat=choose_remat(cfg, pb, t, jnp.bfloat16)) for s in batches)
    tf = flops / t_ours / 1e12
    rep.line("probe", f"norms (fp32) max rel. diff {rel:.1e}; bf16: {n / t_ours:.1f} traj/s vs torch "
             f"{n / t_torch:.1f}: {t_torch / t_ours:.2f}x; {tf:.1f} TFLOP/s{frac(tf * 1e12, peak)}",
             rel_diff=rel, speedup=t_torch / t_ours, tflops=tf)

    # 3. SFT step -----------------------------------------------------------------------------
    from types import SimpleNamespace

    from prism_jax.sft_step import make_optimizer, make_train_step
    b, t = size["sft"]
    print(f"3. SFT step: {b} x {t} tokens, bf16 compute, float32 parameters + AdamW")
    sids = rng.integers(2, cfg.vocab_size, (1, b, t)).astype(np.int32)
    smask = np.ones_like(sids)
    sloss = (np.arange(t) >= t // 2).astype(np.int32)[None, None].repeat(b, 1)
    # the paper's SFT optimizer (appendix C; sft.SFTHparams' defaults), without its run
    # settings (prism_jax.sft needs grain and orbax)
    config = SimpleNamespace(lr=1e-5, warmup_ratio=0.0, max_grad_norm=1.0, adam_b1=0.9,
                             adam_b2=0.999, adam_eps=1e-8, weight_decay=0.0)
    optimizer = make_optimizer(config, total_steps=100)
    train = make_train_step(cfg, optimizer, accum_steps=1, compute_dtype=jnp.bfloat16)
    batch = {"input_ids": jnp.asarray(sids), "attention_mask": jnp.asarray(smask),
             "loss_mask": jnp.asarray(sloss)}
    state = [ours.params(), None]
    state[1] = optimizer.init(state[0])

    def ours_sft():
        state[0], state[1], m = train(state[0], state[1], batch)
        jax.block_until_ready(m["loss"])

    ref.train()
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-5)
    t_ids = torch.as_tensor(sids[0], dtype=torch.long, device=dev)
    w = torch.as_tensor(sloss[0, :, 1:], dtype=torch.float32, device=dev)

    def torch_sft():
        with torch.autocast(device_type=dev, dtype=torch.bfloat16):
            logits = ref(t_ids).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size),
                                                t_ids[:, 1:].reshape(-1), reduction="none")
        ((nll.reshape(b, t - 1) * w).sum() / w.sum()).backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    t_ours, t_torch = _timed(ours_sft, lambda: None), _timed(torch_sft, torch_sync)
    ref.eval()
    flops = P.train_flops(cfg, b, t, float(sloss[0, :, 1:].sum()))
    tf, tf_t = flops / t_ours / 1e12, flops / t_torch / 1e12
    rep.line("sft", f"{b * t / t_ours:.0f} tokens/s vs torch {b * t / t_torch:.0f}: "
             f"{t_torch / t_ours:.2f}x; {tf:.1f} TFLOP/s{frac(tf * 1e12, peak)} (torch "
             f"{tf_t:.1f}); attention {resolve_attention(cfg.attention, jnp.bfloat16, cfg.head_dim, t)}",
             speedup=t_torch / t_ours, tflops=tf, torch_tflops=tf_t)

    # 4. sampling -----------------------------------------------------------------------------
    from prism_jax.sampler import generate, left_pad
    b, p, new = size["sample"]
    print(f"4. sampling: batch {b}, prompts {p // 2}-{p} tokens, {new} new tokens, bf16, temperature 1")
    lens = rng.integers(p // 2, p + 1, b)
    ids, mask = left_pad([rng.integers(2, cfg.vocab_size, k).tolist() for k in lens], 0, length=p)
    bf16_params = ours_bf16.params()

    def ours_sample():
        generate(bf16_params, cfg, ids, mask, max_new_tokens=new, temperature=1.0, seed=0)

    def torch_sample():
        with torch.no_grad():
            ref_bf16.generate(input_ids=torch.as_tensor(ids, dtype=torch.long, device=dev),
                              attention_mask=torch.as_tensor(mask, dtype=torch.long, device=dev),
                              max_new_tokens=new, min_new_tokens=new, do_sample=True,
                              temperature=1.0, top_p=1.0, top_k=0, pad_token_id=0)

    t_ours, t_torch = _timed(ours_sample, lambda: None, 2), _timed(torch_sample, torch_sync, 2)
    # decode reads the weights and the cache once per step; prefill is compute-bound
    read = sum(P.decode_step(cfg, b, p + j)[1] for j in range(new))
    gbs = read / t_ours / 1e9
    roofline = b * new / (read / hw.hbm_bytes) if hw else None
    rep.line("sample", f"{b * new / t_ours:.0f} tokens/s vs generate {b * new / t_torch:.0f}: "
             f"{t_torch / t_ours:.2f}x; {gbs:.0f} GB/s read by decoding (prefill included in the "
             f"time)" + (f" = {100 * gbs * 1e9 / hw.hbm_bytes:.0f}% of HBM bandwidth; roofline "
                         f"{roofline:.0f} tokens/s" if hw else "") + f"; prefill attention {impl}, "
             f"decode: einsum over per-layer caches",
             speedup=t_torch / t_ours, tokens_per_s=b * new / t_ours,
             roofline_fraction=(b * new / t_ours) / roofline if roofline else None)

    print(f"done in {time.perf_counter() - t_start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"device": kind, "params": n_params, **rep.figures}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
