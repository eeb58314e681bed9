"""The one episode loop: expert data, GRPO rollouts, HPT pass rates and evaluation all play here.

`play` keeps a vectorised env busy: each of its ``n`` slots plays one task after another until
every task has had its episode. At every round the running episodes' prompts are built from
their turns (`prism_jax.envs.prompts.step_prompt`), one policy call answers them all, and the
envs take one step each.

The invalid-response rule (verl-agent's projection, decided here and nowhere else):

* the environment is sent `parse_action`'s action: the lower-cased text between the first
  ``<action>`` and the next ``</action>``, or "" when a tag is missing (verl-agent's later
  ALFWorld projection; its first one sent the response's last 30 characters, which lets an
  untagged response act by accident). Every environment answers "" as a no-op: ALFWorld says
  "Nothing happens.", WebShop keeps its page. The step counts against the step limit;
* the step is *invalid* (``Step.invalid``: GRPO's -0.1 penalty, verl-agent's
  ``is_action_valid == False``) when `parse_action` says so: a tag missing, an empty action,
  ``<think>`` or ``</think>`` missing while reasoning is asked for, or CJK ideographs;
* a well-formed action the environment does not accept is *rejected* (``Step.rejected``), not
  invalid, as in verl-agent.

Evaluation's Valid column is the share of steps that are neither (`valid_percent`).

A slot whose env fails (its worker died or hung, see `prism_jax.envs.alfworld.vec`) ends its
episode as failed with the reason in ``Episode.error``; the loop carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from prism_jax.envs.prompts import PromptConfig, check_prompt, parse_action, shorter_prompts, step_prompt
from prism_jax.progress import progress as progress_bar


@dataclass
class Request:
    """What a policy is asked at one step of one episode."""

    episode: int                 # index of the episode (its task) in `play`'s task list
    step: int                    # steps taken so far in this episode
    task_id: str
    info: dict                   # the env's latest info (admissible commands, page, ...)
    messages: list[dict]         # the prompt (`step_prompt`)
    shorter: Callable[[], Iterator[list[dict]]]  # shorter prompts, for a token budget
    task: str = ""               # the episode's task (instruction / goal)


@dataclass
class Reply:
    """A policy's answer; token arrays only from model policies (int32 / float32 [R])."""

    text: str
    prompt_ids: np.ndarray | None = None
    response_ids: np.ndarray | None = None
    logprobs: np.ndarray | None = None
    messages: list[dict] | None = None  # the prompt actually shown, when it was shortened


class Policy(Protocol):
    """``policy(requests, key) -> replies``, one reply per request, in order. ``key`` is a JAX
    PRNG key, or None for a policy whose ``needs_key`` attribute is False (experts and other
    scripted policies: the loop then never imports JAX)."""

    def __call__(self, requests: list[Request], key) -> list[Reply]: ...


@dataclass
class Step:
    """One agent step. Token arrays are int32 / float32 [R] for a response of R tokens (empty
    for policies without tokens, e.g. the expert)."""

    prompt_ids: np.ndarray      # int32 [P], the rendered (possibly shortened) prompt
    response_ids: np.ndarray    # int32 [R], the sampled tokens, the stop token included
    logprobs: np.ndarray        # float32 [R], log p(response_ids[r]) at sampling (temperature 1)
    response: str               # the response text
    action: str                 # what the environment was sent
    observation: str            # the observation the action answered (GiGPO's anchor state)
    reward: float = 0.0
    invalid: bool = False       # malformed response (verl-agent's is_action_valid == False)
    done: bool = False
    rejected: bool = False      # well-formed, but the environment did not accept the action
    prompt: list[dict] | None = None  # the prompt shown


@dataclass
class Episode:
    """One episode of task `task_id` (in rollout group `group`)."""

    task_id: str
    group: int
    task_type: str = ""
    steps: list[Step] = field(default_factory=list)
    success: bool = False
    total_reward: float = 0.0
    task: str = ""
    turns: list[dict] = field(default_factory=list)  # observation, admissible, response
    info: dict = field(default_factory=dict)          # the env's last info
    error: str | None = None                          # why the episode was lost (env failure)

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def n_invalid(self) -> int:
        return sum(s.invalid for s in self.steps)

    @property
    def n_rejected(self) -> int:
        return sum(s.rejected for s in self.steps)


_EMPTY_IDS = np.zeros(0, np.int32)
_EMPTY_LOGP = np.zeros(0, np.float32)


def play(policy: Policy, vec, task_ids: Sequence[str], *, env: str, prompt: PromptConfig,
         max_steps: int, groups: Sequence[int] | None = None,
         env_seeds: Sequence[int | None] | None = None, seed: int = 0, progress: bool = True,
         desc: str = "episodes", on_episode: Callable[[int, Episode], None] | None = None
         ) -> list[Episode]:
    """Play one episode per task id on ``vec``'s slots; returns the episodes in task order.

    Args:
      policy: `Policy`; round t is answered with the key fold_in(key(seed), t).
      vec: ``n`` slots; ``reset(task_ids, seeds, indices)`` and ``step(actions, indices)`` on a
        subset of them (an env that fails answers with ``info["error"]``).
      env: "alfworld" | "webshop" (the prompt's wording).
      max_steps: steps after which an episode is cut (the env's own limit may come first).
      groups: rollout group of each task (default: its index), copied into the episodes.
      on_episode: called with (index, episode) as each episode ends (e.g. to save it).
    """
    check_prompt(prompt)
    n_tasks = len(task_ids)
    groups = list(range(n_tasks)) if groups is None else list(groups)
    seeds = [None] * n_tasks if env_seeds is None else list(env_seeds)
    if len(groups) != n_tasks or len(seeds) != n_tasks:
        raise ValueError(f"{len(groups)} groups and {len(seeds)} seeds for {n_tasks} tasks")
    episodes: list[Episode | None] = [None] * n_tasks
    slot_of: dict[int, int] = {}     # slot -> running episode
    pending = iter(range(n_tasks))
    key = None
    if getattr(policy, "needs_key", True):
        # lazy: expert policies (gen-data, env workers) need no key and never import jax
        import jax
        key = jax.random.key(seed)

    def finish(k: int) -> None:
        bar.update(1)
        if on_episode is not None:
            on_episode(k, episodes[k])

    def fill(slots: list[int]) -> None:
        while slots:
            todo = [(s, k) for s, k in zip(slots, pending)]
            if not todo:
                return
            obs, infos = vec.reset([str(task_ids[k]) for _, k in todo], [seeds[k] for _, k in todo],
                                   indices=[s for s, _ in todo])
            slots = []
            for (s, k), o, info in zip(todo, obs, infos):
                ep = Episode(str(task_ids[k]), groups[k], info.get("task_type", ""),
                             task=info.get("task", ""), info=info, error=info.get("error"))
                episodes[k] = ep
                if ep.error is None:
                    ep.turns.append({"observation": o, "admissible": list(info["admissible_commands"]),
                                     "response": None})
                    slot_of[s] = k
                else:
                    finish(k)
                    slots.append(s)

    with progress_bar(n_tasks, desc=desc, unit="episode", enabled=progress) as bar:
        fill(list(range(min(vec.n, n_tasks))))
        t = 0
        while slot_of:
            active = sorted(slot_of)
            requests = []
            for s in active:
                k = slot_of[s]
                ep = episodes[k]
                turns = ep.turns
                requests.append(Request(
                    k, len(ep.steps), ep.task_id, ep.info,
                    step_prompt(env, ep.task, turns, prompt),
                    lambda ep=ep, turns=list(turns): shorter_prompts(env, ep.task, turns, prompt),
                    task=ep.task))
            replies = policy(requests, None if key is None else jax.random.fold_in(key, t))
            if len(replies) != len(requests):
                raise ValueError(f"the policy returned {len(replies)} replies for "
                                 f"{len(requests)} requests")
            actions, parsed = [], []
            for reply in replies:
                action, valid = parse_action(reply.text, require_think=prompt.think)
                actions.append(action)
                parsed.append(valid)
            obs, rewards, terminated, truncated, infos = vec.step(actions, indices=active)
            ended = []
            for i, s in enumerate(active):
                k = slot_of[s]
                ep, reply, info = episodes[k], replies[i], infos[i]
                if info.get("error") is not None:
                    ep.error, ep.success = info["error"], False
                    ended.append(s)
                    continue
                done = bool(terminated[i] or truncated[i]) or len(ep.steps) + 1 >= max_steps
                step = Step(
                    reply.prompt_ids if reply.prompt_ids is not None else _EMPTY_IDS,
                    reply.response_ids if reply.response_ids is not None else _EMPTY_IDS,
                    reply.logprobs if reply.logprobs is not None else _EMPTY_LOGP,
                    reply.text, actions[i], ep.turns[-1]["observation"], float(rewards[i]),
                    invalid=not parsed[i], done=done,
                    rejected=parsed[i] and bool(info.get("invalid", False)),
                    prompt=reply.messages if reply.messages is not None else requests[i].messages)
                ep.steps.append(step)
                ep.total_reward += step.reward
                ep.turns[-1]["response"] = reply.text
                ep.turns.append({"observation": obs[i],
                                 "admissible": list(info.get("admissible_commands", [])),
                                 "response": None})
                ep.info = info
                if done:
                    ep.success = bool(info.get("won", False))
                    ended.append(s)
            for s in ended:
                finish(slot_of.pop(s))
            fill(ended)
            t += 1
    return episodes


def episode_stats(episodes: Sequence[Episode]) -> dict[str, float]:
    """Success rate, mean episode reward, invalid and rejected step rates, mean response tokens,
    mean steps, and the number of episodes lost to env failures."""
    steps = [s for e in episodes for s in e.steps]
    mean = lambda xs: float(np.mean(xs)) if len(xs) else float("nan")
    return {
        "success_rate": mean([e.success for e in episodes]),
        "mean_reward": mean([e.total_reward for e in episodes]),
        "invalid_rate": mean([s.invalid for s in steps]),
        "rejected_rate": mean([s.rejected for s in steps]),
        "response_length": mean([len(s.response_ids) for s in steps]),
        "episode_steps": mean([e.n_steps for e in episodes]),
        "failed_episodes": float(sum(e.error is not None for e in episodes)),
    }


def valid_percent(records: Sequence[dict]) -> float | None:
    """Percent of agent steps whose response was well-formed and accepted by the environment,
    over `episode_record` records (None without any step)."""
    steps = sum(r["n_steps"] for r in records)
    if not steps:
        return None
    bad = sum(r["n_invalid"] + r.get("n_rejected", 0) for r in records)
    return round(100.0 * (1.0 - bad / steps), 4)


def episode_record(episode: Episode) -> dict:
    """An episode as a JSON-ready record: ids, outcome, counts, the raw turns and the prompt
    each step was shown (``prompts``)."""
    return {"task_id": episode.task_id, "task_type": episode.task_type, "task": episode.task,
            "won": episode.success, "reward": episode.total_reward, "n_steps": episode.n_steps,
            "n_invalid": episode.n_invalid, "n_rejected": episode.n_rejected,
            "error": episode.error, "turns": episode.turns,
            "prompts": [s.prompt for s in episode.steps]}


def chat_policy(respond: Callable[[list[list[dict]]], list[str]]) -> Policy:
    """A `Policy` from a function of the prompts alone: ``respond(prompts) -> texts``."""
    def policy(requests: list[Request], key) -> list[Reply]:
        return [Reply(text) for text in respond([r.messages for r in requests])]
    policy.needs_key = False
    return policy
