"""Scale on paper: compile real-shape steps ahead of time and read the compiler's memory analysis.

Nothing is allocated: parameters and batches are `jax.ShapeDtypeStruct`s carrying their shardings,
each step is lowered and compiled for the mesh, and `compiled.memory_analysis()` gives the
per-device bytes of arguments, outputs and temporaries. Run it on a simulated mesh
(`XLA_FLAGS=--xla_force_host_platform_device_count=8`) to size an 8-GPU job from a CPU box.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from prism_jax.models.config import PRESETS, ModelConfig
from prism_jax.models.transformer import param_shapes
from prism_jax.sharding import batch_sharding, param_shardings, state_shardings

GIB = 2**30


@dataclass(frozen=True)
class StepMemory:
    """Per-device memory of one compiled step (GiB)."""

    step: str
    mesh: dict
    batch: int
    seq_len: int
    remat: str
    dtype: str
    arguments_gib: float
    outputs_gib: float
    temp_gib: float
    alias_gib: float
    total_gib: float
    compile_seconds: float

    def fits(self, budget_gib: float) -> bool:
        return self.total_gib <= budget_gib


def preset_model(pipeline) -> ModelConfig:
    """The ModelConfig a pipeline preset names: its checkpoint's config.json when that is on this
    machine, else its architecture preset (no weights are needed to plan or size a run)."""
    source = pipeline.model
    if source.path is not None and (Path(source.path) / "config.json").is_file():
        return ModelConfig.from_pretrained(source.path)
    if source.arch in PRESETS:
        return PRESETS[source.arch]()
    raise ValueError(f"{pipeline.name} names no checkpoint on this machine and no architecture "
                     f"preset ({', '.join(PRESETS)})")


def abstract_params(cfg: ModelConfig, mesh: Mesh, dtype=jnp.bfloat16):
    """Parameter pytree of ShapeDtypeStructs placed by the sharding rules (no memory)."""
    shapes = param_shapes(cfg)
    is_shape = lambda s: isinstance(s, tuple)
    shardings = param_shardings(shapes, mesh)
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s, dtype, sharding=sh), shapes, shardings,
                        is_leaf=is_shape)


def abstract_batch(mesh: Mesh, batch: int, seq_len: int, dtype=jnp.int32) -> jax.ShapeDtypeStruct:
    """An int [batch, seq_len] array split over the mesh's data x fsdp axes."""
    return jax.ShapeDtypeStruct((batch, seq_len), dtype, sharding=batch_sharding(mesh, 2))


def measure(name: str, lowered_fn: Callable[[], "jax.stages.Lowered"], *, mesh: Mesh, batch: int,
            seq_len: int, remat: str, dtype) -> StepMemory:
    """Compile a lowered step and report its per-device memory."""
    t0 = time.perf_counter()
    compiled = lowered_fn().compile()
    seconds = time.perf_counter() - t0
    m = compiled.memory_analysis()
    args, outs = m.argument_size_in_bytes / GIB, m.output_size_in_bytes / GIB
    temp, alias = m.temp_size_in_bytes / GIB, m.alias_size_in_bytes / GIB
    return StepMemory(step=name, mesh=dict(mesh.shape), batch=batch, seq_len=seq_len, remat=remat,
                      dtype=jnp.dtype(dtype).name, arguments_gib=round(args, 3),
                      outputs_gib=round(outs, 3), temp_gib=round(temp, 3), alias_gib=round(alias, 3),
                      total_gib=round(args + outs + temp - alias, 3), compile_seconds=round(seconds, 1))


def probe_memory(cfg: ModelConfig, mesh: Mesh, *, batch: int, seq_len: int, remat: str = "full",
                 dtype=jnp.bfloat16) -> StepMemory:
    """Memory of the Stage I probe step (one batch of trajectories)."""
    # lazy here and in the other steps: each step's module loads only when that step is sized
    # (SFT's brings grain and orbax, GRPO's the environments); `prism plan` imports this module
    # for `preset_model` alone
    from prism_jax.probe import make_probe_step

    params = abstract_params(cfg, mesh, dtype)
    ids = abstract_batch(mesh, batch, seq_len)
    step = make_probe_step(cfg, mesh=mesh, params=params, compute_dtype=dtype, remat=remat)
    return measure("probe", lambda: step.lower(params, ids, ids, ids), mesh=mesh, batch=batch,
                   seq_len=seq_len, remat=remat, dtype=dtype)


def _abstract_opt_state(optimizer, params, mesh: Mesh):
    """The optimizer state as ShapeDtypeStructs, sharded like the parameters it mirrors."""
    shapes = jax.eval_shape(optimizer.init, params)
    return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes,
                        state_shardings(shapes, params, mesh))


def sft_memory(cfg: ModelConfig, mesh: Mesh, *, batch: int, seq_len: int, accum_steps: int = 4,
               remat: str = "full", dtype=jnp.bfloat16) -> StepMemory:
    """Memory of one SFT optimizer step (float32 parameters and AdamW state, `dtype` compute):
    `batch` rows per micro-batch over the whole mesh, `accum_steps` micro-batches."""
    from prism_jax.sft import BATCH_KEYS, SFTConfig, make_optimizer, make_train_step

    params = abstract_params(cfg, mesh, jnp.float32)
    optimizer = make_optimizer(SFTConfig(model=Path("-"), data=Path("-"), out=Path("-")), 1000)
    opt_state = _abstract_opt_state(optimizer, params, mesh)
    rows = jax.ShapeDtypeStruct((accum_steps, batch, seq_len), jnp.int32,
                                sharding=NamedSharding(mesh, P(None, ("data", "fsdp"), None)))
    step = make_train_step(cfg, optimizer, mesh=mesh, accum_steps=accum_steps, remat=remat,
                           compute_dtype=dtype)
    return measure("sft", lambda: step.lower(params, opt_state, {k: rows for k in BATCH_KEYS}),
                   mesh=mesh, batch=batch * accum_steps, seq_len=seq_len, remat=remat, dtype=dtype)


def grpo_memory(cfg: ModelConfig, mesh: Mesh, *, batch: int, seq_len: int, remat: str = "full",
                dtype=jnp.bfloat16) -> StepMemory:
    """Memory of the GRPO policy update on one micro-batch of `batch` rows (prompt + response of
    `seq_len` tokens): its gradient added into the accumulated gradient, then the AdamW step, with
    float32 master parameters, gradients and optimizer state sharded by the rules and `dtype`
    compute. The three pieces are `grpo.Updater`'s own compiled functions (loss, optimizer,
    shardings and batch layout included), traced into one step so the compiler sees everything
    that is live at once."""
    from prism_jax.grpo import GRPOConfig
    from prism_jax.updater import BATCH_FIELDS, Updater

    config = GRPOConfig(model=Path("-"), tasks=Path("-"), out=Path("-"), remat=remat,
                        micro_batch=batch)
    updater = Updater(cfg, config, pad_id=0, compute_dtype=dtype, mesh=mesh)
    params = abstract_params(cfg, mesh, jnp.float32)
    opt_state = _abstract_opt_state(updater.optimizer, params, mesh)
    rows = {k: jax.ShapeDtypeStruct((batch, seq_len)[:rank], dtype_,
                                    sharding=updater.row_shardings[rank])
            for k, (rank, dtype_) in BATCH_FIELDS.items()}

    def update(params, opt_state, acc, rows):
        grads, _ = updater.grad_fn(params, rows)
        acc = updater.add_grads(acc, grads)
        params, opt_state, _ = updater.apply_grads(params, opt_state, acc)
        return params, opt_state, acc

    fn = jax.jit(update, donate_argnums=(0, 1, 2))
    return measure("grpo", lambda: fn.lower(params, opt_state, params, rows), mesh=mesh,
                   batch=batch, seq_len=seq_len, remat=remat, dtype=dtype)


STEPS: dict[str, Callable[..., StepMemory]] = {"probe": probe_memory, "sft": sft_memory,
                                               "grpo": grpo_memory}


def as_dict(m: StepMemory) -> dict:
    return dataclasses.asdict(m)
