"""Rollouts: recorded log-probs equal a full forward's, scripted ALFWorld episodes give the expected
records, over-long prompts are shortened."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from prism_jax.envs.alfworld import AlfworldVecEnv, expert_actions, generate_games
from prism_jax.envs.prompts import PromptConfig, format_response, shorter_prompts, step_prompt
from prism_jax.models import load_pretrained
from prism_jax.models.builder import TinySpec, build_tiny
from prism_jax.models.tokenizer import load_tokenizer, render_prompt_ids
from prism_jax.rollout import ModelSampler, RolloutConfig, episode_stats, fit_prompt, rollout

CORPUS = ["You arrive at countertop 1. On the countertop 1, you see a apple 1.",
          "<action>go to fridge 1</action>", "Your task is to: put a hot apple in fridge.",
          "Available actions: go to fridge 1, open fridge 1, take apple 1 from countertop 1"] * 20


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    spec = TinySpec(vocab_size=400, hidden_size=32, intermediate_size=64, num_layers=2,
                    num_heads=2, num_kv_heads=1, head_dim=16)
    out = build_tiny(tmp_path_factory.mktemp("tiny") / "m", CORPUS, spec, seed=1)
    return load_pretrained(out), load_tokenizer(out)


class ToyVecEnv:
    """n slots of a three-step text env: "go to fridge 1" wins, anything else is a no-op."""

    def __init__(self, n):
        self.n, self.t = n, [0] * n
        self.done = [False] * n

    def _info(self, won=False):
        return {"task": "put a hot apple in fridge", "admissible_commands": ["go to fridge 1"],
                "task_type": "toy", "won": won, "invalid": False}

    def reset(self, task_ids, seeds=None, indices=None):
        indices = range(self.n) if indices is None else indices
        for k in indices:
            self.t[k], self.done[k] = 0, False
        return [f"You are in room {k}." for k in indices], [self._info() for _ in indices]

    def step(self, actions, indices=None):
        out = ([], [], [], [], [])
        for k, a in zip(range(self.n) if indices is None else indices, actions):
            won = not self.done[k] and a == "go to fridge 1"
            self.t[k] += 0 if self.done[k] else 1
            term = self.done[k] or won or self.t[k] >= 3
            self.done[k] = term
            for col, v in zip(out, (f"step {self.t[k]}", 10.0 if won else 0.0, term, False,
                                    self._info(won))):
                col.append(v)
        return out


def test_recorded_logprobs_equal_a_full_forward(tiny):
    model, tok = tiny
    config = RolloutConfig(max_steps=3, max_new_tokens=6, temperature=1.0, bucket=256)
    sampler = ModelSampler(model.params(), model.config, tok, config)
    episodes = rollout(sampler, tok, ToyVecEnv(3), ["a", "b", "c"], config=config, seed=5,
                       progress=False)
    steps = [s for e in episodes for s in e.steps]
    assert len(steps) == 9 and all(len(s.response_ids) >= 1 for s in steps)
    for s in steps[::2]:
        ids = np.concatenate([s.prompt_ids, s.response_ids])[None]
        logp = np.asarray(jax.nn.log_softmax(model(ids), axis=-1))[0]
        p = len(s.prompt_ids)
        want = logp[np.arange(p - 1, ids.shape[1] - 1), s.response_ids]
        np.testing.assert_allclose(s.logprobs, want, atol=2e-4)
        assert tok.decode(s.response_ids, skip_special_tokens=True) == s.response
    # the first prompt is the chat template's rendering of verl-agent's first-step prompt
    turns = [{"observation": "You are in room 0.", "admissible": ["go to fridge 1"], "response": None}]
    want = tok.apply_chat_template(step_prompt("alfworld", "put a hot apple in fridge", turns,
                                               PromptConfig()),
                                   add_generation_prompt=True, return_dict=True)["input_ids"]
    np.testing.assert_array_equal(episodes[0].steps[0].prompt_ids, want)
    assert episodes[0].steps[0].prompt[0]["content"].startswith("You are an expert agent")


def test_fit_prompt_shortens_history_first(tiny):
    _, tok = tiny
    turns = [{"observation": f"observation {i}", "admissible": ["look"],
              "response": format_response(f"go to cabinet {i}")} for i in range(6)]
    turns[-1]["response"] = None
    config = PromptConfig(history=4)
    full = step_prompt("alfworld", "put a hot apple in fridge", turns, config)
    n_full = len(render_prompt_ids(tok, full))
    shorter = list(shorter_prompts("alfworld", "put a hot apple in fridge", turns, config))
    budget = len(render_prompt_ids(tok, shorter[1])) + 1   # fits with 2 past steps, not 3
    assert budget < n_full
    ids, shown = fit_prompt(tok, full, budget, shorter=iter(shorter))
    assert shown == shorter[1] and len(ids) <= budget
    text = tok.decode(ids)
    assert "put a hot apple in fridge" in text and "go to cabinet 4" in text
    assert "go to cabinet 2" not in text
    # nothing fits: the shortest prompt's last tokens are kept
    ids, shown = fit_prompt(tok, full, 20, shorter=iter(shorter))
    assert len(ids) == 20 and shown == shorter[-1]


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    return generate_games("train", 2, tmp_path_factory.mktemp("alf"), seed=0,
                          task_types=["pick_and_place_simple", "look_at_obj_in_light"],
                          progress=False)


def test_scripted_rollout_on_alfworld_games(tiny, games):
    _, tok = tiny
    plans = {str(g): expert_actions(g) for g in games}
    task_of = {}
    with AlfworldVecEnv(2, max_steps=20) as vec:
        _, infos = vec.reset([str(g) for g in games])
        for g, info in zip(games, infos):
            task_of[info["task"]] = str(g)

    def scripted(prompts, key):
        """Game 0 answers its first prompt with text that has no action, then follows its plan."""
        out = []
        for ids in prompts:
            text = tok.decode(ids)
            game = next(g for task, g in task_of.items() if f"Your task is to: {task}" in text)
            n_done = int(text.split("already taken ", 1)[1].split(" ")[0]) if "already" in text else 0
            if game == str(games[0]):
                response = "i am not sure" if n_done == 0 else format_response(plans[game][n_done - 1], "t")
            else:
                response = format_response(plans[game][n_done], "t")
            resp_ids = np.asarray(tok(response, add_special_tokens=False)["input_ids"], np.int32)
            out.append((resp_ids, np.full(len(resp_ids), -0.5, np.float32)))
        return out

    config = RolloutConfig(max_steps=20)
    with AlfworldVecEnv(2, max_steps=20) as vec:
        episodes = rollout(scripted, tok, vec, [str(g) for g in games], config=config,
                           groups=[7, 7], progress=False)
    a, b = episodes
    assert [e.group for e in episodes] == [7, 7]
    assert a.task_type == "pick_and_place_simple" and b.task_type == "look_at_obj_in_light"
    assert a.n_steps == len(plans[str(games[0])]) + 1 and b.n_steps == len(plans[str(games[1])])
    assert a.success and b.success and a.total_reward == b.total_reward == 10.0
    assert [s.invalid for s in a.steps] == [True] + [False] * (a.n_steps - 1)
    assert not any(s.invalid for s in b.steps)
    assert a.steps[0].action == "" and a.steps[1].observation == "Nothing happens."
    assert a.steps[0].observation.startswith("-= Welcome to TextWorld, ALFRED! =-")
    assert [s.action for s in b.steps] == plans[str(games[1])]
    for e in episodes:
        assert [s.done for s in e.steps] == [False] * (e.n_steps - 1) + [True]
        assert [s.reward for s in e.steps] == [0.0] * (e.n_steps - 1) + [10.0]
        for prev, s in zip(e.steps, e.steps[1:]):
            # verl-agent's prompt shows the pre-action observation and the action sent
            assert s.observation in tok.decode(s.prompt_ids)
            assert f"'{prev.action}']" in tok.decode(s.prompt_ids)
    stats = episode_stats(episodes)
    assert stats["success_rate"] == 1.0 and stats["mean_reward"] == 10.0
    assert stats["invalid_rate"] == pytest.approx(1 / (a.n_steps + b.n_steps))


class ChoiceVecEnv(ToyVecEnv):
    ADMISSIBLE = ["go to fridge 1", "open fridge 1", "take apple 1 from countertop 1", "look"]

    def _info(self, won=False):
        return {**super()._info(won), "admissible_commands": list(self.ADMISSIBLE)}


def test_admissible_actions_only_and_unconstrained_logprobs(tiny):
    """actions="admissible": every response is "<action>X</action>" for an admissible X (an
    untrained model writes free text otherwise), and its recorded log-probs are still the full
    forward's (what GRPO recomputes)."""
    model, tok = tiny
    config = RolloutConfig(max_steps=3, max_new_tokens=16, temperature=1.0, bucket=256,
                           think=False, actions="admissible")
    sampler = ModelSampler(model.params(), model.config, tok, config)
    episodes = rollout(sampler, tok, ChoiceVecEnv(4), list("abcd"), config=config, seed=2,
                       progress=False)
    steps = [s for e in episodes for s in e.steps]
    assert steps and all(s.response in [f"<action>{a}</action>" for a in ChoiceVecEnv.ADMISSIBLE]
                         for s in steps)
    assert not any(s.invalid or s.rejected for s in steps)
    for s in steps[:3]:
        ids = np.concatenate([s.prompt_ids, s.response_ids])[None]
        logp = np.asarray(jax.nn.log_softmax(model(ids), axis=-1))[0]
        p = len(s.prompt_ids)
        np.testing.assert_allclose(s.logprobs, logp[np.arange(p - 1, ids.shape[1] - 1),
                                                    s.response_ids], atol=2e-4)
    free = RolloutConfig(max_steps=3, max_new_tokens=16, temperature=1.0, bucket=256, think=False)
    played = rollout(ModelSampler(model.params(), model.config, tok, free), tok, ChoiceVecEnv(4),
                     list("abcd"), config=free, seed=2, progress=False)
    assert any(s.response not in [f"<action>{a}</action>" for a in ChoiceVecEnv.ADMISSIBLE]
               for e in played for s in e.steps)
    with pytest.raises(ValueError, match="think=False"):
        rollout(sampler, tok, ChoiceVecEnv(1), ["a"], config=RolloutConfig(actions="admissible"),
                progress=False)


class SearchVecEnv(ToyVecEnv):
    """A search box only, WebShop's placeholder among the admissible actions."""

    def _info(self, won=False):
        return {**super()._info(won), "task": "find a red apple and a red fridge",
                "admissible_commands": ["search[<your query>]"]}


def test_extractive_queries_use_only_the_task_words(tiny):
    """actions="extractive": a placeholder step's answer is spelled from the tokens of
    "<action>search[TASK]</action>", no token more often than it occurs there (the untrained
    model writes other words when free)."""
    from collections import Counter
    model, tok = tiny
    task = SearchVecEnv(1)._info()["task"]
    budget = Counter(tok(f"<action>search[{task}]</action>", add_special_tokens=False)["input_ids"])
    runs = {}
    for actions in ("extractive", "free"):
        config = RolloutConfig(max_steps=2, max_new_tokens=12, temperature=1.0, bucket=256,
                               think=False, actions=actions)
        sampler = ModelSampler(model.params(), model.config, tok, config)
        runs[actions] = [s for e in rollout(sampler, tok, SearchVecEnv(4), list("abcd"),
                                             config=config, seed=3, progress=False)
                         for s in e.steps]
    within = lambda s: not Counter(s.response_ids.tolist()) - budget
    assert runs["extractive"] and all(within(s) for s in runs["extractive"])
    assert not all(within(s) for s in runs["free"])


def test_constrained_actions_without_think_are_checked_up_front():
    from prism_jax.grpo import GRPOHparams
    with pytest.raises(ValueError, match="think=False"):
        GRPOHparams(actions="extractive")
    assert GRPOHparams(actions="extractive", think=False).actions == "extractive"
