"""Helpers for tests that play generated ALFWorld games with a checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

from prism_jax.envs.prompts import PromptConfig

# Short answers keep these small models fast: verl-agent's prompt without the <think> part.
PROMPT = PromptConfig(think=False)


def expert_setup(root: Path, n_games: int, spec, *, max_steps: int) -> tuple[list, Path, Path]:
    """`n_games` generated pick-and-place games under root, gen-data's expert records of them
    (root/expert.jsonl) and a tiny untrained model built on their per-step chats (root/tiny).
    Returns (games, data file, model dir)."""
    from prism_jax.data import expand_steps
    from prism_jax.envs.alfworld import generate_games
    from prism_jax.envs.alfworld.datagen import trajectory_records
    from prism_jax.models.builder import build_tiny

    games = generate_games("train", n_games, root / "games", seed=0,
                           task_types=["pick_and_place_simple"], progress=False)
    records = trajectory_records(games, "train", workers=2, max_steps=max_steps, prompt=PROMPT)
    data = root / "expert.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    model = build_tiny(root / "tiny", [m["content"] for r in expand_steps(records)
                                       for m in r["messages"]], spec)
    return games, data, model


def alfworld_success(model_dir, games, *, repeats: int = 1, temperature: float = 0.0,
                     seed: int = 0) -> float:
    """Success rate of a checkpoint on `games` (each played `repeats` times), 8 steps at most."""
    from prism_jax.envs.alfworld import evaluate
    from prism_jax.models import load_pretrained
    from prism_jax.models.tokenizer import load_tokenizer
    from prism_jax.policy import ModelPolicy

    model = load_pretrained(model_dir)
    tasks = [str(g) for g in games for _ in range(repeats)]
    policy = ModelPolicy(model.params(), model.config, load_tokenizer(model_dir), max_new_tokens=16,
                         max_prompt_len=1024, bucket=256, temperature=temperature,
                         think=PROMPT.think)
    return evaluate(policy, tasks, batch_size=len(tasks), max_steps=8, prompt=PROMPT, seed=seed,
                    progress=False)["success"]["All"]


def expert_sft(root: Path) -> dict:
    """A tiny model fitted by per-step SFT on the expert's play of 3 generated pick-and-place
    games (the `alfworld_expert_sft` fixture and bench/grpo_learning.py): {games, data, start,
    run, final}. verl-agent's per-step prompt; 36 epochs win all three games (28 won none,
    measured)."""
    from prism_jax.models.builder import TinySpec
    from prism_jax.sft import SFTConfig, train_sft

    spec = TinySpec(vocab_size=1024, hidden_size=128, intermediate_size=256, num_layers=2,
                    num_heads=4, num_kv_heads=2, head_dim=32)
    games, data, start = expert_setup(root, 3, spec, max_steps=8)
    summary = train_sft(SFTConfig(model=start, data=data, out=root / "run", lr=5e-3, epochs=36,
                                  batch_size=4, accum_steps=1, max_len=1024, save_every=1000,
                                  per_step=True), progress=False)
    return {"games": games, "data": data, "start": start, "run": root / "run",
            "final": summary["final_model"]}
