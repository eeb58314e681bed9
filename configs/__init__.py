"""Named pipeline configurations (`prism pipeline --config NAME`).

demo        `make demo`: WebShop, a tiny word-level model trained from scratch, base vs PRISM (Gini)
            vs Random with held-out intervals and PRISM's analyses in about 15 minutes on 2 CPU
            cores; its simplifications are listed in its caption (printed under the table).

tiny-*      the embedded defaults: a tiny Qwen3-architecture model built on the generated data,
            given partial competence by a short SFT warm-up on disjoint simple tasks; sized to run
            on a 2-core CPU.
qwen3-8b-*, llama3.1-8b-*
            the paper's settings (appendix C) for users with the real checkpoints and GPUs; point
            `--model.path` at the Hugging Face directory. Their mesh/remat settings are the ones the
            ahead-of-time memory report (`prism memory`) found to fit 8 x 80 GB.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from prism_jax.evaluate import EvalSettings
from prism_jax.models.builder import TinySpec
from prism_jax.grpo import GRPOHparams
from prism_jax.pipeline import DataSource, ModelSource, PipelineConfig, PreTrain, WarmUp
from prism_jax.sft import SFTHparams

# Every method of the paper's Tables 1-4 and Figures 3-4.
ALL_METHODS = ("base", "sft", "grpo", "gigpo", "random", "hpt", "sft_then_rl", "prism:gini",
               "prism:kurtosis", "prism:cv", "inverse:gini", "inverse:kurtosis", "inverse:cv",
               "magnitude", "prism:cv@0.1", "prism:cv@0.3", "prism:cv@0.7", "prism:cv@0.9")

_SFT = SFTHparams()
_GRPO = GRPOHparams()


# Small enough that the whole PRISM-vs-Random comparison runs in minutes on 2 CPU cores.
TINY = TinySpec(vocab_size=1024, hidden_size=96, intermediate_size=256, num_layers=3, num_heads=4,
                num_kv_heads=2, head_dim=24)


def tiny_alfworld() -> PipelineConfig:
    """Embedded ALFWorld default: PRISM (Gini) vs Random on a tiny model, minutes on 2 CPU cores."""
    return PipelineConfig(
        name="tiny-alfworld", env="alfworld",
        model=ModelSource(tiny=TINY),
        data=DataSource(n=32, seed=0),
        warmup=WarmUp(n=12, task_types=("pick_and_place_simple", "look_at_obj_in_light"),
                      seed=1000, epochs=6, lr=3e-3),
        methods=("prism:gini", "random"), seeds=(0,), max_len=2048, probe_batch_size=8,
        rl_epochs=0.5,
        sft=dataclasses.replace(_SFT, lr=1e-3, epochs=2, batch_size=4, accum_steps=1, bucket=512,
                                save_every=50, per_step=True),
        # answers reason in <think> first (verl-agent's prompt): ~21 tokens, 28 at most
        grpo=dataclasses.replace(_GRPO, lr=2e-5, group_size=4, tasks_per_iter=2, max_steps=10,
                                 max_new_tokens=32, mini_batch=0, micro_batch=16, bucket=256,
                                 save_every=2),
        eval=EvalSettings(n=6, batch_size=6, max_steps=10, max_new_tokens=32, temperature=0.4),
    )


def tiny_webshop() -> PipelineConfig:
    """Embedded WebShop default: PRISM (Gini) vs Random on a tiny model."""
    return PipelineConfig(
        name="tiny-webshop", env="webshop",
        model=ModelSource(tiny=TINY),
        data=DataSource(n=32, seed=0, webshop_products=1000),
        warmup=WarmUp(n=12, seed=1000, epochs=6, lr=3e-3),
        methods=("prism:gini", "random"), seeds=(0,), max_len=4096, probe_batch_size=8,
        rl_epochs=0.5,
        sft=dataclasses.replace(_SFT, lr=1e-3, epochs=2, batch_size=4, accum_steps=1, bucket=512,
                                max_len=4096, save_every=50, per_step=True),
        # the expert's answers with their <think> reason: ~36 tokens, 63 at most
        grpo=dataclasses.replace(_GRPO, lr=2e-5, group_size=4, tasks_per_iter=2, max_steps=8,
                                 max_new_tokens=64, mini_batch=0, micro_batch=16, bucket=256,
                                 save_every=2),
        eval=EvalSettings(n=12, batch_size=12, max_steps=8, max_new_tokens=64, temperature=0.4),
    )


# The demo's model: a word-level vocabulary makes copying a word of the instruction, a product id
# or an option from the page a one-token copy, the skill a model trained from scratch for minutes
# lacks most (with byte-level BPE it learned the buy and navigation clicks but no query or id).
DEMO_MODEL = TinySpec(vocab_size=8192, hidden_size=128, intermediate_size=384, num_layers=2,
                      num_heads=4, num_kv_heads=2, head_dim=32, tokenizer="word")

# Formatted with the run's config (`cfg`) when the analyses are written, so overrides show.
DEMO_CAPTION = (
    "Held-out: WebShop test goals (never trained on; training uses train goals, the RL tasks "
    "are the RL split's train goals). Simplifications for a 15-minute CPU run: a "
    "{cfg.model.tiny.num_layers}-layer d={cfg.model.tiny.hidden_size} model trained from scratch "
    "with a word-level vocabulary (the catalog's words and product ids; a product id is two "
    "pieces, ' b0' and the rest); the base is that model after {cfg.pretrain.steps} steps of "
    "copy pre-training on windows of the train prompts shown twice (never an answer), so it can "
    "copy but knows nothing of the task; SFT mixes in {cfg.pretrain.replay} more such windows; "
    "the expert's first query is the instruction verbatim; actions are decoded "
    "({cfg.grpo.actions}) only among the page's admissible clicks, and a search query only "
    "from the instruction's words, none more often than the instruction has it (constrained "
    "decoding, in RL and evaluation; the paper's agent writes its actions freely); no <think> "
    "reasoning in the prompt or answers; the prompt shows {cfg.grpo.history} past steps "
    "(verl-agent: 2); {cfg.data.n} train trajectories, the probe reading the first "
    "{cfg.max_len} tokens of each; SFT {cfg.sft.epochs} epoch at lr {cfg.sft.lr}; {cfg.eval.n} "
    "test goals, {cfg.eval.max_steps} steps per episode; seeds {cfg.seeds}; GRPO for "
    "{cfg.rl_epochs} passes over the RL tasks ({cfg.grpo.tasks_per_iter} tasks x "
    "{cfg.grpo.group_size} rollouts per iteration). 95% intervals: normal approximation over "
    "episodes (score), Wilson (SR).")


def demo() -> PipelineConfig:
    """`make demo`: PRISM (Gini) vs Random vs the base model on WebShop, held-out goals, within
    about 15 minutes on 2 CPU cores; every simplification is in the caption."""
    return PipelineConfig(
        name="demo", env="webshop",
        model=ModelSource(tiny=DEMO_MODEL),
        data=DataSource(n=600, seed=0, webshop_products=1000, webshop_query="instruction"),
        # fixed-length copies at a fixed distance: on the demo's data they gave the SFT'd model
        # more than windows of varying length and gap did (held-out score 15.8 vs 0.0)
        pretrain=PreTrain(steps=150, batch_size=32, words=40, min_words=40, gap=0, lr=2e-3,
                          replay=1200),
        methods=("base", "prism:gini", "random"), seeds=(0,), max_len=768, probe_batch_size=16,
        rl_epochs=0.025,
        sft=dataclasses.replace(_SFT, lr=2e-3, epochs=1, warmup_ratio=0.05, batch_size=8,
                                accum_steps=1, bucket=128, max_len=768, save_every=1000,
                                per_step=True),
        grpo=dataclasses.replace(_GRPO, lr=1e-4, group_size=4, tasks_per_iter=4, max_steps=10,
                                 max_new_tokens=64, mini_batch=0, micro_batch=16, bucket=128,
                                 save_every=1000, think=False, history=0, actions="extractive"),
        eval=EvalSettings(n=64, batch_size=64, max_steps=10, max_new_tokens=64, temperature=0.4,
                          max_prompt_len=768),
        caption=DEMO_CAPTION,
    )


def _paper(name: str, env: str, model_dir: str, arch: str, max_len: int, *, fsdp: int,
           sft_remat: str, grpo_remat: str, sft_micro: int = 4) -> PipelineConfig:
    """Appendix C: SFT lr 1e-5, 3 epochs, warm-up 0.1, batch 4 x 4 per device, bf16; GRPO without
    KL, group 8, lr 1e-6, 16 tasks per iteration, 50 / 15 steps; prompts 2048 / 4096; mean over 3
    seeds. verl-agent's prompt (2 past steps, reasoning in <think>) for data, RL and evaluation;
    ALFWorld is evaluated on every game of both splits (140 + 134 in ALFWorld's data). GRPO
    aggregates its loss as verl-agent's actor does (each micro-batch's token mean, averaged over
    the accumulation), with verl's dual-clip (c = 3). Both stages export final/ in bfloat16, as
    LLaMA-Factory and the Hugging Face checkpoints do (their masters stay float32). SFT trains
    per step: one example per agent step, exactly the prompt RL and evaluation show it (with
    the 2-step history a step's prompt is bounded, ~1k tokens on ALFWorld), the loss on that
    step's answer. `sft_micro` < 4 keeps the same 16 examples per device per optimizer step
    with smaller micro-batches and more accumulation (identical token-mean loss, less
    activation memory)."""
    return PipelineConfig(
        name=name, env=env,
        model=ModelSource(path=Path(model_dir), arch=arch, dtype="bfloat16"),
        data=DataSource(n=3553 if env == "alfworld" else 10000, seed=0),
        methods=ALL_METHODS, seeds=(0, 1, 2), max_len=max_len, probe_batch_size=8,
        rl_epochs=1.0,
        sft=dataclasses.replace(_SFT, lr=1e-5, epochs=3, warmup_ratio=0.1, batch_size=sft_micro,
                                accum_steps=16 // sft_micro, max_len=max_len, dtype="bfloat16",
                                export_dtype="bfloat16", remat=sft_remat, mesh_fsdp=fsdp,
                                per_step=True),
        grpo=dataclasses.replace(_GRPO, lr=1e-6, group_size=8, tasks_per_iter=16, kl_coef=0.0,
                                 max_steps=50 if env == "alfworld" else 15, max_prompt_len=max_len,
                                 max_new_tokens=512, temperature=1.0, dtype="bfloat16",
                                 export_dtype="bfloat16", remat=grpo_remat, micro_batch=16,
                                 loss_agg="micro-token-mean"),
        eval=EvalSettings(n="all" if env == "alfworld" else 500, batch_size=32, temperature=0.4,
                          max_new_tokens=512, max_prompt_len=max_len),
    )


def qwen3_8b_alfworld() -> PipelineConfig:
    return _paper("qwen3-8b-alfworld", "alfworld", "Qwen3-8B", "qwen3-8b", 2048, fsdp=8,
                  sft_remat="full", grpo_remat="full")


def qwen3_8b_webshop() -> PipelineConfig:
    # 4096 tokens: micro-batches of 2 (x 8 accumulation) so the SFT step fits 80 GB per device
    return _paper("qwen3-8b-webshop", "webshop", "Qwen3-8B", "qwen3-8b", 4096, fsdp=8,
                  sft_remat="full", grpo_remat="full", sft_micro=2)


def llama3_1_8b_webshop() -> PipelineConfig:
    return _paper("llama3.1-8b-webshop", "webshop", "Llama-3.1-8B-Instruct", "llama3.1-8b", 4096,
                  fsdp=8, sft_remat="full", grpo_remat="full", sft_micro=2)


PRESETS = {
    "demo": demo,
    "tiny-alfworld": tiny_alfworld,
    "tiny-webshop": tiny_webshop,
    "qwen3-8b-alfworld": qwen3_8b_alfworld,
    "qwen3-8b-webshop": qwen3_8b_webshop,
    "llama3.1-8b-webshop": llama3_1_8b_webshop,
}


def get_config(name: str) -> PipelineConfig:
    """A preset by name (unknown names list the valid ones)."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ValueError(f"unknown config {name!r}; presets: {', '.join(PRESETS)}") from None
