"""Shared test set-up: persistent compilation cache, float32 parity precision."""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax
import pytest

from prism_jax.runtime import enable_compilation_cache

enable_compilation_cache()


@pytest.fixture
def highest_precision():
    """float32 matmuls at full precision, as the parity tests against torch require."""
    with jax.default_matmul_precision("highest"):
        yield


@pytest.fixture(scope="session")
def alfworld_expert_sft(tmp_path_factory):
    """A tiny model fitted by per-step SFT on the expert's play of 3 generated ALFWorld games.

    Returns a dict: games (game files), data (gen-data JSONL), start (the untrained model dir),
    run (the SFT run dir) and final (the trained model dir). Shared by the SFT and GRPO tests
    (about 1.5 min of training on this box).
    """
    from alfworld_runs import expert_sft

    return expert_sft(tmp_path_factory.mktemp("alfworld_sft"))

