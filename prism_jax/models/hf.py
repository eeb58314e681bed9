"""Hugging Face checkpoint directories <-> our parameter pytree.

One declarative table, `MAPPING`, serves both directions: (HF key, our path, transform). Layer
entries contain `{l}` and fill one slice of a stacked [L, ...] parameter.

Loading reads `config.json` and single or sharded (`model.safetensors.index.json`) safetensors.
Files are memory-mapped; every parameter is built with `jax.make_array_from_callback`, so each
device reads only its own shard of each tensor straight from the mapped file and the model is never
held twice in host memory. Only safetensors are read: no pickle, no remote code.
"""

from __future__ import annotations

import json
import math
import os
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
from jax.sharding import Mesh, SingleDeviceSharding

from prism_jax.files import atomic_dir, copy_tokenizer_files
from prism_jax.models.config import ModelConfig
from prism_jax.models.transformer import Params, Transformer, param_shapes
from prism_jax.sharding import param_shardings


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be loaded as it is."""


@dataclass(frozen=True)
class Entry:
    hf_key: str            # may contain "{l}" (one tensor per layer)
    path: tuple[str, ...]  # our pytree path
    transpose: bool        # HF stores Linear weights [out, in]; we keep x @ W, i.e. [in, out]


MAPPING: tuple[Entry, ...] = (
    Entry("model.embed_tokens.weight", ("embed",), False),
    Entry("model.norm.weight", ("final_norm",), False),
    Entry("lm_head.weight", ("lm_head",), True),
    Entry("model.layers.{l}.input_layernorm.weight", ("layers", "attn_norm"), False),
    Entry("model.layers.{l}.self_attn.q_proj.weight", ("layers", "q"), True),
    Entry("model.layers.{l}.self_attn.k_proj.weight", ("layers", "k"), True),
    Entry("model.layers.{l}.self_attn.v_proj.weight", ("layers", "v"), True),
    Entry("model.layers.{l}.self_attn.o_proj.weight", ("layers", "o"), True),
    Entry("model.layers.{l}.self_attn.q_norm.weight", ("layers", "q_norm"), False),
    Entry("model.layers.{l}.self_attn.k_norm.weight", ("layers", "k_norm"), False),
    Entry("model.layers.{l}.post_attention_layernorm.weight", ("layers", "mlp_norm"), False),
    Entry("model.layers.{l}.mlp.gate_proj.weight", ("layers", "gate"), True),
    Entry("model.layers.{l}.mlp.up_proj.weight", ("layers", "up"), True),
    Entry("model.layers.{l}.mlp.down_proj.weight", ("layers", "down"), True),
)

# Tensors some checkpoints carry that the model does not use.
_IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)

_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": ml_dtypes.bfloat16,
    "F8_E5M2": ml_dtypes.float8_e5m2, "F8_E4M3": ml_dtypes.float8_e4m3fn,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}
_DTYPE_NAMES = {np.dtype(v): k for k, v in _DTYPES.items()}
# safetensors' own cap on the JSON header; a larger length field means a corrupt or foreign file.
_MAX_HEADER = 100 * 2**20


# ------------------------------------------------------------------------------ safetensors I/O
def _is_count(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 0


def read_header(file: Path) -> tuple[dict[str, dict], int]:
    """(tensor name -> {"dtype", "shape", "data_offsets"}, byte offset of the data section).

    Everything the header claims is checked against the file before any tensor is read: the
    length field, the JSON, each dtype, shape and byte range (inside the file, and exactly
    shape x itemsize bytes long). A failure raises `CheckpointError` naming the file and tensor,
    so a truncated download or a file that is not safetensors says so instead of failing later
    in a reshape.
    """
    size = file.stat().st_size
    if size < 8:
        raise CheckpointError(f"{file}: {size} bytes, too short to be a safetensors file (truncated?)")
    with open(file, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > min(size - 8, _MAX_HEADER):
            raise CheckpointError(f"{file}: header length field says {n} bytes but the file has "
                                  f"{size}: not a safetensors file, or truncated")
        raw = f.read(n)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{file}: the header is not valid JSON ({e}): not a safetensors "
                              "file, or corrupt") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{file}: the header is not a JSON object: not a safetensors file")
    header.pop("__metadata__", None)
    data_size = size - 8 - n
    for key, info in header.items():
        where = f"{file}: tensor {key}"
        if not isinstance(info, dict):
            raise CheckpointError(f"{where}: header entry is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if dtype not in _DTYPES:
            raise CheckpointError(f"{where}: unsupported dtype {dtype!r} (expected one of "
                                  f"{', '.join(_DTYPES)})")
        if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
            raise CheckpointError(f"{where}: shape {shape!r} is not a list of sizes")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(map(_is_count, offsets))
                or offsets[0] > offsets[1]):
            raise CheckpointError(f"{where}: data_offsets {offsets!r} is not a [start, end] range")
        if offsets[1] > data_size:
            raise CheckpointError(f"{where}: its data ends at byte {offsets[1]} of a data section "
                                  f"of {data_size} bytes: the file is truncated")
        want = math.prod(shape) * np.dtype(_DTYPES[dtype]).itemsize
        if offsets[1] - offsets[0] != want:
            raise CheckpointError(f"{where}: {offsets[1] - offsets[0]} bytes of data, but shape "
                                  f"{shape} of {dtype} needs {want}")
    return header, 8 + n


def _index_files(root: Path, index: Path) -> list[str]:
    """The shard files a model.safetensors.index.json names, each checked to lie inside root."""
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{index}: not a safetensors index (needs a JSON \"weight_map\"): "
                              f"{type(e).__name__}: {e}") from None
    if not isinstance(weight_map, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
        raise CheckpointError(f"{index}: \"weight_map\" must map tensor names to file names")
    inside = root.resolve()
    for name in set(weight_map.values()):
        target = (root / name).resolve()
        if inside not in target.parents:
            raise CheckpointError(f"{index}: shard {name!r} lies outside the model directory "
                                  f"{root}; an index may only name files inside it")
    return sorted(set(weight_map.values()))


class SafetensorsDir:
    """Lazy, memory-mapped view of every tensor in a checkpoint directory."""

    def __init__(self, path: str | os.PathLike):
        self.root = Path(path)
        index = self.root / "model.safetensors.index.json"
        if index.is_file():
            files = _index_files(self.root, index)
        elif (self.root / "model.safetensors").is_file():
            files = ["model.safetensors"]
        else:
            others = sorted(self.root.glob("*.safetensors"))
            if others:
                files = [p.name for p in others]
            elif list(self.root.glob("*.bin")) or list(self.root.glob("*.pt")):
                raise CheckpointError(
                    f"{self.root}: only PyTorch pickle weights (*.bin/*.pt) found. prism-jax reads "
                    "safetensors only (pickles can run code). Convert once with transformers: "
                    "`AutoModelForCausalLM.from_pretrained(dir).save_pretrained(out, "
                    "safe_serialization=True)`.")
            else:
                raise CheckpointError(f"{self.root}: no *.safetensors weights found")
        self._tensors: dict[str, tuple[Path, dict]] = {}
        for name in files:
            file = self.root / name
            if not file.is_file():
                raise CheckpointError(f"{file}: listed in model.safetensors.index.json but missing")
            header, data_start = read_header(file)
            for key, info in header.items():
                info["offset"] = data_start
                self._tensors[key] = (file, info)
        self._maps: dict[Path, np.memmap] = {}

    def keys(self) -> list[str]:
        return list(self._tensors)

    def __contains__(self, key: str) -> bool:
        return key in self._tensors

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._tensors[key][1]["shape"])

    def get(self, key: str) -> np.ndarray:
        """The tensor as a read-only memory-mapped array (nothing is read until sliced)."""
        file, info = self._tensors[key]
        if file not in self._maps:
            self._maps[file] = np.memmap(file, dtype=np.uint8, mode="r")
        start, end = info["data_offsets"]
        raw = self._maps[file][info["offset"] + start: info["offset"] + end]
        return raw.view(_DTYPES[info["dtype"]]).reshape(info["shape"])


def write_safetensors(path: Path, tensors: dict[str, np.ndarray]) -> None:
    """Write one safetensors file (header: dtype, shape, byte offsets; data 8-byte aligned)."""
    header, offset = {}, 0
    for key, arr in tensors.items():
        nbytes = arr.nbytes
        header[key] = {"dtype": _DTYPE_NAMES[arr.dtype], "shape": list(arr.shape),
                       "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = {"format": "pt"}
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for arr in tensors.values():
            f.write(np.ascontiguousarray(arr).tobytes())


# ------------------------------------------------------------------------------ load
def _entries(cfg: ModelConfig) -> list[Entry]:
    shapes = param_shapes(cfg)
    out = []
    for e in MAPPING:
        node = shapes
        for part in e.path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            out.append(e)
    return out


def _expected_hf_shape(e: Entry, shape: tuple[int, ...]) -> tuple[int, ...]:
    one = shape[1:] if "{l}" in e.hf_key else shape
    return tuple(reversed(one)) if e.transpose else tuple(one)


def _check_tensors(st: SafetensorsDir, cfg: ModelConfig) -> None:
    shapes = param_shapes(cfg)
    used = set()
    for e in _entries(cfg):
        shape = shapes
        for part in e.path:
            shape = shape[part]
        want = _expected_hf_shape(e, shape)
        keys = [e.hf_key.format(l=l) for l in range(cfg.num_layers)] if "{l}" in e.hf_key else [e.hf_key]
        for key in keys:
            if key not in st:
                raise CheckpointError(f"{st.root}: missing tensor {key} (needed for {'/'.join(e.path)})")
            if st.shape(key) != want:
                raise CheckpointError(
                    f"{st.root}: tensor {key} has shape {st.shape(key)}, config.json implies {want}")
            used.add(key)
    extra = [k for k in st.keys() if k not in used and not k.endswith(_IGNORED_SUFFIXES)
             and not (cfg.tie_word_embeddings and k == "lm_head.weight")]
    if extra:
        warnings.warn(f"{st.root}: {len(extra)} tensors not used by the model, e.g. {extra[:3]}")


def load_pretrained(path: str | os.PathLike, dtype=jnp.float32, mesh: Mesh | None = None,
                    compute_dtype=None) -> Transformer:
    """Load a Qwen3 / Llama-3.x Hugging Face directory (config.json + safetensors).

    Args:
      path: the model directory.
      dtype: parameter dtype (float32 or bfloat16); also the compute dtype unless given.
      mesh: place every parameter on its sharding from `prism_jax.sharding` (default: one device).
    """
    root = Path(path)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such model directory")
    cfg = ModelConfig.from_pretrained(root)
    st = SafetensorsDir(root)
    _check_tensors(st, cfg)
    shapes = param_shapes(cfg)
    if mesh is None:
        shardings = jax.tree.map(lambda _: SingleDeviceSharding(jax.devices()[0]), shapes,
                                 is_leaf=lambda s: isinstance(s, tuple))
    else:
        shardings = param_shardings(shapes, mesh)

    def build(e: Entry):
        shape = shapes
        sharding = shardings
        for part in e.path:
            shape, sharding = shape[part], sharding[part]
        stacked = "{l}" in e.hf_key

        def read(index: tuple[slice, ...]) -> np.ndarray:
            def one(key: str, idx: tuple[slice, ...]) -> np.ndarray:
                t = st.get(key)
                t = t.T if e.transpose else t
                return np.asarray(t[idx]).astype(dtype)
            if not stacked:
                return one(e.hf_key, index)
            layers = range(*index[0].indices(cfg.num_layers))
            return np.stack([one(e.hf_key.format(l=l), index[1:]) for l in layers])

        return jax.make_array_from_callback(shape, sharding, read)

    params: Params = {"layers": {}}
    for e in _entries(cfg):
        node = params
        for part in e.path[:-1]:
            node = node[part]
        node[e.path[-1]] = build(e)
    return Transformer(cfg, params, compute_dtype=compute_dtype, source=str(root))


# ------------------------------------------------------------------------------ save
def save_pretrained(model: Transformer, path: str | os.PathLike, max_shard_size: int | str = "5GB",
                    tokenizer_dir: str | os.PathLike | None = None, *,
                    overwrite: bool = False, dtype=None) -> Path:
    """Write `model` as a Hugging Face directory that `transformers` loads.

    Written into a temporary sibling directory and renamed at the end, so a failure never leaves a
    half-written checkpoint. Tokenizer files are copied from `tokenizer_dir` (default: the directory
    the model was loaded from). An existing non-empty `path` is replaced only with `overwrite`
    (never the directory the model or its tokenizer is read from; see `files.atomic_dir`).
    `dtype` (e.g. jnp.bfloat16) writes the weights in that dtype instead of the model's: each
    tensor is cast on the host as its shard is written, so no second copy of the model exists.
    """
    out = Path(path)
    limit = _parse_size(max_shard_size)
    cfg = model.config
    params = model.params()
    target = np.dtype(dtype) if dtype is not None else None
    # (HF key, fetch-to-host, bytes): tensors are pulled from the devices one shard file at a time,
    # so saving never holds more than one file's worth of host memory.
    tensors: list[tuple[str, Callable[[], np.ndarray], int]] = []
    for e in _entries(cfg):
        value = params
        for part in e.path:
            value = value[part]
        layers = range(cfg.num_layers) if "{l}" in e.hf_key else [None]
        for l in layers:
            def fetch(value=value, l=l, transpose=e.transpose):
                host = np.asarray(jax.device_get(value if l is None else value[l]))
                host = host if target is None else host.astype(target)
                return np.ascontiguousarray(host.T if transpose else host)
            itemsize = (target or np.dtype(value.dtype)).itemsize
            nbytes = math.prod(value.shape[1:] if l is not None else value.shape) * itemsize
            tensors.append((e.hf_key.format(l=l) if l is not None else e.hf_key, fetch, nbytes))

    shards: list[list[tuple[str, Callable[[], np.ndarray], int]]] = [[]]
    size = 0
    for item in tensors:
        if shards[-1] and size + item[2] > limit:
            shards.append([])
            size = 0
        shards[-1].append(item)
        size += item[2]

    with atomic_dir(out, overwrite=overwrite, inputs=(tokenizer_dir, model.source)) as tmp:
        hf = cfg.to_hf_dict()
        hf["dtype"] = {np.dtype(np.float32): "float32", np.dtype(ml_dtypes.bfloat16): "bfloat16",
                       np.dtype(np.float16): "float16"}.get(target or np.dtype(model.dtype), "float32")
        (tmp / "config.json").write_text(json.dumps(hf, indent=2) + "\n")
        if len(shards) == 1:
            write_safetensors(tmp / "model.safetensors", {k: f() for k, f, _ in shards[0]})
        else:
            weight_map, total = {}, 0
            for i, shard in enumerate(shards):
                name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
                write_safetensors(tmp / name, {k: f() for k, f, _ in shard})
                for key, _, nbytes in shard:
                    weight_map[key] = name
                    total += nbytes
            index = {"metadata": {"total_size": total}, "weight_map": weight_map}
            (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
        copy_tokenizer_files(tokenizer_dir or model.source, tmp)
    return out


def _parse_size(size: int | str) -> int:
    if isinstance(size, int):
        return size
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "B": 1}
    s = size.strip().upper()
    for unit in sorted(units, key=len, reverse=True):
        if s.endswith(unit):
            return int(float(s[: -len(unit)]) * units[unit])
    return int(s)

