"""Batched multi-turn rollouts: a model drives a vectorised environment batch through episodes.

Every env gets its own `Conversation` (the shared prompt format). At each step the chats of the
still-running envs are rendered with the tokenizer's chat template, left-truncated to the prompt
budget (the system and first user turn are always kept, the oldest exchanges after them go
first), left-padded to a bucketed length and sampled in one jitted call of
`prism_jax.sampler.generate` (stop at "</action>" or EOS). Finished envs leave the batch; the
batch size is rounded up to a power of two so that only a handful of programs are compiled.

Each step keeps what GRPO/GiGPO need: prompt and response token ids, the response tokens'
sampled log-probs (temperature 1, the policy's own), reward, the invalid flag and the
observation the action answered (GiGPO's anchor state).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import jax
import numpy as np
from tqdm.auto import tqdm

from prism_jax.envs.prompts import Conversation, parse_action
from prism_jax.models.config import ModelConfig
from prism_jax.models.tokenizer import render_prompt_ids
from prism_jax.sampler import bucket, generate, left_pad

logger = logging.getLogger(__name__)

STOP_TEXT = "</action>"


@dataclass(frozen=True)
class RolloutConfig:
    """Sampling and episode settings of a rollout."""

    env: str = "alfworld"           # prompt format: "alfworld" | "webshop"
    max_steps: int = 50             # environment steps per episode (paper: 50 ALFWorld, 15 WebShop)
    max_prompt_len: int = 2048      # prompt budget in tokens (paper: 2048 ALFWorld, 4096 WebShop)
    max_new_tokens: int = 64        # response length cap per step
    temperature: float = 1.0        # 0 = greedy
    top_p: float = 1.0
    bucket: int = 64                # prompt lengths are padded up to a multiple of this
    think: bool = False             # ask for <think></think> before the action (and require it)


@dataclass
class Step:
    """One agent step. Token arrays are int32 / float32 [R] for a response of R tokens."""

    prompt_ids: np.ndarray      # int32 [P], the rendered (possibly truncated) prompt
    response_ids: np.ndarray    # int32 [R], the sampled tokens, the stop token included
    logprobs: np.ndarray        # float32 [R], log p(response_ids[r]) at sampling (temperature 1)
    response: str               # decoded response text
    action: str                 # parsed action ("" when invalid format)
    observation: str            # the observation the action answered (pre-action state)
    reward: float = 0.0
    invalid: bool = False       # no well-formed <action> (verl-agent's is_action_valid = False)
    done: bool = False


@dataclass
class Episode:
    """One finished episode of task `task_id` (in rollout group `group`)."""

    task_id: str
    group: int
    task_type: str
    steps: list[Step] = field(default_factory=list)
    success: bool = False
    total_reward: float = 0.0
    conversation: Conversation | None = None

    @property
    def n_steps(self) -> int:
        return len(self.steps)


def fit_prompt(tokenizer, messages: list[dict], max_len: int) -> np.ndarray:
    """Prompt ids int32 [<= max_len] for the next assistant turn of `messages`.

    Over-long chats drop their oldest (assistant, user) exchanges after the first user turn, so
    the system message, the task and the latest observation stay. If even that is too long, the
    leading tokens are cut (logged: it means the budget is too small for one turn).
    """
    head, rest = messages[:2], messages[2:]
    ids = render_prompt_ids(tokenizer, messages)
    while len(ids) > max_len and len(rest) > 1:
        rest = rest[2:]
        ids = render_prompt_ids(tokenizer, head + rest)
    if len(ids) > max_len:
        logger.warning("prompt of %d tokens exceeds the budget of %d even with the history "
                       "dropped; keeping its last %d tokens", len(ids), max_len, max_len)
        ids = ids[-max_len:]
    return ids


def _batch_size(n: int, cap: int) -> int:
    """Power-of-two batch size >= n (at most cap), to bound the number of compiled programs."""
    return min(cap, 1 << max(0, (n - 1).bit_length()))


class ModelSampler:
    """Samples responses to token prompts with the model: `(prompts, key) -> [(ids, logprobs)]`.

    Prompts are left-padded to a bucketed length and the batch is filled up to a power of two
    (filler rows repeat the first prompt and are discarded), so few programs are compiled.
    Generation stops at "</action>" or EOS; the stop token is part of the response.
    With parameters on a device mesh (`sharding.param_shardings`), a batch whose rows divide
    evenly over the mesh's data x fsdp devices is split over them (otherwise it is replicated and
    the compiler follows the parameters' sharding); the sampled tokens are the same either way.
    """

    def __init__(self, params, cfg: ModelConfig, tokenizer, config: RolloutConfig = RolloutConfig(),
                 max_batch: int | None = None):
        self.params, self.cfg, self.config, self.max_batch = params, cfg, config, max_batch
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.eos = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
        self.stop = [tokenizer(STOP_TEXT, add_special_tokens=False)["input_ids"]]
        sharding = getattr(jax.tree.leaves(params)[0], "sharding", None)
        self.mesh = sharding.mesh if isinstance(sharding, jax.sharding.NamedSharding) else None

    def _place(self, rows: np.ndarray):
        """int [B, P] prompt rows, split over data x fsdp on a mesh when B divides evenly."""
        from prism_jax.sharding import BATCH_AXES, batch_sharding

        if self.mesh is None or any(a not in self.mesh.shape for a in BATCH_AXES):
            return rows
        shards = int(np.prod([self.mesh.shape[a] for a in BATCH_AXES]))
        if shards == 1 or len(rows) % shards:
            return rows
        return jax.device_put(rows, batch_sharding(self.mesh, rows.ndim))

    def __call__(self, prompts: list[np.ndarray], key) -> list[tuple[np.ndarray, np.ndarray]]:
        width = _batch_size(len(prompts), self.max_batch or len(prompts))
        rows = list(prompts) + [prompts[0]] * (width - len(prompts))
        ids, mask = left_pad(rows, self.pad, length=bucket(max(map(len, rows)), self.config.bucket))
        ids, mask = self._place(ids), self._place(mask)
        out = generate(self.params, self.cfg, ids, mask, max_new_tokens=self.config.max_new_tokens,
                       temperature=self.config.temperature, top_p=self.config.top_p,
                       eos_ids=self.eos, stop_sequences=self.stop, pad_id=self.pad, seed=key)
        return [(out.tokens[i, :out.lengths[i]].astype(np.int32),
                 out.logprobs[i, :out.lengths[i]].astype(np.float32)) for i in range(len(prompts))]


def rollout(sampler, tokenizer, vec_env, task_ids: list[str], *,
            config: RolloutConfig = RolloutConfig(), groups: list[int] | None = None,
            seed: int = 0, env_seeds: list[int] | None = None, progress: bool = True) -> list[Episode]:
    """Play one episode per env of `vec_env` (n = len(task_ids)).

    Args:
      sampler: `(prompts: list of int32 [P_i], key) -> [(response ids int32 [R_i], log-probs
        float32 [R_i])]`, e.g. a `ModelSampler`.
      vec_env: `reset(task_ids, seeds) -> (obs, infos)`, `step(actions) -> (obs, rewards,
        terminated, truncated, infos)`; an env whose episode ended must ignore later actions.
      task_ids: one task per env.
      groups: rollout group of each env (default: its index), copied into the episodes.
      seed: sampling seed; step t samples with the key fold_in(key(seed), t).
    Returns:
      one `Episode` per env, in env order.
    """
    n = len(task_ids)
    groups = list(range(n)) if groups is None else list(groups)
    if len(groups) != n:
        raise ValueError(f"{len(groups)} groups for {n} tasks")
    obs, infos = vec_env.reset(list(task_ids), env_seeds)
    episodes = []
    for k, (o, info) in enumerate(zip(obs, infos)):
        conv = Conversation(config.env, info["task"], o, info["admissible_commands"],
                            think=config.think)
        episodes.append(Episode(str(task_ids[k]), groups[k], info.get("task_type", ""),
                                conversation=conv))
    current_obs = list(obs)
    running = list(range(n))
    key = jax.random.key(seed)
    with tqdm(total=n, desc="rollout", disable=not progress, leave=False) as bar:
        for t in range(config.max_steps):
            if not running:
                break
            prompts = [fit_prompt(tokenizer, episodes[k].conversation.messages, config.max_prompt_len)
                       for k in running]
            samples = sampler(prompts, jax.random.fold_in(key, t))
            actions = [""] * n
            steps: dict[int, Step] = {}
            for prompt, (resp_ids, logprobs), k in zip(prompts, samples, running):
                text = tokenizer.decode(resp_ids, skip_special_tokens=True)
                action, valid = parse_action(text, require_think=config.think)
                # verl-agent hands the env the raw text of an unparsable response (ALFWorld
                # answers it with "Nothing happens.").
                actions[k] = action if valid else text
                steps[k] = Step(prompt, resp_ids, logprobs, text, action, current_obs[k],
                                invalid=not valid)
            obs, rewards, terminated, truncated, infos = vec_env.step(actions)
            still = []
            for k in running:
                ep, step = episodes[k], steps[k]
                done = bool(terminated[k] or truncated[k]) or t + 1 == config.max_steps
                step.reward, step.done = float(rewards[k]), done
                ep.steps.append(step)
                ep.total_reward += step.reward
                ep.conversation.add_step(step.response, obs[k], infos[k]["admissible_commands"])
                current_obs[k] = obs[k]
                if done:
                    ep.success = bool(infos[k].get("won", False))
                    bar.update(1)
                else:
                    still.append(k)
            running = still
    return episodes


def episode_stats(episodes: list[Episode]) -> dict[str, float]:
    """Success rate, mean episode reward, invalid-action rate, mean response tokens, steps."""
    steps = [s for e in episodes for s in e.steps]
    return {
        "success_rate": float(np.mean([e.success for e in episodes])) if episodes else float("nan"),
        "mean_reward": float(np.mean([e.total_reward for e in episodes])) if episodes else float("nan"),
        "invalid_rate": float(np.mean([s.invalid for s in steps])) if steps else float("nan"),
        "response_length": float(np.mean([len(s.response_ids) for s in steps])) if steps else float("nan"),
        "episode_steps": float(np.mean([e.n_steps for e in episodes])) if episodes else float("nan"),
    }
