"""A model as a policy of the episode loop (`prism_jax.episodes.Policy`), for evaluation.

It renders each request's prompt with the tokenizer's chat template (``enable_thinking`` from
``think``, as rollouts and per-step SFT do), shortens over-long prompts the way rollouts do
(`prism_jax.rollout.fit_prompt`), and samples all of them in one batched call
(`prism_jax.rollout.ModelSampler`: bucketed prompt lengths, stop at "</action>" or EOS). Round
t of `play` samples with the key fold_in(key(seed), t), so an evaluation is reproducible.
"""

from __future__ import annotations

from prism_jax.models.config import ModelConfig
from prism_jax.rollout import ModelSampler, RolloutConfig, SamplerPolicy


class ModelPolicy(SamplerPolicy):
    """`policy(requests, key) -> replies` backed by `params`; temperature 0 decodes greedily."""

    def __init__(self, params, cfg: ModelConfig, tokenizer, *, max_new_tokens: int = 64,
                 temperature: float = 0.0, top_p: float = 1.0, max_prompt_len: int = 2048,
                 think: bool = True, bucket: int = 64, max_batch: int | None = None,
                 actions: str = "free"):
        sampler = ModelSampler(params, cfg, tokenizer, RolloutConfig(
            max_prompt_len=max_prompt_len, max_new_tokens=max_new_tokens, temperature=temperature,
            top_p=top_p, bucket=bucket, think=think, actions=actions), max_batch=max_batch)
        super().__init__(sampler, tokenizer, max_prompt_len=max_prompt_len, think=think,
                         actions=actions, max_new_tokens=max_new_tokens)
