"""Can the demo's model learn to copy from its prompt, and does our training step learn it as
transformers + torch does? Both train the same word-level tiny Qwen3 (the demo's shape, its
vocabulary the embedded WebShop catalog's pages, `stages.catalog_pages`) from the same initial
weights on the same batches, with the same AdamW, clipping and warm-up + cosine schedule, and
print their loss curves side by side and the probability each gives held-out copies.

Tasks (the loss on the copied tokens only):

* ``lookup``: 30 random catalog words with one product-id piece among them, then " b0": the
  next token is that piece. Half of the pieces are targets in training, the other half never
  are: a copy that works for any token gives the unseen half the same probability.
* ``induction``: 8-19 random catalog words shown twice: the second copy is predictable only by
  an induction head (find the previous occurrence of the current word, copy its successor).

    python bench/copy_learning.py [--task lookup|induction|both] [--steps 300] [--lr 2e-3]

Learning curves are not timings: they do not depend on the machine's load (the seconds printed
do). What it measured is in the README (demo section).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from common import add_thread_arg, apply_threads, load_line  # noqa: E402
from prism_jax import models  # noqa: E402
from prism_jax.configs import DEMO_MODEL, demo  # noqa: E402
from prism_jax.logprobs import token_logprobs  # noqa: E402
from prism_jax.models.builder import build_tiny  # noqa: E402
from prism_jax.models.config import ModelConfig  # noqa: E402
from prism_jax.models.tokenizer import load_tokenizer  # noqa: E402
from prism_jax.sft import SFTHparams  # noqa: E402
from prism_jax.sft_step import make_optimizer, make_train_step  # noqa: E402
from prism_jax.stages import catalog_pages  # noqa: E402

WIDTH = 48
EVERY = 50


def build_model(out: Path) -> Path:
    """The demo's tiny model on the text of the catalog's pages the demo's vocabulary covers."""
    return build_tiny(out, catalog_pages(demo()), DEMO_MODEL, seed=0, overwrite=True)


class Tasks:
    """Batches of one task: input ids, attention mask, loss mask, int32 [B, WIDTH]."""

    def __init__(self, path: Path, task: str):
        vocab = load_tokenizer(path).get_vocab()
        self.task = task
        self.words = np.array(sorted(i for t, i in vocab.items() if re.fullmatch(r" [a-z]+", t)))
        codes = np.array(sorted(i for t, i in vocab.items()
                                if re.fullmatch(r"[a-z0-9]{6,}", t) and re.search(r"\d", t)))
        self.trained, self.unseen = codes[::2], codes[1::2]
        self.marker = vocab[" b0"]

    def example(self, rng: np.random.Generator, codes: np.ndarray):
        if self.task == "lookup":
            seq = rng.choice(self.words, 30)
            seq[rng.integers(30)] = code = rng.choice(codes)
            seq = np.concatenate([seq, [self.marker, code]])
            return seq, [len(seq) - 1]
        n = int(rng.integers(8, 20))
        x = rng.choice(self.words, n)
        return np.concatenate([x, x]), list(range(n + 1, 2 * n))

    def batch(self, rng: np.random.Generator, n: int, codes: np.ndarray | None = None):
        codes = self.trained if codes is None else codes
        ids, att, loss = (np.zeros((n, WIDTH), np.int32) for _ in range(3))
        for b in range(n):
            seq, targets = self.example(rng, codes)
            ids[b, :len(seq)], att[b, :len(seq)], loss[b, targets] = seq, 1, 1
        return ids, att, loss


def held_out_p(logp: np.ndarray, loss: np.ndarray) -> float:
    """Median probability of the copied tokens; logp [B, T]: log p of token t given those before."""
    return float(np.median(np.exp(logp[loss > 0])))


def train_ours(path: Path, tasks: Tasks, steps: int, lr: float, batch: int, evals: dict):
    cfg = ModelConfig.from_pretrained(path)
    params = models.load(path, jnp.float32).params()
    opt = make_optimizer(SFTHparams(lr=lr, warmup_ratio=0.05), steps)
    state, step = opt.init(params), make_train_step(cfg, opt, accum_steps=1)
    score = jax.jit(lambda p, b: token_logprobs(p, cfg, b))
    rng, curve = np.random.default_rng(1), {}
    for s in range(steps):
        ids, att, loss = tasks.batch(rng, batch)
        params, state, m = step(params, state, {"input_ids": ids[None], "attention_mask": att[None],
                                                "loss_mask": loss[None]})
        if s % EVERY == 0 or s == steps - 1:
            curve[s] = float(m["loss"])
    final = {k: held_out_p(np.asarray(score(params, {"input_ids": ids, "attention_mask": att})), loss)
             for k, (ids, att, loss) in evals.items()}
    return curve, final


def train_torch(path: Path, tasks: Tasks, steps: int, lr: float, batch: int, evals: dict):
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=0.0)
    warm = math.ceil(0.05 * steps)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: s / warm if s < warm else 0.5 * (
        1 + math.cos(math.pi * (s - warm) / max(steps - warm, 1))))
    rng, curve = np.random.default_rng(1), {}

    def logits(ids, att):
        return model(input_ids=torch.tensor(ids, dtype=torch.long),
                     attention_mask=torch.tensor(att, dtype=torch.long)).logits[:, :-1]

    for s in range(steps):
        ids, att, loss = tasks.batch(rng, batch)
        labels = torch.tensor(ids[:, 1:], dtype=torch.long).masked_fill(
            torch.tensor(loss[:, 1:] == 0), -100)
        out = logits(ids, att)
        value = torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), labels.reshape(-1),
                                                  ignore_index=-100)
        opt.zero_grad()
        value.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if s % EVERY == 0 or s == steps - 1:
            curve[s] = value.item()
    final = {}
    with torch.no_grad():
        for k, (ids, att, loss) in evals.items():
            lp = torch.log_softmax(logits(ids, att), -1).gather(
                -1, torch.tensor(ids[:, 1:], dtype=torch.long)[..., None])[..., 0]
            final[k] = held_out_p(np.pad(lp.numpy(), ((0, 0), (1, 0))), loss)
    return curve, final


def run(path: Path, task: str, args) -> None:
    tasks = Tasks(path, task)
    ev = np.random.default_rng(9)
    evals = {"held-out sequences": tasks.batch(ev, 64)}
    if task == "lookup":
        evals["ids never a target"] = tasks.batch(ev, 64, tasks.unseen)
    ours, ours_p = train_ours(path, tasks, args.steps, args.lr, args.batch, evals)
    ref, ref_p = train_torch(path, tasks, args.steps, args.lr, args.batch, evals)
    print(f"\n{task}: {args.steps} steps of {args.batch} sequences, lr {args.lr}; loss on the "
          f"copied tokens (uniform guess: {math.log(len(tasks.words)):.2f})")
    print(f"{'step':>6} {'prism-jax':>10} {'torch':>10}")
    for s in ours:
        print(f"{s:6d} {ours[s]:10.3f} {ref[s]:10.3f}")
    gap = max(abs(ours[s] - ref[s]) for s in ours)
    print(f"largest loss difference {gap:.4f}")
    for k in evals:
        print(f"median p of the copied token, {k}: prism-jax {ours_p[k]:.4f}, torch {ref_p[k]:.4f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=("lookup", "induction", "both"), default="both",
                    help="which copy task (default both)")
    ap.add_argument("--steps", type=int, default=300, help="optimizer steps (default 300)")
    ap.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3, "
                    "the demo's)")
    ap.add_argument("--batch", type=int, default=32, help="sequences per step (default 32)")
    add_thread_arg(ap)
    args = ap.parse_args()
    apply_threads(args.threads)
    jax.config.update("jax_default_matmul_precision", "highest")
    print(load_line())
    with tempfile.TemporaryDirectory() as tmp:
        path = build_model(Path(tmp) / "model")
        for task in (("lookup", "induction") if args.task == "both" else (args.task,)):
            run(path, task, args)


if __name__ == "__main__":
    main()
