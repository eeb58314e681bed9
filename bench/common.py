"""Shared set-up for the side-by-side benchmarks: one random Qwen3-architecture checkpoint."""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np
import torch
from transformers import Qwen3Config, Qwen3ForCausalLM

# A small but not toy shape (34M parameters): compute, not Python overhead, dominates on both sides.
BENCH_CONFIG = dict(vocab_size=8192, hidden_size=512, intermediate_size=1536, num_hidden_layers=8,
                    num_attention_heads=8, num_key_value_heads=4, head_dim=64,
                    tie_word_embeddings=False, eos_token_id=1, pad_token_id=0)
# The issue-17 sampling and probe model: a 32k vocabulary on a narrow, shallow decoder, so the
# lm head and the per-step overheads (not the layers) decide a decode step.
NARROW = dict(BENCH_CONFIG, vocab_size=32000, hidden_size=256, intermediate_size=768,
              num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, head_dim=64)

_FLAGS = {"vocab": "vocab_size", "hidden": "hidden_size", "ffn": "intermediate_size",
          "layers": "num_hidden_layers", "heads": "num_attention_heads",
          "kv_heads": "num_key_value_heads", "head_dim": "head_dim"}


def add_model_args(ap: argparse.ArgumentParser, base: dict = BENCH_CONFIG) -> None:
    """--vocab, --hidden, --ffn, --layers, --heads, --kv-heads, --head-dim (defaults from `base`)."""
    for flag, key in _FLAGS.items():
        ap.add_argument(f"--{flag.replace('_', '-')}", type=int, default=base[key],
                        help=f"model {key} (default {base[key]})")


def model_config(args: argparse.Namespace, base: dict = BENCH_CONFIG) -> dict:
    """The Qwen3Config kwargs that `add_model_args`' flags describe."""
    return dict(base, **{key: getattr(args, flag) for flag, key in _FLAGS.items()})


def make_checkpoint(root: str | None = None, config: dict | None = None) -> tuple[Path, Qwen3ForCausalLM]:
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(**(config or BENCH_CONFIG))).eval()
    path = Path(root or tempfile.mkdtemp(prefix="prism-bench-"))
    model.save_pretrained(path)
    return path, model


def load_line() -> str:
    """The machine's load, printed with every figure (ratios flip on a loaded box)."""
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (5 min {five:.2f}) on {os.cpu_count()} cores"


def add_thread_arg(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads of both sides (default: all cores). --threads 1 is the fair "
                         "setting on a shared, loaded box, where torch's spinning threads suffer "
                         "far more than XLA's; compare the CPU-time ratio then")


def apply_threads(threads: int | None) -> int:
    """Set both libraries' thread counts (before JAX's first computation) -> the count used."""
    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    if threads:
        # XLA's CPU thread pools do not all follow the flags below: pin the process as well
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:n])
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                                   f"{'true' if n > 1 else 'false'} intra_op_parallelism_threads={n}")
    return n


@dataclass(frozen=True)
class Timing:
    wall: float     # seconds, median over repeats
    cpu: float      # process CPU seconds (all threads), median: robust to other load when 1 thread


def timeit(fn, repeats: int = 5) -> Timing:
    """Median wall time and process CPU time of fn() over `repeats` calls, after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return Timing(float(np.median(wall)), float(np.median(cpu)))


def report(what: str, units: float, unit: str, ours: Timing, ref: Timing, ref_name: str) -> float:
    """Print both sides' rates and the speed-up (wall and CPU time) -> the wall-clock speed-up."""
    print(f"prism-jax     {units / ours.wall:10.1f} {unit}/s  ({ours.wall:.3f} s wall, "
          f"{ours.cpu:.3f} s CPU)")
    print(f"{ref_name:13s} {units / ref.wall:10.1f} {unit}/s  ({ref.wall:.3f} s wall, {ref.cpu:.3f} s CPU)")
    print(f"{what} speed-up (prism-jax / {ref_name}): {ref.wall / ours.wall:.2f}x wall clock, "
          f"{ref.cpu / ours.cpu:.2f}x CPU time; {load_line()}")
    return ref.wall / ours.wall
