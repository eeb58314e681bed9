"""Full-parameter supervised fine-tuning on trajectory chats (paper section 3.1, appendix C).

One optimizer step sees `accum_steps` micro-batches of `batch_size` trajectories per data shard.
Its loss is the token mean of the next-token cross-entropy over every assistant token of all
those micro-batches together:

    loss = sum_{b, t} m[b, t] * nll[b, t] / sum_{b, t} m[b, t],

so a long trajectory weighs in proportion to its number of response tokens (LLaMA-Factory's and
transformers' behaviour with gradient accumulation), not as one per-sequence mean. Each
micro-batch contributes its nll sum divided by the batch's total target count, so accumulating
the micro-batch gradients inside one jitted `lax.scan` gives exactly that loss's gradient.

AdamW with global-norm clipping and a linear warm-up + cosine decay to 0 (transformers'
`get_cosine_schedule_with_warmup`, warm-up steps = ceil(ratio * total)). Parameters and optimizer
state stay float32; `dtype="bfloat16"` runs the forward and backward in bfloat16.

Runs are resumable exactly: every checkpoint holds params, optimizer state and the grain
iterator's state, and `metrics.jsonl` is cut back to the checkpoint's step on restart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from prism_jax import models
from prism_jax.data import expand_steps, make_dataset, read_trajectories
from prism_jax.models.config import ModelConfig
from prism_jax.models.transformer import (map_param_trees, stack_layers, unrolled_layers,
                                          unstack_layers)
from prism_jax.models.tokenizer import load_tokenizer
from prism_jax.progress import progress as progress_bar
from prism_jax.runs import MeshConfig, NonFiniteLossError, RunDir, batch_shards  # noqa: F401 (raised by train_sft)
from prism_jax.sharding import BATCH_AXES, init_state
from prism_jax.sft_step import (BATCH_KEYS, loss_and_grads, make_optimizer,  # noqa: F401 (public API)
                                make_schedule, make_train_step, micro_batches, token_nll_sum)

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class SFTHparams(MeshConfig):
    """SFT hyperparameters (paper defaults: lr 1e-5, 3 epochs, cosine with warm-up 0.1, batch 4
    x accumulation 4, 2048 tokens), the mesh included; `SFTConfig` adds the paths."""

    lr: float = 1e-5
    """Peak AdamW learning rate."""
    epochs: int = 3
    """Passes over the data (each in its own shuffled order)."""
    warmup_ratio: float = 0.1
    """Fraction of the optimizer steps spent warming the learning rate up linearly from 0;
    cosine decay to 0 follows."""
    batch_size: int = 4
    """Trajectories per micro-batch per data shard (per device for pure data parallelism)."""
    accum_steps: int = 4
    """Micro-batches accumulated into one optimizer step."""
    max_len: int = 2048
    """Token budget per trajectory; longer ones keep their start (the paper: 2048 ALFWorld,
    4096 WebShop)."""
    per_step: bool = False
    """Train on one example per agent step instead of one per trajectory: the exact prompt the
    policy sees at that step in rollouts and evaluation (its latest user turn lists the
    admissible actions) followed by the step's response, the loss on that response only. Needs
    the `turns` that `prism gen-data` writes. Whole chats list the actions in their last user
    turn only, so a small model fitted to them does not transfer to the inference prompts."""
    targets: Literal["response", "prompt"] = "response"
    """Which tokens carry the loss: response (the assistant's answers: SFT) or prompt (every
    other token: next-token pre-training on what the policy is shown, never on an answer; the
    pipeline's `pretrain` of a from-scratch base)."""
    weight_decay: float = 0.0
    """AdamW decoupled weight decay (transformers' default: 0)."""
    adam_b1: float = 0.9
    """AdamW beta1."""
    adam_b2: float = 0.999
    """AdamW beta2."""
    adam_eps: float = 1e-8
    """AdamW epsilon."""
    max_grad_norm: float = 1.0
    """Global-norm gradient clipping threshold."""
    dtype: Literal["float32", "bfloat16"] = "float32"
    """Compute dtype of forward and backward (parameters and optimizer state stay float32)."""
    export_dtype: Literal["float32", "bfloat16"] = "float32"
    """Dtype of the weights written to final/ (bfloat16 halves it, as the Hugging Face
    checkpoints are; training itself keeps float32 masters)."""
    remat: Literal["none", "full", "dots", "dots_no_batch"] = "none"
    """Rematerialisation of each layer (scanned or unrolled) in the backward pass: "full" keeps
    the least memory at the cost of one more forward."""
    layers: Literal["auto", "scan", "unroll"] = "auto"
    """How the step runs the decoder layers: "scan" (`lax.scan` over the stacked [L, ...]
    weights: compile time independent of depth, what a mesh's sharding rules expect) or
    "unroll" (the layers traced one after another over per-layer weights, which the training
    state then holds: XLA:CPU no longer slices each layer's weights out of the stack and writes
    its gradient back, about 15% of the 34M bench step). "auto": unroll on a CPU without a
    mesh, scan otherwise. Checkpoints and the exported model are the same either way (stacked),
    so a run may resume with the other layout."""
    chunk: int = 256
    """Tokens per cross-entropy chunk (bounds the [chunk, vocab] logits held at once)."""
    bucket: int = 128
    """Each step's batch is cut to its longest trajectory rounded up to this multiple (padding
    is masked, so the loss is unchanged; fewer compiled shapes than exact lengths)."""
    group_by_length: int = 0
    """Batch examples of similar length together so less of each batch is padding: the
    shuffled order is cut into windows of this many optimizer steps' examples, each sorted by
    length, its batches taken in a random order (the Hugging Face Trainer's
    `group_by_length`). Batches of one length are also batches of one kind of step, which
    changes what is learnt: on the demo's per-step WebShop SFT, 16 gave 1.4x the speed and a
    held-out score of 9.0 vs 15.1 (256 goals). 0 (default): plain shuffled batches."""
    seed: int = 0
    """Seed of the data order."""
    save_every: int = 100
    """Save a checkpoint every N optimizer steps (and after the last)."""
    keep: int = 2
    """Checkpoints kept on disk."""
    max_steps: int | None = None
    """Stop after this many optimizer steps (the schedule still spans all epochs)."""

    def check(self) -> None:
        super().check()
        for name in ("epochs", "batch_size", "accum_steps", "save_every", "keep", "chunk"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("lr", "max_grad_norm", "adam_eps"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.group_by_length < 0:
            raise ValueError(f"group_by_length must be >= 0 (0: off), got {self.group_by_length}")
        if not (0.0 <= self.adam_b1 < 1.0 and 0.0 <= self.adam_b2 < 1.0):
            raise ValueError(f"adam_b1 and adam_b2 must be in [0, 1), got {self.adam_b1}, {self.adam_b2}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.max_len < 2:
            raise ValueError(f"max_len must be at least 2 (a token and the one it predicts), got {self.max_len}")
        if self.bucket < 0:
            raise ValueError(f"bucket must be >= 0, got {self.bucket}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")


@dataclass(frozen=True)
class _SFTPaths:
    model: Path
    """Start model: a Hugging Face directory or an orbax checkpoint (`prism convert`), with its
    tokenizer files."""
    data: Path
    """Trajectory JSONL (id, messages, ...); the loss covers the assistant turns only."""
    out: Path
    """Run directory: checkpoints/, metrics.jsonl, tb/, config.json, run.json and, at the end,
    final/ (HF format). A run directory of the same settings and inputs is resumed from its
    latest checkpoint; any other non-empty directory is refused."""
    mix: Path | None = None
    """Records to train on alongside `data`, with the loss on every token (user-only chats such
    as the pipeline's copy windows, base/replay.jsonl): shuffled into every epoch, so SFT
    rehearses what the pre-training taught instead of erasing it. None: the data alone."""


@dataclass(frozen=True)
class SFTConfig(SFTHparams, _SFTPaths):
    """Full-parameter SFT on a trajectory JSONL: the paths and the hyperparameters."""

    @classmethod
    def of(cls, hparams: SFTHparams, *, model: Path, data: Path, out: Path, **changes) -> "SFTConfig":
        """The run of `hparams` (with `changes`) from `model` on `data` into `out`."""
        values = {f.name: getattr(hparams, f.name) for f in fields(SFTHparams)}
        return cls(model=Path(model), data=Path(data), out=Path(out), **(values | changes))

    def check(self) -> None:
        super().check()
        if self.mix is not None and self.mix == self.data:
            raise ValueError(f"mix: {self.mix} is the training data itself")


# Settings that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = ("out", "max_steps", "save_every", "keep", "distributed", "layers")


def train_sft(config: SFTConfig, *, progress: bool = True) -> dict:
    """Run (or resume) SFT as configured; returns a summary dict.

    Writes `out/config.json` and `out/run.json` (settings and input fingerprints: a resumed run
    must match both), checkpoints every `save_every` steps to `out/checkpoints/`, one metrics line
    per optimizer step (loss, lr, grad_norm, tokens_per_s, epoch) to `out/metrics.jsonl` and
    TensorBoard, and the final model to `out/final/` (HF format). The output is locked for the
    run. Raises `NonFiniteLossError` when the loss or gradient stops being finite; the
    checkpoints written before that step stay.
    """
    inputs = {"model": config.model, "data": config.data}
    if config.mix is not None:
        inputs["mix"] = config.mix
    with RunDir(config.out, "sft", config, inputs=inputs, resumable=_RESUMABLE_CHANGES) as run:
        return _train(config, run, progress)


def _train(config: SFTConfig, run: RunDir, progress: bool) -> dict:
    records = read_trajectories(config.data)
    if not records:
        raise ValueError(f"{config.data}: no trajectories")
    n_traj = len(records)
    if config.per_step:
        records = expand_steps(records)
        logger.info("per-step SFT: %d trajectories -> %d step examples", n_traj, len(records))
    mix = read_trajectories(config.mix) if config.mix is not None else []
    mesh = config.build()
    micro = config.batch_size * batch_shards(mesh)

    cfg = ModelConfig.from_pretrained(config.model)
    tokenizer = load_tokenizer(config.model, vocab_size=cfg.vocab_size)
    ds = make_dataset(records, tokenizer, max_len=config.max_len, batch_size=micro * config.accum_steps,
                      shuffle=True, seed=config.seed, num_epochs=config.epochs,
                      targets=config.targets, mix=mix, group_by_length=config.group_by_length)
    if ds.stats.n_examples == 0:
        raise ValueError(f"{config.data}: no trajectory has an assistant token within "
                         f"max_len={config.max_len}")
    total = len(ds)
    steps_per_epoch = total / config.epochs
    end = min(total, config.max_steps or total)

    params = models.load(config.model, jnp.float32, mesh).params()
    unroll = unrolled_layers(config.layers, mesh)
    if unroll:
        params = unstack_layers(params)
    optimizer = make_optimizer(config, total)
    schedule = make_schedule(config, total)
    opt_state = init_state(optimizer.init, params, mesh)
    compute_dtype = jnp.bfloat16 if config.dtype == "bfloat16" else jnp.float32
    step_fn = make_train_step(cfg, optimizer, mesh=mesh, accum_steps=config.accum_steps,
                              remat=config.remat, compute_dtype=compute_dtype, chunk=config.chunk)
    put = (lambda x: jnp.asarray(x)) if mesh is None else (
        lambda x: jax.device_put(x, NamedSharding(mesh, P(None, BATCH_AXES, None))))

    run.start()
    ckpt = run.checkpointer(every=config.save_every, keep=config.keep)
    it = iter(ds)
    start = 0
    if ckpt.latest_step() is not None:
        # checkpoints hold stacked layers whatever the step's layout (SFTHparams.layers)
        state = ckpt.restore(params_target=stack_layers(params),
                             opt_state_target=map_param_trees(stack_layers, opt_state))
        params, opt_state, start = state.params, state.opt_state, state.step
        if unroll:
            params, opt_state = unstack_layers(params), map_param_trees(unstack_layers, opt_state)
        it.set_state(state.data_state)
        logger.info("resuming %s from step %d of %d", run.path, start, total)
    last: dict = {}
    n_tokens = 0
    t_run = time.perf_counter()
    try:
        with run.metrics(resume_step=start) as writer, progress_bar(
                end, initial=start, desc="sft", unit="step", enabled=progress) as bar:
            t_prev = time.perf_counter()
            for step in range(start + 1, end + 1):
                batch = next(it)
                arrays = micro_batches(batch, config.accum_steps, config.bucket)
                params, opt_state, metrics = step_fn(params, opt_state,
                                                     {k: put(v) for k, v in arrays.items()})
                metrics = {k: float(v) for k, v in jax.device_get(metrics).items()}
                run.check_finite(step, {"loss": metrics["loss"], "grad_norm": metrics["grad_norm"]},
                                 ckpt)
                now = time.perf_counter()
                tokens = int(batch["attention_mask"].sum())
                n_tokens += tokens
                last = {"loss": metrics["loss"], "lr": float(schedule(step - 1)),
                        "grad_norm": metrics["grad_norm"], "tokens_per_s": tokens / (now - t_prev),
                        "target_tokens": int(metrics["n_targets"]), "epoch": step / steps_per_epoch}
                t_prev = now
                writer.write(step, last)
                ckpt.save(step, params, opt_state, rng=np.asarray([config.seed]),
                          prepare=(lambda tree: map_param_trees(stack_layers, tree)) if unroll
                          else None,
                          data_state=it.get_state(), force=step == end)
                bar.set_postfix(loss=f"{last['loss']:.4f}", lr=f"{last['lr']:.2e}")
                bar.update(1)
        ckpt.wait()
    finally:
        ckpt.close()
    final = run.export(stack_layers(params), cfg, tokenizer_dir=Path(config.model),
                       dtype=config.export_dtype)
    elapsed = time.perf_counter() - t_run
    return {"steps": end, "total_steps": total, "resumed_from": start, "final_model": str(final),
            "n_trajectories": n_traj, "n_mixed": len(mix), "n_examples": ds.stats.n_examples, "n_truncated": ds.stats.n_truncated,
            "tokens_per_s": n_tokens / elapsed if n_tokens else 0.0,
            **{f"last_{k}": v for k, v in last.items()}}
