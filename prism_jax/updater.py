"""The GRPO policy update: rows packed into fixed-shape micro-batches, gradients accumulated over
a mini-batch, one AdamW step per mini-batch (verl's actor update)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from prism_jax.losses import LossSettings, make_grad_fn, make_logprob_fn, row_weights
from prism_jax.models.config import ModelConfig
from prism_jax.models.transformer import param_shapes
from prism_jax.sampler import bucket
from prism_jax.sharding import BATCH_AXES, init_state, param_shardings

if TYPE_CHECKING:
    from prism_jax.grpo import GRPOConfig


# The arrays of a packed micro-batch: name -> (rank, dtype), rank 2 [rows, T] or 1 [rows].
BATCH_FIELDS = {"input_ids": (2, np.int32), "attention_mask": (2, np.int32),
                "response_mask": (2, np.int32), "old_logprobs": (2, np.float32),
                "advantages": (1, np.float32), "weights": (1, np.float32), "sft": (1, np.float32)}


def pack_rows(steps, advantages, *, rows: int, pad_id: int, multiple: int = 64,
              weights=None, sft=None) -> dict[str, np.ndarray]:
    """Right-padded (prompt + response) sequences of `steps` as one batch of `rows` rows.

    Returns input_ids, attention_mask, response_mask int32 [rows, T] (T = the longest sequence
    rounded up to `multiple`), old_logprobs float32 [rows, T] (each response token's sampled
    log-prob at its own position), advantages and weights (the loss weight of each row, see
    `row_weights`; default 1) and sft (1 for a demonstration row trained with the SFT loss;
    default 0) float32 [rows]. Rows beyond len(steps) are empty (all masks and weights 0), so
    micro-batches keep one shape.
    """
    if len(steps) > rows:
        raise ValueError(f"{len(steps)} steps do not fit in {rows} rows")
    length = bucket(max(len(s.prompt_ids) + len(s.response_ids) for s in steps), multiple)
    out = {k: np.zeros((rows, length)[:rank], dtype) for k, (rank, dtype) in BATCH_FIELDS.items()}
    out["input_ids"].fill(pad_id)
    out["weights"][:len(steps)] = 1.0 if weights is None else weights
    if sft is not None:
        out["sft"][:len(steps)] = sft
    for i, (s, a) in enumerate(zip(steps, advantages)):
        p, r = len(s.prompt_ids), len(s.response_ids)
        out["input_ids"][i, :p + r] = np.concatenate([s.prompt_ids, s.response_ids])
        out["attention_mask"][i, :p + r] = 1
        out["response_mask"][i, p:p + r] = 1
        out["old_logprobs"][i, p:p + r] = s.logprobs
        out["advantages"][i] = a
    return out


def make_optimizer(config: GRPOConfig):
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm),
                       optax.adamw(config.lr, b1=0.9, b2=0.999, eps=1e-8,
                                   weight_decay=config.weight_decay))


def check_micro_batch(micro_batch: int, mesh) -> None:
    """A micro-batch's rows are split over the mesh's data x fsdp devices: they must divide."""
    shards = mesh.shape["data"] * mesh.shape["fsdp"]
    if micro_batch % shards:
        raise ValueError(f"micro_batch={micro_batch} rows must split evenly over the mesh's "
                         f"data x fsdp = {shards} devices")


class Updater:
    """One policy update per iteration: shuffled mini-batches, micro-batch gradient accumulation,
    one AdamW step per mini-batch.

    With a `mesh`, parameters, gradients, their running sum and the AdamW moments keep the
    `sharding.RULES` shardings (pass parameters and reference parameters placed by them, e.g.
    loaded with `models.load(..., mesh)`), and each micro-batch's rows are split over data x fsdp
    (micro_batch must divide evenly). Without one, nothing is placed or constrained.

    Its compiled pieces, per micro-batch `grad_fn(params, batch) -> (grads, aux)`, then
    `add_grads(acc, grads)` (donates acc), per mini-batch `apply_grads(params, opt_state, acc)
    -> (params, opt_state, grad norm)` (donates both), are what `scale.grpo_memory` compiles at
    abstract shapes to size the update."""

    def __init__(self, cfg: ModelConfig, config: GRPOConfig, pad_id: int, compute_dtype=None,
                 ref_params=None, mesh=None):
        self.cfg, self.config, self.pad_id, self.mesh = cfg, config, pad_id, mesh
        self.optimizer = make_optimizer(config)
        if config.temperature <= 0:
            raise ValueError(f"GRPO samples its rollouts: temperature must be > 0, got "
                             f"{config.temperature}")
        settings = LossSettings(config.clip, config.kl_coef, config.entropy_coef, config.chunk,
                                config.remat, config.temperature, config.clip_high,
                                config.clip_ratio_c)
        shardings = None
        self._put = lambda batch: batch
        # rank -> the sharding of a batch array on the mesh (None without one)
        self.row_shardings = None
        if mesh is not None:
            check_micro_batch(config.micro_batch, mesh)
            shardings = param_shardings(param_shapes(cfg), mesh)
            rows = {1: NamedSharding(mesh, P(BATCH_AXES)), 2: NamedSharding(mesh, P(BATCH_AXES, None))}
            self.row_shardings = rows
            self._put = lambda batch: {k: jax.device_put(v, rows[np.ndim(v)]) for k, v in batch.items()}
        constrain = (lambda t: t) if shardings is None else (
            lambda t: jax.lax.with_sharding_constraint(t, shardings))
        self.grad_fn = make_grad_fn(cfg, settings, compute_dtype, shardings)
        self.ref_params = ref_params
        self.ref_fn = make_logprob_fn(cfg, config.chunk, compute_dtype,
                                      config.temperature) if config.kl_coef else None
        # verl's old_log_prob: the behaviour policy's log-probs come from the update's own
        # forward, so PPO ratios start at exactly 1. The sampler's (recorded at its sampling
        # temperature) come from another computation, the KV-cache decode path: ~5e-7 apart in
        # float32, ~2e-3 in bfloat16.
        self.old_fn = make_logprob_fn(cfg, config.chunk, compute_dtype, config.temperature
                                      ) if config.recompute_old_logprobs else None
        self._add = jax.jit(lambda a, b: jax.tree.map(jnp.add, a, b))
        self.add_grads = jax.jit(lambda a, b: constrain(jax.tree.map(jnp.add, a, b)),
                                  donate_argnums=(0,))

        def apply(params, opt_state, grads):
            norm = optax.global_norm(grads)
            updates, opt_state = self.optimizer.update(grads, opt_state, params)
            return constrain(optax.apply_updates(params, updates)), opt_state, norm

        self.apply_grads = jax.jit(apply, donate_argnums=(0, 1))

    def _behaviour_logprobs(self, params, steps):
        """`steps` with their response log-probs under softmax(logits / temperature) of `params`."""
        out = []
        size = self.config.micro_batch
        for start in range(0, len(steps), size):
            chunk = steps[start:start + size]
            batch = pack_rows(chunk, np.zeros(len(chunk), np.float32), rows=size,
                              pad_id=self.pad_id, multiple=self.config.bucket)
            logp = np.asarray(self.old_fn(params, self._put(batch)))
            for i, st in enumerate(chunk):
                p, r = len(st.prompt_ids), len(st.response_ids)
                out.append(dataclasses.replace(st, logprobs=logp[i, p:p + r].astype(np.float32)))
        return out

    def init(self, params):
        """The optimizer state, sharded like the parameters on a mesh."""
        return init_state(self.optimizer.init, params, self.mesh)

    def __call__(self, params, opt_state, steps, advantages, rng: np.random.Generator, sft=None):
        """Returns new params, opt_state and the update's metrics (means over mini-batches).

        `ppo_epochs` passes over the rows, each in a fresh shuffled order cut into mini-batches
        of `mini_batch` rows, one AdamW step each (verl's actor update). sft: bool [N], rows
        trained with the SFT loss instead (online HPT's demonstrations; their advantages are
        ignored)."""
        config = self.config
        sft = np.zeros(len(steps), bool) if sft is None else np.asarray(sft, bool)
        if self.old_fn is not None:
            steps = self._behaviour_logprobs(params, steps)
        size = config.mini_batch or len(steps)
        keys = ("pg_loss", "clip_frac", "clip_frac_lower", "ppo_kl", "entropy", "kl", "sft_loss")
        sums = dict.fromkeys((*keys, "grad_norm"), 0.0)
        n_mini = 0
        for _ in range(config.ppo_epochs):
            order = rng.permutation(len(steps))
            for start in range(0, len(order), size):
                params, opt_state, metrics = self._mini_batch(params, opt_state, steps, advantages,
                                                              sft, order[start:start + size])
                for k, v in metrics.items():
                    sums[k] += v
                n_mini += 1
        return params, opt_state, {k: v / max(n_mini, 1) for k, v in sums.items()} | {
            "optimizer_steps": n_mini}

    def _mini_batch(self, params, opt_state, steps, advantages, sft, mini):
        config = self.config
        # Similar lengths share a micro-batch, so little compute goes to padding.
        mini = sorted(mini, key=lambda i: len(steps[i].prompt_ids) + len(steps[i].response_ids))
        weights = row_weights([len(steps[i].response_ids) for i in mini],
                              np.arange(len(mini)) // config.micro_batch, config.loss_agg)
        grads, aux_sum = None, None
        for m in range(0, len(mini), config.micro_batch):
            idx = mini[m:m + config.micro_batch]
            batch = self._put(pack_rows([steps[i] for i in idx], advantages[idx],
                                        rows=config.micro_batch, pad_id=self.pad_id,
                                        multiple=config.bucket,
                                        weights=weights[m:m + config.micro_batch],
                                        sft=sft[idx]))
            if self.ref_fn is not None:
                batch["ref_logprobs"] = self.ref_fn(self.ref_params, batch)
            g, aux = self.grad_fn(params, batch)
            grads = g if grads is None else self.add_grads(grads, g)
            aux_sum = aux if aux_sum is None else self._add(aux_sum, aux)
        params, opt_state, norm = self.apply_grads(params, opt_state, grads)
        metrics = {k: float(v) for k, v in jax.device_get(aux_sum).items()}
        metrics["grad_norm"] = float(norm)
        if not all(np.isfinite(v) for v in metrics.values()):
            raise FloatingPointError(
                f"non-finite loss or gradient in the policy update (loss {metrics['pg_loss']}, "
                f"grad norm {metrics['grad_norm']}); stopping before it is checkpointed")
        return params, opt_state, metrics
