"""Rollouts of a model: its sampler as a policy of the one episode loop (`prism_jax.episodes`).

Each step's prompt (verl-agent's template by default, `prism_jax.envs.prompts`) is rendered
with the tokenizer's chat template (``enable_thinking`` set from the prompt's ``think``, so
Qwen3's templates render the same prompt here as in per-step SFT), shortened to the prompt
budget when needed (fewer past steps; then its leading tokens are cut, with a warning),
left-padded to a bucketed length and sampled in one jitted call of `prism_jax.sampler.generate`
(stop at "</action>" or EOS). The batch size is rounded up to a power of two so that only a
handful of programs are compiled.

Each step keeps what GRPO/GiGPO need: prompt and response token ids, the response tokens'
sampled log-probs (temperature 1, the policy's own), reward, the invalid flag and the
observation the action answered (GiGPO's anchor state).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

import jax
import numpy as np

from prism_jax.envs.prompts import PromptConfig
from prism_jax.episodes import Episode, Reply, Request, Step, episode_stats, play
from prism_jax.models.config import ModelConfig
from prism_jax.models.tokenizer import render_prompt_ids
from prism_jax.sampler import bucket, generate, left_pad
from prism_jax.sharding import BATCH_AXES, batch_sharding

logger = logging.getLogger(__name__)

STOP_TEXT = "</action>"

__all__ = ["Episode", "ModelSampler", "RolloutConfig", "SamplerPolicy", "Step", "episode_stats",
           "fit_prompt", "rollout"]


# How an action is decoded (SamplerPolicy): the one list the configs' `actions` fields take.
Actions = Literal["free", "admissible", "extractive"]
ACTIONS = get_args(Actions)


@dataclass(frozen=True)
class RolloutConfig:
    """Sampling, prompt and episode settings of a rollout."""

    env: str = "alfworld"           # "alfworld" | "webshop"
    max_steps: int = 50             # environment steps per episode (paper: 50 ALFWorld, 15 WebShop)
    max_prompt_len: int = 2048      # prompt budget in tokens (paper: 2048 ALFWorld, 4096 WebShop)
    max_new_tokens: int = 64        # response length cap per step
    temperature: float = 1.0        # 0 = greedy
    top_p: float = 1.0
    bucket: int = 64                # prompt lengths are padded up to a multiple of this
    think: bool = True              # ask for <think></think> before the action (and require it)
    history: int = 2                # verl prompt: past steps shown
    prompt_style: str = "verl"      # "verl" (verl-agent's template) | "chat" (multi-turn chat)
    actions: Actions = "free"       # "free" | "admissible" | "extractive" (SamplerPolicy)

    @property
    def prompt(self) -> PromptConfig:
        return PromptConfig(style=self.prompt_style, history=self.history, think=self.think)


def fit_prompt(tokenizer, messages: list[dict], max_len: int, *, enable_thinking: bool | None = None,
               shorter: Iterable[list[dict]] = ()) -> tuple[np.ndarray, list[dict]]:
    """Prompt ids int32 [<= max_len] for the next assistant turn, and the messages rendered.

    An over-long prompt is replaced by the first of ``shorter`` that fits (fewer past steps or
    exchanges, `prism_jax.envs.prompts.shorter_prompts`); if none does, the shortest one's
    leading tokens are cut (logged: the budget is too small for one step).
    """
    ids = render_prompt_ids(tokenizer, messages, enable_thinking=enable_thinking)
    for alternative in shorter:
        if len(ids) <= max_len:
            break
        messages = alternative
        ids = render_prompt_ids(tokenizer, messages, enable_thinking=enable_thinking)
    if len(ids) > max_len:
        logger.warning("prompt of %d tokens exceeds the budget of %d even with the history "
                       "shortened; keeping its last %d tokens", len(ids), max_len, max_len)
        ids = ids[-max_len:]
    return ids, messages


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
        if self.mesh is None or any(a not in self.mesh.shape for a in BATCH_AXES):
            return rows
        shards = int(np.prod([self.mesh.shape[a] for a in BATCH_AXES]))
        if shards == 1 or len(rows) % shards:
            return rows
        return jax.device_put(rows, batch_sharding(self.mesh, rows.ndim))

    def __call__(self, prompts: list[np.ndarray], key, choices=None, vocab=None
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
        """`choices` / `vocab`: per prompt, the token sequences it may answer with / the tokens
        it may use (`sampler.generate`)."""
        width = _batch_size(len(prompts), self.max_batch or len(prompts))
        rows = list(prompts) + [prompts[0]] * (width - len(prompts))
        if choices is not None:
            choices = list(choices) + [[]] * (width - len(prompts))
        if vocab is not None:
            vocab = list(vocab) + [[]] * (width - len(prompts))
        ids, mask = left_pad(rows, self.pad, length=bucket(max(map(len, rows)), self.config.bucket))
        ids, mask = self._place(ids), self._place(mask)
        out = generate(self.params, self.cfg, ids, mask, max_new_tokens=self.config.max_new_tokens,
                       temperature=self.config.temperature, top_p=self.config.top_p,
                       eos_ids=self.eos, stop_sequences=self.stop, pad_id=self.pad, seed=key,
                       choices=choices, vocab=vocab)
        return [(out.tokens[i, :out.lengths[i]].astype(np.int32),
                 out.logprobs[i, :out.lengths[i]].astype(np.float32)) for i in range(len(prompts))]


def action_choices(tokenizer, admissible: Iterable[str], max_tokens: int) -> list[np.ndarray]:
    """The responses an agent restricted to the admissible actions may give: the tokens of
    "<action>X</action>" for each admissible X (the format without <think>), those longer than
    `max_tokens` left out. Empty when the list is empty or holds a placeholder such as
    WebShop's ``search[<your query>]`` (the step is then decoded freely)."""
    admissible = list(admissible)
    if not admissible or any("<" in a for a in admissible):
        return []
    texts = [f"<action>{a}</action>" for a in dict.fromkeys(admissible)]
    seqs = tokenizer(texts, add_special_tokens=False)["input_ids"]     # one batched call
    return [np.asarray(s, np.int32) for s in seqs if len(s) <= max_tokens]


def query_tokens(tokenizer, task: str, admissible: Iterable[str]) -> list[int]:
    """The multiset of tokens an answer to a step with a placeholder action (WebShop's
    ``search[<your query>]``) may use when its argument is spelled from the task's words: the
    tokens of "<action>P[TASK]</action>" (the task in place of the placeholder), each as often
    as it occurs there, for the step's placeholder actions and its other admissible actions
    (the most uses any of them has). No EOS: the answer ends with its "</action>"."""
    uses: dict[int, int] = {}
    for a in admissible:
        text = re.sub(r"<[^<>]*>", lambda _: task, a)
        ids = tokenizer(f"<action>{text}</action>", add_special_tokens=False)["input_ids"]
        for i, n in zip(*np.unique(np.asarray(ids, np.int64), return_counts=True)):
            uses[int(i)] = max(uses.get(int(i), 0), int(n))
    return [i for i, n in sorted(uses.items()) for _ in range(n)]


class SamplerPolicy:
    """A `prism_jax.episodes.Policy` backed by a sampler ``(prompts, key) -> [(ids, logprobs)]``
    (e.g. `ModelSampler`): renders and fits each request's prompt, samples all of them in one
    call and decodes the responses.

    ``actions``: "free" (the model writes its action); "admissible": each answer is one of the
    step's admissible actions (`action_choices`, the sampler's ``choices``), a step with a
    placeholder (WebShop's search box) stays free; "extractive": as admissible, and a
    placeholder step's answer uses only the tokens of the task's words and the action format
    (`query_tokens`, the sampler's ``vocab``: a search query spelled from the instruction).
    Both need the prompt without <think>."""

    def __init__(self, sampler, tokenizer, *, max_prompt_len: int, think: bool,
                 actions: str = "free", max_new_tokens: int = 64):
        if actions not in ACTIONS:
            raise ValueError(f"actions must be one of {', '.join(ACTIONS)}, got {actions!r}")
        if actions != "free" and think:
            raise ValueError(f"actions={actions!r} decodes '<action>X</action>' only: it needs "
                             "think=False")
        self.sampler, self.tokenizer = sampler, tokenizer
        self.max_prompt_len, self.think = max_prompt_len, think
        self.actions, self.max_new_tokens = actions, max_new_tokens

    def __call__(self, requests: list[Request], key) -> list[Reply]:
        if not requests:
            return []
        fitted = [fit_prompt(self.tokenizer, r.messages, self.max_prompt_len,
                             enable_thinking=self.think, shorter=r.shorter()) for r in requests]
        if self.actions != "free":
            admissible = [list(r.info.get("admissible_commands", ())) for r in requests]
            choices = [action_choices(self.tokenizer, a, self.max_new_tokens) for a in admissible]
            kwargs = {"choices": choices}
            if self.actions == "extractive":
                kwargs["vocab"] = [query_tokens(self.tokenizer, r.task, a)
                                   if a and not c else [] for r, a, c in
                                   zip(requests, admissible, choices)]
            samples = self.sampler([ids for ids, _ in fitted], key, **kwargs)
        else:
            samples = self.sampler([ids for ids, _ in fitted], key)
        return [Reply(self.tokenizer.decode(resp, skip_special_tokens=True), ids, resp, logp,
                      messages=shown if shown is not r.messages else None)
                for (ids, shown), (resp, logp), r in zip(fitted, samples, requests)]


def rollout(sampler, tokenizer, vec_env, task_ids: list[str], *,
            config: RolloutConfig = RolloutConfig(), groups: list[int] | None = None,
            seed: int = 0, env_seeds: list[int] | None = None, progress: bool = True) -> list[Episode]:
    """Play one episode per task with the model behind ``sampler`` (`prism_jax.episodes.play`).

    Args:
      sampler: `(prompts: list of int32 [P_i], key) -> [(response ids int32 [R_i], log-probs
        float32 [R_i])]`, e.g. a `ModelSampler`.
      vec_env: the env slots (`prism_jax.envs.registry.make_vec`); tasks beyond its size wait
        for a free slot.
      groups: rollout group of each task (default: its index), copied into the episodes.
      seed: sampling seed; round t samples with the key fold_in(key(seed), t).
    Returns:
      one `Episode` per task, in task order.
    """
    policy = SamplerPolicy(sampler, tokenizer, max_prompt_len=config.max_prompt_len,
                           think=config.think, actions=config.actions,
                           max_new_tokens=config.max_new_tokens)
    return play(policy, vec_env, task_ids, env=config.env, prompt=config.prompt,
                max_steps=config.max_steps, groups=groups, env_seeds=env_seeds, seed=seed,
                progress=progress, desc="rollout")
