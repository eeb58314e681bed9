"""A one-step bandit over responses for deciding, with statistics, whether GRPO learns.

Each task is a fixed prompt; the policy answers with a few sampled tokens and earns the
success reward (+10, the paper's) when its first token is one of `TARGETS`. A freshly
initialised tiny decoder is nearly uniform over the vocabulary, so it starts at a success rate
of about len(TARGETS) / vocab. One iteration is the trainer's own path: the jitted sampler
(`sampler.generate`, temperature 1) plays `group_size` rollouts of every task, the rows get
`compute_advantages` (GRPO, verl-agent's step statistics), and `Updater` takes the clipped,
token-mean policy update with AdamW.

Success is measured before and after on `eval_samples` fresh samples with fixed keys, so the
gain comes with its standard error: two-proportion z = (p1 - p0) / sqrt(p0 q0 / n + p1 q1 / n).
Running the same loop with the advantages negated is the control: it must push success down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import jax
import numpy as np

from prism_jax.advantages import compute_advantages
from prism_jax.grpo import GRPOConfig
from prism_jax.updater import Updater
from prism_jax.models import ModelConfig, init_params
from prism_jax.rollout import Step
from prism_jax.sampler import generate, left_pad

VOCAB = 64
PAD, EOS = 0, 1
TARGETS = np.arange(2, 10)          # 8 of 64 tokens: a uniform policy succeeds 1 time in 8
CFG = ModelConfig(model_type="qwen3", vocab_size=VOCAB, hidden_size=64, intermediate_size=128,
                  num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16, qk_norm=True,
                  tie_word_embeddings=False, eos_token_id=EOS, pad_token_id=PAD)


@dataclass(frozen=True)
class BanditResult:
    before: float           # success rate on eval_samples samples before training
    after: float            # ... and after
    n: int                  # samples behind each rate
    curve: tuple            # the rollouts' success rate at every iteration

    @property
    def gain(self) -> float:
        return self.after - self.before

    @property
    def z(self) -> float:
        """The gain in standard errors (two independent proportions of n samples each)."""
        var = (self.before * (1 - self.before) + self.after * (1 - self.after)) / self.n
        return self.gain / math.sqrt(max(var, 1e-12))


def _prompts(n_tasks: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng([seed, 7])
    return [rng.integers(TARGETS.max() + 1, VOCAB, 8).tolist() for _ in range(n_tasks)]


def _sample(params, prompts, repeats: int, key, new_tokens: int):
    rows = [p for p in prompts for _ in range(repeats)]
    ids, mask = left_pad(rows, PAD, multiple=16)
    out = generate(params, CFG, ids, mask, max_new_tokens=new_tokens, temperature=1.0,
                   eos_ids=[EOS], pad_id=PAD, seed=key)
    wins = np.isin(out.tokens[:, 0], TARGETS)
    return rows, out, wins


def success_rate(params, prompts, samples: int, seed: int) -> float:
    """Share of `samples` fresh samples per task (fixed key) whose first token is a target."""
    _, _, wins = _sample(params, prompts, samples // len(prompts), jax.random.key(seed), 2)
    return float(wins.mean())


def run_bandit(seed: int, *, iterations: int = 8, n_tasks: int = 4, group_size: int = 32,
               lr: float = 3e-3, eval_samples: int = 1024, negate: bool = False,
               new_tokens: int = 2) -> BanditResult:
    """Train a fresh tiny decoder (init seed `seed`) for `iterations` GRPO iterations."""
    params = init_params(CFG, jax.random.key(seed))
    prompts = _prompts(n_tasks, seed)
    config = GRPOConfig(model=Path("-"), tasks=Path("-"), out=Path("-"), lr=lr,
                        group_size=group_size, mini_batch=n_tasks * group_size // 2,
                        micro_batch=n_tasks * group_size // 2, bucket=16, temperature=1.0)
    updater = Updater(CFG, config, PAD)
    opt_state = updater.init(params)
    before = success_rate(params, prompts, eval_samples, seed=10_000 + seed)
    curve = []
    for it in range(iterations):
        rows, out, wins = _sample(params, prompts, group_size,
                                  jax.random.fold_in(jax.random.key(seed), it), new_tokens)
        steps = [Step(np.asarray(p, np.int32), out.tokens[i, :out.lengths[i]],
                      out.logprobs[i, :out.lengths[i]], "", "", "")
                 for i, p in enumerate(rows)]
        reward = 10.0 * wins
        adv = compute_advantages(group=np.repeat(np.arange(n_tasks), group_size),
                                 episode=np.arange(len(rows)), episode_reward=reward,
                                 step_reward=reward, invalid=np.zeros(len(rows)))
        if negate:
            adv = -adv
        params, opt_state, _ = updater(params, opt_state, steps, adv.astype(np.float32),
                                       np.random.default_rng([seed, it]))
        curve.append(float(wins.mean()))
    after = success_rate(params, prompts, eval_samples, seed=10_000 + seed)
    return BanditResult(before, after, eval_samples, tuple(curve))
