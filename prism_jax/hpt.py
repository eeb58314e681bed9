"""Online HPT inside the GRPO loop: a task whose rollouts have at most `gate` successes trains on
its demonstration with the SFT loss in the same update, instead of on its rollouts."""

from __future__ import annotations

import logging

import numpy as np

from prism_jax.data import expand_steps
from prism_jax.episodes import Step
from prism_jax.models.tokenizer import encode_continuation

logger = logging.getLogger(__name__)


def demonstration_steps(records, tokenizer, *, max_prompt_len: int) -> dict[str, list[Step]]:
    """{task_id: the Steps of its first demonstration} for online HPT's SFT rows.

    Each step's prompt is what a rollout renders at that step (`data.expand_steps`, tokenised by
    `encode_continuation`: token for token the rollout prompt), its response the demonstrated
    turn plus the end-of-turn token. A step whose prompt exceeds `max_prompt_len` is left out
    (counted in a warning). Raises ValueError for a record without per-step ``turns``.
    """
    first = {}
    for rec in records:
        first.setdefault(rec["task_id"], rec)
    out, dropped = {}, 0
    for task, rec in first.items():
        steps = []
        for ex in expand_steps([rec]):
            prompt, reply = ex["messages"][:-1], ex["messages"][-1]["content"]
            ids, mask = encode_continuation(tokenizer, prompt, reply, enable_thinking=ex["think"])
            p = int(np.argmax(mask))
            if p > max_prompt_len:
                dropped += 1
                continue
            steps.append(Step(ids[:p], ids[p:], np.zeros(len(ids) - p, np.float32), reply, "", ""))
        out[task] = steps
    if dropped:
        logger.warning("online HPT: %d demonstration steps have prompts over %d tokens and are "
                       "left out", dropped, max_prompt_len)
    return out


def online_hpt(steps, advantages, row_groups, episodes, tasks, demos, gate: int):
    """HPT's per-task switch on one iteration's rows -> (steps, advantages, sft bool [N], stats).

    A group (task `tasks[g]`) whose episodes have at most `gate` successes gives up its rollout
    rows and contributes its demonstration's steps (`demos[task]`, advantage 0, sft True)
    instead; the other groups keep their GRPO rows. row_groups [N]: the group of each row.
    """
    wins: dict[int, int] = {}
    for e in episodes:
        wins[e.group] = wins.get(e.group, 0) + bool(e.success)
    to_sft = sorted(g for g, n in wins.items() if n <= gate)
    rl = np.array([g not in to_sft for g in row_groups], bool)
    demo = [s for g in to_sft for s in demos[tasks[g]]]
    out_steps = [s for s, k in zip(steps, rl) if k] + demo
    out_adv = np.concatenate([np.asarray(advantages)[rl], np.zeros(len(demo))]).astype(np.float32)
    sft = np.concatenate([np.zeros(int(rl.sum()), bool), np.ones(len(demo), bool)])
    stats = {"hpt_sft_tasks": len(to_sft), "hpt_rl_tasks": len(wins) - len(to_sft),
             "sft_rows": len(demo)}
    return out_steps, out_adv, sft, stats
