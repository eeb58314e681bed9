"""A per-stage time plan: how long the probe, SFT and GRPO of a preset take on N accelerators.

Each stage's work is counted from the model's shapes and the preset's data sizes (FLOPs of every
matmul, bytes a decode step reads) and divided by a hardware table's peak, at a stated fraction
of it: model FLOPs utilisation (MFU) for the compute-bound steps (probe, SFT, the GRPO update,
prefill) and a fraction of the HBM roofline for decoding, whose steps read all weights and the
KV cache to emit one token per row.

The counts are analytic rather than XLA's `cost_analysis()`: XLA counts a while loop's body once,
whatever its trip count (a 2-, 4- and 8-layer scanned forward report the same FLOPs), and our
layers, micro-batches and loss chunks are all loops. tests/test_plan.py checks the formulas
against XLA's count on one-layer, one-chunk programs, where that count is right.

FLOP conventions: a multiply-add is 2 FLOPs; only matmuls are counted (norms, softmax and the
optimizer are memory-bound and small); causal attention counts the half of the score matrix
a flash kernel computes; a backward pass costs twice its forward (input and weight gradients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from prism_jax.models.config import ModelConfig
from prism_jax.models.tap import choose_mode


@dataclass(frozen=True)
class Hardware:
    """One accelerator chip: dense bf16 peak and HBM bandwidth (vendor figures)."""

    name: str
    bf16_flops: float     # FLOP/s, dense
    hbm_bytes: float      # bytes/s
    memory_gb: float


HARDWARE = {h.name: h for h in [
    Hardware("a100-80gb", 312e12, 2.039e12, 80),
    Hardware("h100", 989e12, 3.35e12, 80),
    Hardware("h200", 989e12, 4.8e12, 141),
    Hardware("tpu-v5e", 197e12, 0.819e12, 16),
    Hardware("tpu-v5p", 459e12, 2.765e12, 95),
    Hardware("tpu-v6e", 918e12, 1.64e12, 32),
]}

def hardware_for(device_kind: str) -> Hardware | None:
    """The table entry of a JAX device_kind ("NVIDIA H200", "TPU v5 lite", ...), None if unknown."""
    kind = device_kind.lower()
    for key, name in (("a100", "a100-80gb"), ("h100", "h100"), ("h200", "h200"),
                      ("v5 lite", "tpu-v5e"), ("v5e", "tpu-v5e"), ("v5p", "tpu-v5p"),
                      ("v6", "tpu-v6e")):
        if key in kind:
            return HARDWARE[name]
    return None


# The paper's Table 3 (PRISM Gini, 8 x A100-80GB), seconds.
TABLE3 = {"alfworld": {"probe": 2 * 60 + 16, "sft": 7 * 60, "grpo": 11 * 3600 + 6 * 60},
          "webshop": {"probe": 60 + 48, "sft": 8 * 60, "grpo": 3 * 3600 + 10 * 60}}


# ------------------------------------------------------------------------------ counts
def layer_matmul_params(cfg: ModelConfig) -> int:
    """Weights of one layer's seven projections (the matmuls a token passes through)."""
    return sum(math.prod(s) for s in cfg.matrix_shapes().values())


def attention_flops(cfg: ModelConfig, batch: int, seq_len: int, causal: bool = True) -> float:
    """Scores and value products of all layers for `batch` sequences of `seq_len` tokens."""
    full = 4.0 * batch * seq_len * seq_len * cfg.num_heads * cfg.head_dim * cfg.num_layers
    return full / 2 if causal else full


def forward_flops(cfg: ModelConfig, batch: int, seq_len: int, scored: float,
                  causal: bool = True) -> tuple[float, float]:
    """(layers, lm head) FLOPs of a forward pass over batch x seq_len tokens, `scored` of which
    go through the lm head."""
    layers = 2.0 * batch * seq_len * cfg.num_layers * layer_matmul_params(cfg)
    return layers + attention_flops(cfg, batch, seq_len, causal), 2.0 * scored * cfg.hidden_size * cfg.vocab_size


def train_flops(cfg: ModelConfig, batch: int, seq_len: int, scored: float, *, remat: str = "none",
                causal: bool = True, recompute_head: bool = False) -> float:
    """One forward + backward (SFT step, GRPO micro-batch): layers and head x 3, plus a second
    forward of the layers with remat and of the head when its chunks are recomputed."""
    layers, head = forward_flops(cfg, batch, seq_len, scored, causal)
    return layers * (4 if remat != "none" else 3) + head * (4 if recompute_head else 3)


def probe_flops(cfg: ModelConfig, batch: int, seq_len: int, scored: float, *, remat: str = "none",
                causal: bool = True) -> float:
    """One probe step: forward, input gradients, and per matrix the cheaper of the direct
    (T Din Dout) or ghost (T^2 (Din + Dout)) per-example norm; the head's forward and its
    hidden-state gradient only (scored positions)."""
    layers, head = forward_flops(cfg, batch, seq_len, scored, causal)
    norms = 0.0
    for d_in, d_out in cfg.matrix_shapes().values():
        direct = choose_mode(seq_len, d_in, d_out) == "direct"
        norms += 2.0 * seq_len * (d_in * d_out if direct else seq_len * (d_in + d_out))
    norms *= batch * cfg.num_layers
    attention = attention_flops(cfg, batch, seq_len, causal)
    backward = layers + attention          # input gradients: the matmuls once, attention twice
    return layers * (2 if remat != "none" else 1) + backward + norms + 2 * head


def param_bytes(cfg: ModelConfig, dtype_bytes: int = 2) -> float:
    """Bytes a decode step reads for the weights: every layer and the lm head (not the embedding,
    of which it reads one row per token)."""
    return dtype_bytes * (cfg.num_layers * layer_matmul_params(cfg) + cfg.hidden_size * cfg.vocab_size)


def kv_bytes_per_token(cfg: ModelConfig, dtype_bytes: int = 2) -> float:
    """KV-cache bytes of one token (all layers, keys and values)."""
    return dtype_bytes * 2 * cfg.num_layers * cfg.num_kv_heads * cfg.head_dim


def decode_step(cfg: ModelConfig, batch: int, context: float, dtype_bytes: int = 2) -> tuple[float, float]:
    """(FLOPs, bytes read) of one decode step: `batch` rows, `context` cached tokens each."""
    flops = 2.0 * batch * (cfg.num_layers * layer_matmul_params(cfg) + cfg.hidden_size * cfg.vocab_size)
    flops += 4.0 * batch * context * cfg.num_heads * cfg.head_dim * cfg.num_layers
    return flops, param_bytes(cfg, dtype_bytes) + batch * context * kv_bytes_per_token(cfg, dtype_bytes)


# ------------------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class Assumptions:
    """What the plan cannot read from the preset (each printed with the plan)."""

    mfu: float = 0.40
    """Model FLOPs utilisation of the compute-bound steps (MaxText trains 7-8B at 45-50%)."""
    decode_roofline: float = 0.50
    """Fraction of the HBM roofline a decode step reaches (bench/gpu_check.py measures ours on a
    GPU; vLLM-class servers reach ~0.9 at batch 128)."""
    trajectory_fill: float = 0.6
    """Mean trajectory length as a fraction of the context length (probe and SFT)."""
    target_fraction: float = 0.3
    """Share of a trajectory's tokens that are assistant (loss) tokens."""
    alfworld_steps: int = 20
    """Mean environment steps per ALFWorld GRPO episode (cap 50)."""
    webshop_steps: int = 8
    """Mean environment steps per WebShop GRPO episode (cap 15)."""
    response_tokens: int = 128
    """Mean tokens per sampled response (think + action; cap 512)."""
    prompt_fill: float = 0.6
    """Mean rollout prompt length as a fraction of the prompt budget."""


@dataclass(frozen=True)
class StageTime:
    stage: str
    seconds: float
    flops: float
    detail: str


def _compute_seconds(flops: float, hw: Hardware, devices: int, a: Assumptions) -> float:
    return flops / (devices * hw.bf16_flops * a.mfu)


def plan(cfg: ModelConfig, pipeline, hw: Hardware, devices: int, a: Assumptions = Assumptions(),
         rl_share: float = 0.5) -> list[StageTime]:
    """Predicted wall clock of the probe, SFT and GRPO stages of `pipeline` (a PipelineConfig).

    Data: the preset's n trajectories are probed; `rl_share` of them go to RL (their tasks) and
    the rest to SFT (PRISM's median split); GRPO runs ceil(rl_epochs * tasks / tasks_per_iter)
    iterations of tasks_per_iter x group_size episodes. Environment time is not counted.
    """
    env, n = pipeline.env, pipeline.data.n
    sft, grpo = pipeline.sft, pipeline.grpo
    t_probe = pipeline.max_len
    fill = a.trajectory_fill * t_probe
    out = []

    # Stage I: every trajectory once, padded to its length bucket (~ its length).
    f = probe_flops(cfg, n, fill, n * fill * a.target_fraction,
                    remat=pipeline.probe_remat)
    out.append(StageTime("probe", _compute_seconds(f, hw, devices, a), f,
                         f"{n} trajectories x {fill:.0f} tokens"))

    # SFT: the low-concentration share, `epochs` passes.
    n_sft = round(n * (1 - rl_share))
    tokens = sft.epochs * n_sft
    f = train_flops(cfg, tokens, fill, tokens * fill * a.target_fraction, remat=sft.remat)
    out.append(StageTime("sft", _compute_seconds(f, hw, devices, a), f,
                         f"{n_sft} trajectories x {sft.epochs} epochs x {fill:.0f} tokens"))

    # GRPO: per iteration, rollouts (prefill + decode per env step) and the update.
    tasks = round(n * rl_share)
    iters = math.ceil(pipeline.rl_epochs * tasks / grpo.tasks_per_iter) if pipeline.rl_epochs else grpo.iterations
    envs = grpo.tasks_per_iter * grpo.group_size
    steps = a.alfworld_steps if env == "alfworld" else a.webshop_steps
    prompt = a.prompt_fill * (grpo.max_prompt_len or pipeline.max_len)
    resp = min(a.response_tokens, grpo.max_new_tokens)
    rows_per_device = envs / devices
    layers, head = forward_flops(cfg, envs, prompt, envs)
    prefill = _compute_seconds(layers + head, hw, devices, a)
    decode = 0.0
    for j in range(resp):                    # one decode step per response token
        fl, by = decode_step(cfg, math.ceil(rows_per_device), prompt + j)
        decode += max(fl / hw.bf16_flops, by / hw.hbm_bytes) / a.decode_roofline
    rows = envs * steps
    update_flops = train_flops(cfg, rows, prompt + resp, rows * resp, remat=grpo.remat)
    update = _compute_seconds(update_flops, hw, devices, a)
    per_iter = steps * (prefill + decode) + update
    rollout_tokens = envs * steps * resp
    out.append(StageTime(
        "grpo", iters * per_iter, iters * (update_flops + steps * (layers + head)),
        f"{iters} iterations x {envs} episodes x {steps} steps; per iteration rollout "
        f"{steps * (prefill + decode):.0f} s ({rollout_tokens} response tokens, "
        f"{rollout_tokens / (steps * (prefill + decode)):.0f} tokens/s) + update {update:.0f} s"))
    return out


def format_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.0f}s"
    m, sec = divmod(round(s), 60)
    h, m = divmod(m, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {sec:02d}s"
