"""The run scaffold shared by SFT, GRPO, the probe and the pipeline.

* `MeshConfig`: the device-mesh flags of every command, and the one place a mesh is built.
* `fingerprint`: what an input is, independent of how its path is spelled: the resolved path and
  a content hash. Files are hashed in full (streaming sha256). Directories (model checkpoints)
  are hashed over their file names and sizes, the full bytes of every file up to 16 MiB
  (config.json, tokenizer files, index, orbax metadata) and, of larger files, the safetensors
  header (names, dtypes, shapes, offsets) or else the first and last MiB; reading the weights
  of an 8B model in full on every start would cost minutes.
* `RunDir`: a run's output directory. It holds an exclusive lock for the run (`locks`), records
  the full config (`config.json`) and the input fingerprints (`run.json`), and on a second
  start compares both and refuses to resume anything but the same run (`ResumeError` lists what
  differs). It hands out the checkpointer and the metrics writer, stops a run whose loss stops
  being finite (`NonFiniteLossError`) and exports the final model.
* `command_line`: the `prism ...` command that reproduces a stage, rendered from the config
  that ran, so it cannot drift from it.

Config dataclasses compose by inheritance: `SFTConfig(SFTHparams, paths)`, where the
hyperparameter class (the pipeline's `--sft.*`) inherits `MeshConfig`, so every command keeps
flat flags (`--mesh-fsdp`, `--lr`, `--model`).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import hashlib
import json
import logging
import math
import os
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import jax
import ml_dtypes
import numpy as np
from jax.sharding import Mesh

from prism_jax.checkpoint import RunCheckpointer, export_hf
from prism_jax.files import OutputError, check_writable, write_json
from prism_jax.locks import OutputLock
from prism_jax.sharding import initialize_distributed, make_mesh
from prism_jax.tracking import MetricsWriter

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
RECORD_FILE = "run.json"
LOCK_FILE = ".lock"
_FULL_HASH_LIMIT = 16 * 2**20
_SAMPLE = 2**20


class ResumeError(ValueError):
    """An output directory holds a run with other settings or inputs than the one asked for."""


# The dtypes a run's final/ export may be written in (its masters are float32).
EXPORT_DTYPES = {"float32": np.float32, "bfloat16": ml_dtypes.bfloat16}


class NonFiniteLossError(FloatingPointError):
    """The loss or gradient norm became NaN/inf; the run stopped before saving that state."""


# ------------------------------------------------------------------------------ configs
# False while a CLI parses its flags: the CLI runs the checks itself afterwards, so that a bad
# value ends in a one-line message (tyro would draw a box around a ValueError it caught).
_CHECKING = contextvars.ContextVar("prism_check_configs", default=True)


class Checked:
    """Mixin for config dataclasses: `__post_init__` runs `check()`, which raises ValueError on
    a bad value (subclasses extend it and call super().check())."""

    def __post_init__(self):
        if _CHECKING.get():
            self.check()

    def check(self) -> None:
        pass


@contextlib.contextmanager
def unchecked() -> Iterator[None]:
    """Build configs without running their checks (then call `check_all`)."""
    token = _CHECKING.set(False)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def check_all(config) -> None:
    """Run `check()` of `config` and of every nested config dataclass in it."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        for f in dataclasses.fields(config):
            check_all(getattr(config, f.name))
    if isinstance(config, Checked):
        config.check()


@dataclasses.dataclass(frozen=True)
class MeshConfig(Checked):
    """Device mesh of a run: axes (data, fsdp, tensor)."""

    mesh_data: int = -1
    """Mesh size of the data axis (-1: all devices not used by fsdp x tensor)."""
    mesh_fsdp: int = 1
    """Mesh size of the fsdp axis (parameters and optimizer state sharded ZeRO-3 style)."""
    mesh_tensor: int = 1
    """Mesh size of the tensor axis (heads and MLP hidden units split)."""
    distributed: bool = False
    """Call jax.distributed.initialize() first (multi-host runs, one process per host)."""

    def check(self) -> None:
        super().check()
        if self.mesh_data != -1 and self.mesh_data < 1:
            raise ValueError(f"mesh_data must be >= 1 or -1 (all remaining devices), got {self.mesh_data}")
        for name in ("mesh_fsdp", "mesh_tensor"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    def build(self) -> Mesh | None:
        """The mesh over all devices, or None on one device without model parallelism."""
        if self.distributed:
            initialize_distributed()
        devices = jax.device_count()
        if devices == 1 and self.mesh_fsdp * self.mesh_tensor == 1 and self.mesh_data in (-1, 1):
            return None
        fixed = self.mesh_fsdp * self.mesh_tensor * (1 if self.mesh_data == -1 else self.mesh_data)
        if devices % fixed or (self.mesh_data != -1 and fixed != devices):
            raise ValueError(f"--mesh-data {self.mesh_data} x --mesh-fsdp {self.mesh_fsdp} x "
                             f"--mesh-tensor {self.mesh_tensor} needs "
                             f"{'a multiple of ' if self.mesh_data == -1 else ''}{fixed} devices; "
                             f"{devices} visible")
        return make_mesh(self.mesh_data, self.mesh_fsdp, self.mesh_tensor)


def batch_shards(mesh: Mesh | None) -> int:
    """How many ways a batch's rows are split: data x fsdp (1 without a mesh)."""
    return 1 if mesh is None else mesh.shape["data"] * mesh.shape["fsdp"]


# ------------------------------------------------------------------------------ fingerprints
def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def _sample_large(path: Path, h) -> None:
    with open(path, "rb") as f:
        if path.suffix == ".safetensors":
            head = f.read(8)
            (n,) = struct.unpack("<Q", head) if len(head) == 8 else (0,)
            h.update(head + f.read(min(n, _FULL_HASH_LIMIT)))
            return
        h.update(f.read(_SAMPLE))
        f.seek(max(0, path.stat().st_size - _SAMPLE))
        h.update(f.read(_SAMPLE))


def _sha256_dir(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):   # locks, temporaries, caches
            continue
        size = path.stat().st_size
        h.update(f"{rel.as_posix()}\0{size}\0".encode())
        if size <= _FULL_HASH_LIMIT:
            h.update(_sha256_file(path).encode())
        else:
            _sample_large(path, h)
    return h.hexdigest()


def fingerprint(path: str | os.PathLike) -> dict:
    """{"path": resolved absolute path, "sha256": content hash} of a file or directory (see the
    module docstring for what a directory's hash covers)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file or directory")
    real = p.resolve()
    return {"path": str(real), "sha256": _sha256_file(real) if real.is_file() else _sha256_dir(real)}


# ------------------------------------------------------------------------------ config records
def _plain(value):
    """JSON-ready: dataclasses to dicts, paths to resolved absolute strings, tuples to lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value.resolve())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_record(config) -> dict:
    """The config as JSON would read it back (so a record compares equal to itself on disk)."""
    return json.loads(json.dumps(_plain(config)))


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(old: dict, new: dict, ignore=()) -> list[str]:
    """"key: old -> new" for every (dotted) key whose value differs, except `ignore`d ones."""
    a, b = _flatten(old), _flatten(new)
    return [f"{k}: {a.get(k)!r} -> {b.get(k)!r}" for k in dict.fromkeys([*b, *a])
            if k not in ignore and not any(k.startswith(f"{i}.") for i in ignore)
            and a.get(k) != b.get(k)]


def input_changes(old: dict, new: dict) -> list[str]:
    """What differs between two {name: fingerprint} maps (content; a new path with the same
    content is the same input)."""
    out = []
    for name in dict.fromkeys([*new, *old]):
        a, b = old.get(name), new.get(name)
        if a is None or b is None:
            if a is not b:
                out.append(f"{name}: {a and a.get('path')} -> {b and b.get('path')}")
        elif a.get("sha256") != b.get("sha256"):
            what = "its content changed" if a.get("path") == b.get("path") else "other content"
            out.append(f"{name}: {a.get('path')} -> {b.get('path')} ({what})")
        elif a.get("path") != b.get("path"):
            logger.info("%s: same content at a new path (%s, was %s)", name, b["path"], a["path"])
    return out


# ------------------------------------------------------------------------------ run directory
class RunDir:
    """A run's output directory (use as a context manager: it holds the run's lock).

    Args:
      path: the directory (created if missing).
      kind: "sft", "grpo", ...: a directory holding another kind of run is refused.
      config: the run's full config (a dataclass); recorded in config.json.
      inputs: name -> path of the files/directories the run reads; fingerprinted in run.json.
        Their config fields are compared through the fingerprints, not as path strings.
      resumable: config fields that may change between an interrupted run and its resumption.

    On entry an existing record is compared with this run (`ResumeError` on any difference);
    a non-empty directory without a record is refused (`OutputError`). `self.resuming` says
    whether a record was found. `start()` writes the record.
    """

    def __init__(self, path: str | os.PathLike, kind: str, config, *,
                 inputs: Mapping[str, str | os.PathLike], resumable=()):
        self.path = Path(path).absolute()
        self.kind, self.config = kind, config
        self.inputs = dict(inputs)
        self.ignore = (*resumable, *self.inputs)
        self.resuming = False
        self.fingerprints: dict[str, dict] = {}
        self._lock = OutputLock(self.path / LOCK_FILE, what=self.path)

    def __enter__(self) -> "RunDir":
        check_writable(self.path)
        if self.path.exists() and not self.path.is_dir():
            raise OutputError(f"{self.path}: is a file, not a directory")
        self.fingerprints = {k: fingerprint(v) for k, v in self.inputs.items()}
        self._lock.acquire()
        try:
            self._check()
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._lock.release()

    def _check(self) -> None:
        config_file, record_file = self.path / CONFIG_FILE, self.path / RECORD_FILE
        if not config_file.exists():
            others = [p.name for p in self.path.iterdir() if p.name != LOCK_FILE]
            if others:
                raise OutputError(f"{self.path}: is not empty and holds no prism {self.kind} run "
                                  f"({', '.join(sorted(others)[:3])}, ...); choose another output")
            return
        old_record = json.loads(record_file.read_text()) if record_file.exists() else {}
        if old_record.get("kind", self.kind) != self.kind:
            raise ResumeError(f"{self.path}: holds a {old_record['kind']} run, not a {self.kind} "
                              "run; choose another output")
        changed = config_changes(json.loads(config_file.read_text()), config_record(self.config),
                                 self.ignore)
        changed += input_changes(old_record.get("inputs", self.fingerprints), self.fingerprints)
        if changed:
            raise ResumeError(f"{self.path} holds a run with other settings ({'; '.join(changed)});"
                              " resume with the same settings or choose another output")
        self.resuming = True

    def start(self) -> None:
        """Write (or refresh) config.json and run.json."""
        write_json(self.path / CONFIG_FILE, config_record(self.config))
        write_json(self.path / RECORD_FILE, {"kind": self.kind, "inputs": self.fingerprints})

    def checkpointer(self, *, every: int, keep: int) -> RunCheckpointer:
        return RunCheckpointer(self.path / "checkpoints", every=every, keep=keep)

    def metrics(self, resume_step: int | None) -> MetricsWriter:
        return MetricsWriter(self.path, resume_step=resume_step)

    def check_finite(self, step: int, values: Mapping[str, float], ckpt: RunCheckpointer) -> None:
        """Raise `NonFiniteLossError` (naming the last good checkpoint) if a value is NaN/inf."""
        if all(math.isfinite(v) for v in values.values()):
            return
        shown = " / ".join(f"{k} {v}" for k, v in values.items())
        raise self._nonfinite(f"non-finite {shown} at step {step}", ckpt)

    @contextlib.contextmanager
    def nan_guard(self, step: int, ckpt: RunCheckpointer) -> Iterator[None]:
        """Turn a FloatingPointError raised inside into a `NonFiniteLossError` for `step`."""
        try:
            yield
        except NonFiniteLossError:
            raise
        except FloatingPointError as e:
            raise self._nonfinite(f"{e} (step {step})", ckpt) from None

    @staticmethod
    def _nonfinite(what: str, ckpt: RunCheckpointer) -> NonFiniteLossError:
        kept = ckpt.latest_step()
        return NonFiniteLossError(
            f"{what}; stopped without saving it. Last good checkpoint: "
            + (f"step {kept} in {ckpt.directory}" if kept is not None else "none")
            + " (lower --lr or check the data and model for NaN/inf)")

    def export(self, params, cfg, tokenizer_dir: str | os.PathLike | None,
               dtype: str = "float32") -> Path:
        """The final model as a Hugging Face directory, `final/` (replacing an earlier export),
        its weights in `dtype` ("float32" or "bfloat16")."""
        return export_hf(params, cfg, self.path / "final", tokenizer_dir=tokenizer_dir,
                         overwrite=True, dtype=EXPORT_DTYPES[dtype])


# ------------------------------------------------------------------------------ commands
def _flag_values(name: str, value) -> list[str]:
    if isinstance(value, bool):
        # tyro negates the last part of a nested flag: --settings.no-think
        outer, _, leaf = name.rpartition(".")
        return [f"--{name}" if value else f"--{outer}{'.' if outer else ''}no-{leaf}"]
    if isinstance(value, (list, tuple)):
        return [f"--{name}", *(str(v) for v in value)]
    return [f"--{name}", "None" if value is None else str(value)]


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING


def command_args(config, prefix: str = "") -> list[str]:
    """tyro flags that make a CLI build `config`: every field that differs from its default
    (nested dataclasses as --outer.inner)."""
    args: list[str] = []
    for f in dataclasses.fields(config):
        value, default = getattr(config, f.name), _field_default(f)
        if value == default:
            continue
        name = prefix + f.name.replace("_", "-")
        if dataclasses.is_dataclass(value):
            args += command_args(value, f"{name}.")
        else:
            args += _flag_values(name, value)
    return args


def command_line(command: str, config=None, **extra) -> list[str]:
    """argv of `prism COMMAND` that builds `config` (a CLI's config dataclass, if any); `extra`
    adds top-level flags by field name (values rendered as in `command_args`)."""
    args = ["prism", *command.split(), *(command_args(config) if config is not None else [])]
    for name, value in extra.items():
        if dataclasses.is_dataclass(value):
            args += command_args(value, f"{name.replace('_', '-')}.")
        else:
            args += _flag_values(name.replace("_", "-"), value)
    return args
