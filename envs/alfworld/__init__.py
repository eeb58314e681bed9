"""ALFWorld on the real TextWorld engine: generated games, expert, gymnasium env, evaluation."""

from prism_jax.envs.alfworld.env import AlfworldEnv, task_type_of
from prism_jax.envs.alfworld.expert import ExpertError, expert_actions, expert_steps
from prism_jax.envs.alfworld.gamegen import SPLIT_SIZES, balanced, generate_games, list_games
from prism_jax.envs.alfworld.harness import evaluate, success_table
from prism_jax.envs.alfworld.rooms import SPLITS, TASK_TYPES
from prism_jax.envs.alfworld.vec import AlfworldVecEnv

__all__ = ["AlfworldEnv", "AlfworldVecEnv", "ExpertError", "SPLITS", "SPLIT_SIZES", "TASK_TYPES",
           "balanced", "evaluate", "expert_actions", "expert_steps", "generate_games",
           "list_games", "success_table", "task_type_of"]
