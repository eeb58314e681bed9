"""The `make demo` preset: one prompt for data, RL and evaluation, and a caption that names
every way it departs from the paper's setting."""

from __future__ import annotations

from prism_jax.configs import get_config
from prism_jax.envs.prompts import step_prompt
from prism_jax.evaluate import prompt_of
from prism_jax.pipeline import Run, eval_settings

TURNS = [{"observation": "Search", "admissible": ["search[<your query>]"],
          "response": "<action>search[black curtains]</action>"},
         {"observation": "'Back to Search' [SEP] 'B0UNGL8ZD8'", "admissible": ["click[b0ungl8zd8]"],
          "response": None}]


def test_demo_trains_and_evaluates_on_one_prompt(tmp_path):
    cfg = get_config("demo")
    settings = eval_settings(Run(tmp_path, cfg, ""), seed=0)
    assert (settings.think, settings.history, settings.prompt_style) == \
        (cfg.grpo.think, cfg.grpo.history, cfg.grpo.prompt_style) == (False, 0, "verl")
    [msg] = step_prompt("webshop", "i want black curtains", TURNS, prompt_of(settings))
    assert "B0UNGL8ZD8" in msg["content"] and "Prior to this step" not in msg["content"]
    assert "<think>" not in msg["content"]
    assert cfg.model.path is None and cfg.model.tiny.tokenizer == "word"
    assert "base" in cfg.methods and "random" in cfg.methods


def test_demo_caption_names_its_simplifications(tmp_path):
    import dataclasses
    cfg = get_config("demo")
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, n=123))  # an override shows
    caption = cfg.caption.format(cfg=cfg)
    for fact in ("123 train trajectories", f"{cfg.eval.n} test goals",
                 f"{cfg.eval.max_steps} steps per episode", "word-level", "from scratch",
                 "no <think>", "shows 0 past steps", f"first {cfg.max_len} tokens", "seeds (0,)",
                 "never trained on", "2-layer d=128", f"{cfg.pretrain.steps} steps of copy "
                 "pre-training", f"{cfg.pretrain.replay} more such windows",
                 "first query is the instruction verbatim",
                 "decoded (extractive) only among the page's admissible clicks",
                 "only from the instruction's words",
                 f"SFT {cfg.sft.epochs} epoch at lr {cfg.sft.lr}"):
        assert fact in caption, fact
    # what the caption says is what the preset runs
    assert cfg.data.webshop_query == "instruction"
    settings = eval_settings(Run(tmp_path, cfg, ""), seed=0)
    assert cfg.grpo.actions == settings.actions == "extractive"
    assert cfg.pretrain.steps > 0 and cfg.pretrain.replay > 0
