"""Orbax checkpoints of whole training runs for exact resume, and the final HF export.

(Model checkpoints, the orbax twin of a Hugging Face directory, are `prism_jax.models.orbax_ckpt`.)

A run checkpoint (`RunCheckpointer`) is one orbax step directory per saved step holding the
parameters, the optimizer state, the RNG, the data-iterator state and any extra JSON. Orbax writes
each step into a temporary directory and renames it only once every file is on disk; checkpoints
beyond the K kept are first renamed into a trash folder and only then deleted. So a process killed
at any moment leaves complete checkpoints only (plus temporary or trash folders that are ignored
and cleaned up by the next run).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from prism_jax.models.config import ModelConfig
from prism_jax.models.hf import save_pretrained
from prism_jax.models.transformer import Transformer


@dataclass
class RunState:
    """What `RunCheckpointer.restore` returns: the run as it was after `step` optimizer steps."""

    params: Any
    opt_state: Any
    rng: Any              # as saved: a numpy array, or a typed JAX key array
    step: int
    data_state: dict | None
    extra: dict | None


def _rng_to_json(rng) -> dict:
    if isinstance(rng, jax.Array) and jnp.issubdtype(rng.dtype, jax.dtypes.prng_key):
        data = np.asarray(jax.random.key_data(rng))
        return {"key_impl": str(jax.random.key_impl(rng)), "dtype": str(data.dtype),
                "shape": list(data.shape), "data": data.ravel().tolist()}
    data = np.asarray(rng)
    return {"key_impl": None, "dtype": str(data.dtype), "shape": list(data.shape),
            "data": data.ravel().tolist()}


def _rng_from_json(saved: dict):
    data = np.asarray(saved["data"], dtype=saved["dtype"]).reshape(saved["shape"])
    if saved["key_impl"] is None:
        return data
    return jax.random.wrap_key_data(jnp.asarray(data), impl=saved["key_impl"])


def _restore_target(tree):
    return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), tree)


# Old checkpoints are renamed in here before deletion: removing a step directory in place is not
# atomic, and a kill in the middle would leave a step that looks present but cannot be restored.
_TRASH = "deleted"


class RunCheckpointer:
    """Keep-K orbax checkpoints of a training run, saved every `every` steps.

    `save` is asynchronous: it returns once the arrays are copied off the devices (so buffers may
    be donated right after) and orbax writes the files in the background. `wait()`, `close()` or
    leaving the `with` block flushes them.
    """

    def __init__(self, directory: str | os.PathLike, *, every: int, keep: int):
        if every < 1 or keep < 1:
            raise ValueError(f"every and keep must be >= 1, got every={every}, keep={keep}")
        self.directory = Path(directory).absolute()
        self.every = every
        options = ocp.CheckpointManagerOptions(max_to_keep=keep, create=True,
                                               cleanup_tmp_directories=True,
                                               enable_async_checkpointing=True,
                                               todelete_subdir=_TRASH)
        self._manager = ocp.CheckpointManager(self.directory, options=options)
        self._empty_trash()

    def _empty_trash(self) -> None:
        """Delete the checkpoints orbax moved aside (only while no save is running)."""
        shutil.rmtree(self.directory / _TRASH, ignore_errors=True)

    def save(self, step: int, params, opt_state, *, rng, data_state: dict | None = None,
             extra: dict | None = None, force: bool = False, prepare=None) -> bool:
        """Checkpoint the run after `step` optimizer steps if `step % every == 0` or `force`.

        `rng` is a numpy array or a JAX key array; `data_state` (e.g. a grain iterator's
        `get_state()`) and `extra` must be JSON-serialisable. `prepare`, if given, maps params
        and opt_state to what is written (e.g. stacked layers), only when a save is due.
        Returns whether a save started.
        """
        if not (force or step % self.every == 0) or step in self._manager.all_steps():
            return False
        if prepare is not None:
            params, opt_state = prepare(params), prepare(opt_state)
        self.wait()
        meta = {"step": int(step), "rng": _rng_to_json(rng), "data_state": data_state, "extra": extra}
        return self._manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave({"params": params, "opt_state": opt_state}),
            meta=ocp.args.JsonSave(meta)), force=True)

    def latest_step(self) -> int | None:
        """The newest complete checkpoint's step, or None."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def restore(self, step: int | None = None, *, params_target, opt_state_target) -> RunState:
        """Restore `step` (default: the latest) onto the targets' shapes, dtypes and shardings.

        The targets are pytrees of arrays (or `jax.ShapeDtypeStruct`s with shardings) of the
        same structure as what was saved, e.g. freshly initialised params and optimizer state.
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"{self.directory}: no complete run checkpoint to restore")
        if step not in self._manager.all_steps():
            raise FileNotFoundError(f"{self.directory}: no checkpoint of step {step} (have "
                                    f"{self.all_steps()})")
        target = _restore_target({"params": params_target, "opt_state": opt_state_target})
        out = self._manager.restore(step, args=ocp.args.Composite(
            state=ocp.args.StandardRestore(target), meta=ocp.args.JsonRestore()))
        meta = out["meta"]
        return RunState(params=out["state"]["params"], opt_state=out["state"]["opt_state"],
                        rng=_rng_from_json(meta["rng"]), step=int(meta["step"]),
                        data_state=meta["data_state"], extra=meta["extra"])

    def wait(self) -> None:
        """Block until every started save is on disk."""
        self._manager.wait_until_finished()
        self._empty_trash()

    def close(self) -> None:
        self.wait()
        self._manager.close()

    def __enter__(self) -> "RunCheckpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def export_hf(params, cfg: ModelConfig, out_dir: str | os.PathLike,
              tokenizer_dir: str | os.PathLike | None, *, overwrite: bool = False,
              dtype=None) -> Path:
    """Write `params` as a Hugging Face model directory (atomically), with the tokenizer files
    of `tokenizer_dir` copied in (an existing `out_dir` is replaced only with `overwrite`), its
    weights in `dtype` (default: theirs)."""
    return save_pretrained(Transformer(cfg, params), out_dir, tokenizer_dir=tokenizer_dir,
                           overwrite=overwrite, dtype=dtype)
