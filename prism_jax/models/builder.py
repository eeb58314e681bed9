"""The embedded default model: a tiny Qwen3-architecture checkpoint with its own tokenizer.

It is written as an ordinary Hugging Face directory (config.json, model.safetensors, tokenizer
files with a chat template), so every later stage loads it exactly as it loads a real Qwen3.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import jax.numpy as jnp

from prism_jax.models.config import ModelConfig
from prism_jax.models.hf import save_pretrained
from prism_jax.models.tokenizer import train_tokenizer
from prism_jax.models.transformer import Transformer


@dataclass(frozen=True)
class TinySpec:
    """Shape of the tiny model (defaults: ~2.6M parameters, fast on a 2-core CPU)."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    head_dim: int = 32
    tie_word_embeddings: bool = True
    max_position_embeddings: int = 4096
    rope_theta: float = 10000.0
    tokenizer: Literal["bpe", "word"] = "bpe"
    """bpe: byte-level BPE; word: one id per lowercased word of the corpus (copying a word or a
    product id from the prompt is copying one token, which a model trained from scratch for
    minutes can learn; words outside the corpus become <unk>)."""


def corpus_from_files(paths: Iterable[str | os.PathLike]) -> Iterator[str]:
    """Texts for tokenizer training: the message contents of trajectory JSONL files and, for
    records with `turns`, every per-step prompt the policy will be shown (verl-agent's
    template text, `data.expand_steps`); lines of other text files."""
    # data imports the prompt builders of the environments: only needed for JSONL corpora
    from prism_jax.data import expand_steps

    for path in paths:
        path = Path(path)
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                if path.suffix != ".jsonl":
                    yield line
                    continue
                rec = json.loads(line)
                for m in rec.get("messages", ()):
                    yield m["content"]
                if rec.get("turns"):
                    for step in expand_steps([rec]):
                        yield step["messages"][0]["content"]


def build_tiny(out_dir: str | os.PathLike, corpus: Iterable[str], spec: TinySpec = TinySpec(),
               seed: int = 0, *, overwrite: bool = False) -> Path:
    """Train a tokenizer on `corpus`, initialise a random tiny Qwen3, save both to `out_dir`
    (an existing non-empty `out_dir` is replaced only with `overwrite`)."""
    with tempfile.TemporaryDirectory() as tok_dir:
        tok = train_tokenizer(corpus, tok_dir, vocab_size=spec.vocab_size, kind=spec.tokenizer)
        cfg = ModelConfig(
            model_type="qwen3", vocab_size=len(tok), hidden_size=spec.hidden_size,
            intermediate_size=spec.intermediate_size, num_layers=spec.num_layers,
            num_heads=spec.num_heads, num_kv_heads=spec.num_kv_heads, head_dim=spec.head_dim,
            rope_theta=spec.rope_theta, tie_word_embeddings=spec.tie_word_embeddings, qk_norm=True,
            max_position_embeddings=spec.max_position_embeddings,
            bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        )
        model = Transformer.init(cfg, seed, dtype=jnp.float32)
        return save_pretrained(model, out_dir, tokenizer_dir=tok_dir, overwrite=overwrite)
