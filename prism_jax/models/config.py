"""ModelConfig: the decoder's hyperparameters, read from a Hugging Face `config.json`.

Qwen3 and Llama-3.x differ only in config fields here: Qwen3 has per-head q/k RMSNorm (and tied
embeddings at small sizes); Llama-3.1 has `rope_scaling` of type `llama3`.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED_MODEL_TYPES = ("qwen3", "llama")

# The projection matrices PRISM probes, in the order of g[7*l + j].
MATRICES = ("q", "k", "v", "o", "gate", "up", "down")

_ARCHITECTURES = {"qwen3": "Qwen3ForCausalLM", "llama": "LlamaForCausalLM"}


class ConfigError(ValueError):
    """A config.json this package cannot serve (unsupported model type or feature)."""


@dataclass(frozen=True)
class RopeScaling:
    """Llama-3 (`rope_type: llama3`) frequency scaling."""

    factor: float
    low_freq_factor: float
    high_freq_factor: float
    original_max_position_embeddings: int


@dataclass(frozen=True)
class ModelConfig:
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: RopeScaling | None = None
    tie_word_embeddings: bool = False
    qk_norm: bool = False
    max_position_embeddings: int = 32768
    bos_token_id: int | None = None
    eos_token_id: int | tuple[int, ...] | None = None
    pad_token_id: int | None = None
    # Attention implementation of full-sequence passes (probe, SFT, GRPO, prefill): "auto" picks
    # per backend (cuDNN flash on GPU, splash on TPU, XLA on CPU); see
    # models.attention.resolve_attention. A runtime choice, not written to config.json.
    attention: str = "auto"
    # The config.json it came from, kept so save_pretrained writes back the fields we do not model.
    hf_dict: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    def __post_init__(self):
        if self.model_type not in SUPPORTED_MODEL_TYPES:
            raise ConfigError(
                f"unsupported model_type {self.model_type!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
            )
        if self.num_heads % self.num_kv_heads:
            raise ConfigError(
                f"num_attention_heads ({self.num_heads}) must be a multiple of num_key_value_heads "
                f"({self.num_kv_heads})"
            )

    # ----------------------------------------------------------------- derived sizes
    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    def matrix_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) of each probed projection, as stored in our params (x @ W)."""
        d, f = self.hidden_size, self.intermediate_size
        return {
            "q": (d, self.q_dim), "k": (d, self.kv_dim), "v": (d, self.kv_dim), "o": (self.q_dim, d),
            "gate": (d, f), "up": (d, f), "down": (f, d),
        }

    def param_counts(self) -> np.ndarray:
        """Parameter count of each probed matrix, int64 [7L], ordered like g (layer-major)."""
        per_layer = [math.prod(s) for s in self.matrix_shapes().values()]
        return np.tile(np.asarray(per_layer, np.int64), self.num_layers)

    def num_params(self) -> int:
        d = self.hidden_size
        per_layer = sum(math.prod(s) for s in self.matrix_shapes().values()) + 2 * d
        per_layer += 2 * self.head_dim if self.qk_norm else 0
        head = 0 if self.tie_word_embeddings else d * self.vocab_size
        return self.vocab_size * d + self.num_layers * per_layer + d + head

    # ----------------------------------------------------------------- HF config.json
    @classmethod
    def from_hf_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        model_type = d.get("model_type")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise ConfigError(
                f"unsupported model_type {model_type!r}; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
            )
        for flag in ("attention_bias", "mlp_bias", "use_sliding_window"):
            if d.get(flag):
                raise ConfigError(f"{model_type} config with {flag}=true is not supported")
        if d.get("hidden_act", "silu") != "silu":
            raise ConfigError(f"hidden_act {d['hidden_act']!r} is not supported (only silu)")

        # transformers >= 5 writes `rope_parameters`; older files have rope_theta + rope_scaling.
        rope = dict(d.get("rope_parameters") or {})
        if not rope:
            rope = dict(d.get("rope_scaling") or {})
            rope.setdefault("rope_theta", d.get("rope_theta", 10000.0))
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        scaling = None
        if rope_type == "llama3":
            scaling = RopeScaling(
                factor=float(rope["factor"]),
                low_freq_factor=float(rope["low_freq_factor"]),
                high_freq_factor=float(rope["high_freq_factor"]),
                original_max_position_embeddings=int(rope["original_max_position_embeddings"]),
            )
        elif rope_type != "default":
            raise ConfigError(f"rope type {rope_type!r} is not supported (default, llama3)")
        if rope.get("partial_rotary_factor", 1.0) != 1.0:
            raise ConfigError("partial_rotary_factor != 1 is not supported")

        heads = int(d["num_attention_heads"])
        eos = d.get("eos_token_id")
        return cls(
            model_type=model_type,
            vocab_size=int(d["vocab_size"]),
            hidden_size=int(d["hidden_size"]),
            intermediate_size=int(d["intermediate_size"]),
            num_layers=int(d["num_hidden_layers"]),
            num_heads=heads,
            num_kv_heads=int(d.get("num_key_value_heads") or heads),
            head_dim=int(d.get("head_dim") or d["hidden_size"] // heads),
            rms_norm_eps=float(d.get("rms_norm_eps", 1e-6)),
            rope_theta=float(rope.get("rope_theta", 10000.0)),
            rope_scaling=scaling,
            tie_word_embeddings=bool(d.get("tie_word_embeddings", False)),
            qk_norm=model_type == "qwen3",
            max_position_embeddings=int(d.get("max_position_embeddings", 32768)),
            bos_token_id=d.get("bos_token_id"),
            eos_token_id=tuple(eos) if isinstance(eos, list) else eos,
            pad_token_id=d.get("pad_token_id"),
            hf_dict=dict(d),
        )

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "ModelConfig":
        file = Path(path) / "config.json"
        if not file.is_file():
            raise FileNotFoundError(f"{file}: no config.json (expected a Hugging Face model directory)")
        try:
            d = json.loads(file.read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{file}:{e.lineno}: invalid JSON: {e.msg}") from None
        return cls.from_hf_dict(d)

    def to_hf_dict(self) -> dict[str, Any]:
        d = dict(self.hf_dict)
        for stale in ("rope_scaling", "rope_theta", "torch_dtype"):
            d.pop(stale, None)
        rope: dict[str, Any] = {"rope_type": "default", "rope_theta": self.rope_theta}
        if self.rope_scaling is not None:
            rope = {"rope_type": "llama3", "rope_theta": self.rope_theta,
                    **dataclasses.asdict(self.rope_scaling)}
        eos = list(self.eos_token_id) if isinstance(self.eos_token_id, tuple) else self.eos_token_id
        d.update(
            model_type=self.model_type,
            architectures=[_ARCHITECTURES[self.model_type]],
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.num_layers,
            num_attention_heads=self.num_heads,
            num_key_value_heads=self.num_kv_heads,
            head_dim=self.head_dim,
            hidden_act="silu",
            rms_norm_eps=self.rms_norm_eps,
            rope_parameters=rope,
            tie_word_embeddings=self.tie_word_embeddings,
            max_position_embeddings=self.max_position_embeddings,
            bos_token_id=self.bos_token_id,
            eos_token_id=eos,
            pad_token_id=self.pad_token_id,
            attention_bias=False,
        )
        if self.model_type == "llama":
            d["mlp_bias"] = False
        return d


# --------------------------------------------------------------------------- presets
def qwen3_8b() -> ModelConfig:
    """Qwen3-8B (36 layers, GQA 32/8, head_dim 128, untied)."""
    return ModelConfig(
        model_type="qwen3", vocab_size=151936, hidden_size=4096, intermediate_size=12288,
        num_layers=36, num_heads=32, num_kv_heads=8, head_dim=128, rms_norm_eps=1e-6,
        rope_theta=1_000_000.0, tie_word_embeddings=False, qk_norm=True,
        max_position_embeddings=40960, bos_token_id=151643, eos_token_id=151645,
    )


def llama3_1_8b() -> ModelConfig:
    """Llama-3.1-8B(-Instruct) (32 layers, GQA 32/8, llama3 RoPE scaling, untied)."""
    return ModelConfig(
        model_type="llama", vocab_size=128256, hidden_size=4096, intermediate_size=14336,
        num_layers=32, num_heads=32, num_kv_heads=8, head_dim=128, rms_norm_eps=1e-5,
        rope_theta=500_000.0,
        rope_scaling=RopeScaling(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                 original_max_position_embeddings=8192),
        tie_word_embeddings=False, max_position_embeddings=131072,
        bos_token_id=128000, eos_token_id=(128001, 128008, 128009),
    )


PRESETS = {"qwen3-8b": qwen3_8b, "llama3.1-8b": llama3_1_8b}
