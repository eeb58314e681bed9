"""Group-relative advantages (prism_jax/advantages.py) vs hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from prism_jax.advantages import (compute_advantages, discounted_returns, group_normalize,
                                  informative_rows)


def test_grpo_all_equal_rewards_give_zero_advantage():
    adv = compute_advantages(group=[0, 0, 0, 1, 1], episode=[0, 1, 2, 3, 4],
                             episode_reward=[10, 10, 10, 0, 0], step_reward=[10, 10, 10, 0, 0],
                             invalid=[0] * 5)
    np.testing.assert_array_equal(adv, np.zeros(5))


def test_grpo_hand_computed():
    # group 0: episodes A (2 steps, won) and B (1 step, failed); group 1: a single episode.
    adv = compute_advantages(group=[0, 0, 0, 1], episode=[0, 0, 1, 2],
                             episode_reward=[10, 10, 0, 10], step_reward=[0, 10, 0, 10],
                             invalid=[0, 0, 0, 0], episode_stats="rollouts")
    # statistics over the two episodes of group 0: mean 5, unbiased std sqrt(50)
    a = 5 / (np.sqrt(50) + 1e-6)
    np.testing.assert_allclose(adv, [a, a, -a, 0.0], rtol=1e-12)


def test_invalid_penalty_is_taken_off_the_step():
    # every episode won: no relative signal except the invalid step's penalty
    adv = compute_advantages(group=[0, 0, 0], episode=[0, 0, 1], episode_reward=[10, 10, 10],
                             step_reward=[0, 10, 10], invalid=[0, 1, 0], episode_stats="rollouts")
    np.testing.assert_allclose(adv, [0.0, -0.1, 0.0])
    adv = compute_advantages(group=[0, 0, 0], episode=[0, 0, 1], episode_reward=[10, 10, 0],
                             step_reward=[0, 10, 0], invalid=[0, 1, 0], invalid_penalty=0.5,
                             episode_stats="rollouts")
    a = 5 / (np.sqrt(50) + 1e-6)
    np.testing.assert_allclose(adv, [a, a - 0.5, -a])


def test_steps_statistics_hand_computed():
    # verl-agent's default: every row scores R - 0.1 * invalid; mean and unbiased std over the
    # rows of the task group. Group 0: A won in 2 steps, B failed in 3 steps (its 2nd invalid).
    adv = compute_advantages(group=[0, 0, 0, 0, 0], episode=[0, 0, 1, 1, 1],
                             episode_reward=[10, 10, 0, 0, 0], step_reward=[0, 10, 0, 0, 0],
                             invalid=[0, 0, 0, 1, 0])
    scores = [10.0, 10.0, 0.0, -0.1, 0.0]
    mean = sum(scores) / 5                                              # 3.98
    std = (sum((x - mean) ** 2 for x in scores) / 4) ** 0.5
    expected = [(x - mean) / (std + 1e-6) for x in scores]
    np.testing.assert_allclose(adv, expected, rtol=1e-12)
    assert abs(sum(adv)) < 1e-9                     # a group's row advantages sum to zero
    # equal returns: only the invalid row differs, and nothing blows up (std comes from it)
    adv = compute_advantages(group=[0, 0, 0], episode=[0, 0, 1], episode_reward=[10, 10, 10],
                             step_reward=[0, 10, 10], invalid=[0, 1, 0])
    s = np.std([10, 9.9, 10], ddof=1)                                  # 0.0577
    np.testing.assert_allclose(adv, [(10 - 29.9 / 3) / (s + 1e-6), (9.9 - 29.9 / 3) / (s + 1e-6),
                                     (10 - 29.9 / 3) / (s + 1e-6)], rtol=1e-9)
    np.testing.assert_array_equal(
        compute_advantages(group=[0, 0], episode=[0, 1], episode_reward=[10, 10],
                           step_reward=[10, 10], invalid=[0, 0]), [0.0, 0.0])
    with pytest.raises(ValueError, match="unknown episode_stats"):
        compute_advantages(group=[0], episode=[0], episode_reward=[1], step_reward=[1],
                           invalid=[0], episode_stats="tokens")


def test_gigpo_with_steps_statistics():
    rows = dict(group=[0, 0, 0], episode=[0, 1, 1], episode_reward=[10, 0, 0],
                step_reward=[10, 0, 0], invalid=[0, 0, 0], anchor=["s0", "s0", "s1"])
    adv = compute_advantages(**rows, method="gigpo", norm="mean_norm", gamma=0.95)
    # A_E over rows, F = 1: scores 10, 0, 0 -> mean 10/3. A_S: anchor s0 holds returns 10 and
    # 0 * 0.95 + 0 = 0 -> +-5; s1 is a singleton -> 0.
    np.testing.assert_allclose(adv, [10 - 10 / 3 + 5, -10 / 3 - 5, -10 / 3], rtol=1e-12)


def test_discounted_returns_restart_per_episode():
    r = discounted_returns([0, 0, 10, 0, 10], [0, 0, 0, 1, 1], 0.95)
    np.testing.assert_allclose(r, [10 * 0.95 ** 2, 10 * 0.95, 10, 9.5, 10])


@pytest.mark.parametrize("norm", ["mean_norm", "mean_std_norm"])
def test_gigpo_hand_computed(norm):
    # Two episodes of one task from the same start state "s0".
    #   ep 0: s0 -> s1 (won at step 2), rewards 0, 10
    #   ep 1: s0 -> s2 (invalid) -> s1 -> failed, rewards 0, 0, 0
    rows = dict(group=[0, 0, 0, 0, 0], episode=[0, 0, 1, 1, 1],
                episode_reward=[10, 10, 0, 0, 0], step_reward=[0, 10, 0, 0, 0],
                invalid=[0, 0, 0, 1, 0], anchor=["s0", "s1", "s0", "s2", "s1"])
    adv = compute_advantages(**rows, method="gigpo", norm=norm, gamma=0.95, step_weight=1.0,
                             episode_stats="rollouts")
    f = (lambda v: np.std(v, ddof=1) + 1e-6) if norm == "mean_std_norm" else (lambda v: 1.0)
    returns = np.array([10, 0.0])  # one per episode
    a_e = (returns - returns.mean()) / f(returns)
    a_e = a_e[[0, 0, 1, 1, 1]] - np.array([0, 0, 0, 0.1, 0])
    # step returns: ep0 9.5, 10; ep1 0, 0 - 0.1, 0. Anchor groups: s0 {0, 2}, s1 {1, 4}, s2 {3}.
    s0, s1 = np.array([9.5, 0.0]), np.array([10.0, 0.0])
    a_s = np.array([(9.5 - s0.mean()) / f(s0), (10 - s1.mean()) / f(s1),
                    (0 - s0.mean()) / f(s0), 0.0, (0 - s1.mean()) / f(s1)])
    np.testing.assert_allclose(adv, a_e + a_s, rtol=1e-9)


def test_gigpo_anchor_groups_do_not_cross_tasks():
    # the same observation in two task groups: two singletons -> no step advantage
    adv = compute_advantages(group=[0, 1], episode=[0, 1], episode_reward=[10, 0],
                             step_reward=[10, 0], invalid=[0, 0], anchor=["s", "s"],
                             method="gigpo", norm="mean_norm")
    np.testing.assert_array_equal(adv, [0.0, 0.0])


def test_group_normalize_singletons_and_bad_method():
    np.testing.assert_array_equal(group_normalize([3.0, 5.0], ["a", "b"]), [0.0, 0.0])
    with pytest.raises(ValueError, match="unknown advantage method"):
        compute_advantages(group=[0], episode=[0], episode_reward=[1], step_reward=[1],
                           invalid=[0], method="ppo")


def test_group_filter_keeps_groups_with_different_returns():
    # group 0: both episodes won (equal returns) -> dropped; group 1: 10 vs 0 -> kept; group 2:
    # one episode only -> dropped; rows of a multi-step episode follow their episode.
    keep = informative_rows(group=[0, 0, 0, 1, 1, 1, 2], episode=[0, 0, 1, 2, 3, 3, 4],
                            episode_reward=[10, 10, 10, 10, 0, 0, 0])
    np.testing.assert_array_equal(keep, [0, 0, 0, 1, 1, 1, 0])
