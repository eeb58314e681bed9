"""Sizing steps on paper (prism_jax/scale.py): the GRPO update it compiles is the Updater's own."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec as P

from prism_jax import scale
from prism_jax.losses import LossSettings, _loss
from prism_jax.models import ModelConfig
from prism_jax.models.transformer import param_shapes
from prism_jax.rollout import Step
from prism_jax.sharding import make_mesh, param_shardings
from prism_jax.updater import BATCH_FIELDS, pack_rows

CFG = ModelConfig(model_type="qwen3", vocab_size=512, hidden_size=64, intermediate_size=128,
                  num_layers=2, num_heads=2, num_kv_heads=1, head_dim=32)
BATCH, SEQ = 2, 64


def _written_out_update(cfg, mesh, *, batch, seq_len, remat, dtype):
    """The update transcribed by hand: gradient of the loss, added into the accumulator, AdamW
    (GRPO's defaults: clip 1.0, lr 1e-6, weight decay 0.01), all in one step."""
    params = scale.abstract_params(cfg, mesh, jnp.float32)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0),
                            optax.adamw(1e-6, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.01))
    opt_state = scale._abstract_opt_state(optimizer, params, mesh)
    row, vec = NamedSharding(mesh, P(("data", "fsdp"), None)), NamedSharding(mesh, P(("data", "fsdp")))
    ints = jax.ShapeDtypeStruct((batch, seq_len), jnp.int32, sharding=row)
    rows = {"input_ids": ints, "attention_mask": ints, "response_mask": ints,
            "old_logprobs": jax.ShapeDtypeStruct((batch, seq_len), jnp.float32, sharding=row),
            **{k: jax.ShapeDtypeStruct((batch,), jnp.float32, sharding=vec)
               for k in ("advantages", "weights", "sft")}}
    shardings = param_shardings(param_shapes(cfg), mesh)

    def update(params, opt_state, acc, rows):
        grads, _ = jax.grad(_loss, has_aux=True)(params, rows, cfg=cfg,
                                                 settings=LossSettings(remat=remat),
                                                 compute_dtype=dtype)
        acc = jax.lax.with_sharding_constraint(jax.tree.map(jnp.add, acc, grads), shardings)
        updates, opt_state = optimizer.update(acc, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, acc

    fn = jax.jit(update, donate_argnums=(0, 1, 2))
    return scale.measure("grpo", lambda: fn.lower(params, opt_state, params, rows), mesh=mesh,
                         batch=batch, seq_len=seq_len, remat=remat, dtype=dtype)


def test_grpo_memory_equals_the_written_out_update(monkeypatch):
    monkeypatch.setattr(scale, "GIB", 1)       # report bytes, not rounded GiB
    mesh = make_mesh(1, 1, 1, devices=jax.devices()[:1])
    got = scale.grpo_memory(CFG, mesh, batch=BATCH, seq_len=SEQ, remat="full", dtype=jnp.bfloat16)
    want = _written_out_update(CFG, mesh, batch=BATCH, seq_len=SEQ, remat="full",
                               dtype=jnp.bfloat16)
    assert got.total_gib == pytest.approx(want.total_gib, rel=0.01)
    assert got.arguments_gib == pytest.approx(want.arguments_gib, rel=0.01)
    # float32 parameters, accumulated gradients and two AdamW moments: 16 bytes per parameter
    n_params = sum(math.prod(s) for s in jax.tree.leaves(param_shapes(CFG),
                                                         is_leaf=lambda s: isinstance(s, tuple)))
    assert got.arguments_gib >= 16 * n_params


def test_grpo_memory_sizes_the_batch_the_updater_packs():
    step = Step(np.arange(5), np.arange(3), np.zeros(3, np.float32), "r", "", "")
    batch = pack_rows([step], [0.5], rows=2, pad_id=0, multiple=8)
    assert {k: (v.ndim, v.dtype) for k, v in batch.items()} == {
        k: (rank, np.dtype(dtype)) for k, (rank, dtype) in BATCH_FIELDS.items()}
