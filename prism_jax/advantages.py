"""Group-relative advantages for multi-turn agents (GRPO, GiGPO; paper appendix C, verl-agent's
set-up, see rl.md), from the rows of one iteration's rollouts.

A training row is one agent step: its prompt, its sampled response and one scalar advantage
shared by the response tokens. Rows of the same task form a group (the `group_size` rollouts of
that task).

Advantages (`compute_advantages`), with p = 0.1 the invalid-action penalty and F = std
(unbiased) + eps:
  * episode_stats="steps" (default; verl-agent's code): every row scores s = R - p * invalid, R
    its episode's return; A_E = (s - mean_g) / F_g with the statistics over all rows (steps) of
    the task group g. A long episode weighs in proportion to its steps, so the advantages of a
    group's rows sum to zero: failing episodes, usually the longer ones, cannot push the whole
    policy down on their own.
  * episode_stats="rollouts" (GiGPO's Eq. 3 as written): the statistics over one R per rollout,
    and A_E = (R - mean_g) / F_g - p * invalid (the penalty is not divided by F, so a group of
    equal returns, std 0, cannot turn -0.1 into -1e5).
  * GiGPO adds w * A_S (F = 1 with "mean_norm"): the step's discounted return R_t = sum_k
    gamma^(k-t) r_k minus p * invalid, normalised within its anchor-state group (the rows of g
    whose pre-action observation is identical).
  * A group with a single member gives 0 (there is nothing to compare with).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Norm = Literal["mean_std_norm", "mean_norm"]
EpisodeStats = Literal["steps", "rollouts"]


def rows_of(episodes) -> tuple[list, dict[str, np.ndarray | list]]:
    """Flatten episodes into rows (steps) and the per-row inputs of `compute_advantages`."""
    steps, cols = [], {k: [] for k in ("group", "episode", "episode_reward", "step_reward",
                                       "invalid", "anchor")}
    for e_id, ep in enumerate(episodes):
        for step in ep.steps:
            steps.append(step)
            cols["group"].append(ep.group)
            cols["episode"].append(e_id)
            cols["episode_reward"].append(ep.total_reward)
            cols["step_reward"].append(step.reward)
            cols["invalid"].append(step.invalid)
            cols["anchor"].append(step.observation)
    return steps, {k: (v if k == "anchor" else np.asarray(v)) for k, v in cols.items()}


def discounted_returns(rewards, episode, gamma: float) -> np.ndarray:
    """R_t = sum_{k >= t} gamma^(k-t) r_k within each episode -> float64 [N].

    rewards [N] and episode ids [N], the rows of an episode contiguous and in step order.
    """
    rewards = np.asarray(rewards, np.float64)
    episode = np.asarray(episode)
    out = np.zeros_like(rewards)
    running = 0.0
    for i in range(len(rewards) - 1, -1, -1):
        if i == len(rewards) - 1 or episode[i + 1] != episode[i]:
            running = 0.0
        running = rewards[i] + gamma * running
        out[i] = running
    return out


def group_normalize(values, keys, *, norm: Norm = "mean_std_norm", eps: float = 1e-6) -> np.ndarray:
    """(v - mean_k) / F_k over the rows sharing a key -> float64 [N]; singleton groups give 0.

    F = std (unbiased) + eps for "mean_std_norm", 1 for "mean_norm". keys: any hashables [N].
    """
    values = np.asarray(values, np.float64)
    members: dict = {}
    for i, k in enumerate(keys):
        members.setdefault(k, []).append(i)
    out = np.zeros_like(values)
    for idx in members.values():
        if len(idx) < 2:
            continue
        v = values[idx]
        scale = np.std(v, ddof=1) + eps if norm == "mean_std_norm" else 1.0
        out[idx] = (v - v.mean()) / scale
    return out


def compute_advantages(*, group, episode, episode_reward, step_reward, invalid, anchor=None,
                       method: Literal["grpo", "gigpo"] = "grpo", norm: Norm = "mean_std_norm",
                       gamma: float = 0.95, step_weight: float = 1.0,
                       invalid_penalty: float = 0.1, eps: float = 1e-6,
                       episode_stats: EpisodeStats = "steps") -> np.ndarray:
    """One advantage per row (agent step) -> float64 [N].

    Args (all [N], one entry per row, the rows of an episode contiguous and in step order):
      group: task-group id; episode: episode id; episode_reward: the episode's total env
      reward; step_reward: the env reward of this step; invalid: the response had no valid
      action; anchor: the pre-action observation (GiGPO only).
      method: "grpo" (episode groups, std-normalised) or "gigpo" (episode + anchor-state groups).
      norm: GiGPO's F: "mean_std_norm" (std + eps) or "mean_norm" (1); GRPO always uses std.
      episode_stats: "steps" (statistics over the group's rows, penalty inside the score) or
        "rollouts" (over one return per rollout, penalty after); see the module docstring.
    """
    group, episode = np.asarray(group), np.asarray(episode)
    penalty = invalid_penalty * np.asarray(invalid, np.float64)
    if method not in ("grpo", "gigpo"):
        raise ValueError(f"unknown advantage method {method!r}: expected 'grpo' or 'gigpo'")
    if method == "gigpo" and anchor is None:
        raise ValueError("GiGPO needs the pre-action observation of every row (anchor)")
    if episode_stats not in ("steps", "rollouts"):
        raise ValueError(f"unknown episode_stats {episode_stats!r}: expected 'steps' or 'rollouts'")
    episode_norm = "mean_std_norm" if method == "grpo" else norm
    if episode_stats == "steps":
        adv = group_normalize(np.asarray(episode_reward, np.float64) - penalty, group,
                              norm=episode_norm, eps=eps)
    else:
        # one value per episode: the statistics are over rollouts, not over their steps
        _, first, row_to_episode = np.unique(episode, return_index=True, return_inverse=True)
        a_episode = group_normalize(np.asarray(episode_reward, np.float64)[first], group[first],
                                    norm=episode_norm, eps=eps)
        adv = a_episode[row_to_episode] - penalty
    if method == "gigpo":
        returns = discounted_returns(step_reward, episode, gamma) - penalty
        adv = adv + step_weight * group_normalize(returns, list(zip(group.tolist(), anchor)),
                                                  norm=norm, eps=eps)
    return adv


def informative_rows(group, episode, episode_reward) -> np.ndarray:
    """bool [N]: the row's task group has episodes of different returns (DAPO's filter keeps
    these; a group whose rollouts all scored alike carries no group-relative signal)."""
    group, episode = np.asarray(group), np.asarray(episode)
    reward = np.asarray(episode_reward, np.float64)
    keep = np.zeros(len(group), bool)
    for g in np.unique(group):
        rows = group == g
        per_episode = {e: r for e, r in zip(episode[rows], reward[rows])}
        keep[rows] = len(set(per_episode.values())) > 1
    return keep
