"""GRPO on a device mesh (8 simulated CPU devices, as tests/test_sharding.py does).

The main pytest process has one device, so the checks run in a subprocess: this file run as a
script with XLA_FLAGS=--xla_force_host_platform_device_count=8 (`python test_grpo_mesh.py update`
or `... train ROOT`), printing its results as JSON on its last line.

* A policy update (two mini-batches, one of them accumulated over two micro-batches, KL to a
  sharded reference, behaviour log-probs recomputed at temperature 0.9) on data=2 x fsdp=2 x
  tensor=2 and on fsdp=8 equals the single-device update; parameters, gradients and both AdamW
  moments carry the rule shardings.
* Rollout sampling on the sharded weights gives the single-device tokens.
* A run checkpoint restored onto sharded targets comes back sharded (also onto another mesh).
* A tiny `train_grpo` on 2 ALFWorld games on an fsdp=4 x tensor=2 mesh runs, is resumed from its
  checkpoint on the mesh, and writes final/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

MESHES = {"data2_fsdp2_tensor2": (2, 2, 2), "fsdp8": (1, 8, 1)}


def _run_here(*args: str) -> dict:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8",
           "JAX_PLATFORMS": "cpu"}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def results():
    return _run_here("update")


@pytest.mark.multidevice
@pytest.mark.parametrize("mesh", list(MESHES))
def test_sharded_update_equals_single_device(results, mesh):
    assert results["devices"] == 8
    r = results[mesh]
    assert r["moved"] > 1e-3                       # two AdamW steps at lr 1e-3 really moved them
    assert r["grad_rel_diff"] < 1e-5               # one micro-batch's gradient, every leaf
    assert r["param_rel_diff"] < 1e-5              # all parameters after the update
    # The update itself (p_new - p_old), leaf by leaf: equal up to reduction order, which Adam's
    # g / (sqrt(v) + eps) magnifies in the few entries whose gradient is ~0 (a few % of lr
    # there); a wrong update (a shard's gradient missing, a micro-batch counted twice) is off
    # by ~100%.
    assert r["update_rel_diff"] < 1e-2
    for k in ("pg_loss", "kl", "entropy", "grad_norm"):
        assert r["metrics"][k] == pytest.approx(r["metrics_ref"][k], rel=1e-5, abs=1e-7), k
    assert r["bad_params"] == [] and r["bad_grads"] == [] and r["bad_ref"] == []
    assert r["bad_mu"] == [] and r["bad_nu"] == []
    assert r["up_shard"] != r["up_shape"]          # really split, not replicated


@pytest.mark.multidevice
def test_micro_batch_must_split_over_data_and_fsdp(results):
    assert "micro_batch=6" in results["indivisible_error"]


@pytest.mark.multidevice
@pytest.mark.parametrize("mesh", list(MESHES))
def test_sampling_on_sharded_weights_gives_the_single_device_tokens(results, mesh):
    r = results[mesh]["sampling"]
    # 8 prompts split over the devices; 3 prompts (4 rows) split on data x fsdp = 4, replicated
    # on fsdp = 8; greedy and temperature-1 sampling with the same key
    assert set(r) == {"greedy_8", "greedy_3", "sample_8", "sample_3"}
    for case in r.values():
        assert case["tokens_equal"], case
        assert case["logprob_max_diff"] < 1e-4
    assert results[mesh]["rows_sharded_8"] and results[mesh]["rows_sharded_3"] == (mesh != "fsdp8")


@pytest.mark.multidevice
@pytest.mark.parametrize("mesh", list(MESHES))
def test_checkpoint_restores_onto_sharded_targets(results, mesh):
    for onto in MESHES:
        r = results[mesh]["restore"][onto]
        assert r["equal"] and r["bad_shardings"] == [] and r["n_leaves"] > 20


@pytest.mark.slow
@pytest.mark.multidevice
def test_train_grpo_runs_and_resumes_on_an_8_device_mesh(tmp_path):
    res = _run_here("train", str(tmp_path))
    assert res["devices"] == 8 and res["mesh"] == {"data": 1, "fsdp": 4, "tensor": 2}
    assert res["first"]["resumed_from"] == 0 and res["second"]["resumed_from"] == 1
    assert res["steps"] == [1, 2] and all(r > 0 for r in res["rows"])
    assert all(g > 0 for g in res["grad_norm"])
    assert res["final_differs_from_start"]
    assert (tmp_path / "grpo" / "final" / "model.safetensors").is_file()


# ------------------------------------------------------------------------------ subprocess side
def _tree_diff(a, b, base=None, *, whole: bool = False) -> float:
    """||a - b|| / ||b||, the largest over the leaves, or over all leaves as one vector (whole).
    With `base`, of the updates a - base and b - base."""
    import jax
    import numpy as np

    leaves = lambda t: [np.asarray(x, np.float64).ravel() for x in jax.tree.leaves(t)]
    xs, ys = leaves(a), leaves(b)
    if base is not None:
        zs = leaves(base)
        xs, ys = [x - z for x, z in zip(xs, zs)], [y - z for y, z in zip(ys, zs)]
    if whole:
        xs, ys = [np.concatenate(xs)], [np.concatenate(ys)]
    return max(float(np.linalg.norm(x - y) / max(np.linalg.norm(y), 1e-30)) for x, y in zip(xs, ys))


def _bad_shardings(tree, want) -> list[str]:
    """Paths of `tree`'s leaves whose sharding is not equivalent to `want`'s (same structure)."""
    import jax

    flat = jax.tree_util.tree_flatten_with_path(tree)[0]
    return [jax.tree_util.keystr(k) for (k, x), w in zip(flat, jax.tree.leaves(want))
            if not x.sharding.is_equivalent_to(w, x.ndim)]


class _StubTokenizer:
    pad_token_id, eos_token_id = 0, 1

    def __call__(self, text, add_special_tokens=False):
        return {"input_ids": [5, 6]}


def _sampling(single, sharded, cfg, mesh) -> tuple[dict, dict]:
    import jax
    import numpy as np

    from prism_jax.rollout import ModelSampler, RolloutConfig

    rng = np.random.default_rng(7)
    prompts = [rng.integers(2, cfg.vocab_size, rng.integers(3, 14)).astype(np.int32) for _ in range(8)]
    out, placed = {}, {}
    for mode, temperature in (("greedy", 0.0), ("sample", 1.0)):
        rc = RolloutConfig(max_new_tokens=10, temperature=temperature, bucket=16)
        ref = ModelSampler(single, cfg, _StubTokenizer(), rc)
        on_mesh = ModelSampler(sharded, cfg, _StubTokenizer(), rc)
        for n in (8, 3):
            key = jax.random.key(11)
            a, b = ref(prompts[:n], key), on_mesh(prompts[:n], key)
            out[f"{mode}_{n}"] = {
                "tokens_equal": all(np.array_equal(x[0], y[0]) for x, y in zip(a, b)),
                "logprob_max_diff": max(float(np.max(np.abs(x[1] - y[1]), initial=0.0))
                                        for x, y in zip(a, b))}
    for n_prompts, width in ((8, 8), (3, 4)):        # the sampler pads 3 prompts to 4 rows
        rows = on_mesh._place(np.zeros((width, 16), np.int32))
        placed[f"rows_sharded_{n_prompts}"] = (
            isinstance(rows, jax.Array) and rows.addressable_shards[0].data.shape[0] < width)
    return out, placed


def check_update() -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from prism_jax.checkpoint import RunCheckpointer
    from prism_jax.grpo import GRPOConfig
    from prism_jax.updater import Updater, pack_rows
    from prism_jax.models import ModelConfig, Transformer, load_pretrained, save_pretrained
    from prism_jax.models.transformer import param_shapes
    from prism_jax.rollout import Step
    from prism_jax.runtime import enable_compilation_cache
    from prism_jax.sharding import make_mesh, param_shardings, state_shardings

    enable_compilation_cache()
    jax.config.update("jax_default_matmul_precision", "highest")
    cfg = ModelConfig(model_type="qwen3", vocab_size=128, hidden_size=64, intermediate_size=128,
                      num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16, qk_norm=True)
    tmp = Path(tempfile.mkdtemp())
    save_pretrained(Transformer.init(cfg, 3), tmp / "model")
    rng = np.random.default_rng(0)
    steps = []
    for _ in range(20):
        p, r = rng.integers(4, 20), rng.integers(2, 8)
        steps.append(Step(rng.integers(2, 128, p).astype(np.int32),
                          rng.integers(2, 128, r).astype(np.int32),
                          rng.normal(-4.8, 0.3, r).astype(np.float32), "", "", ""))
    adv = rng.normal(0, 1, len(steps)).astype(np.float32)
    # mini-batches of 16 (two micro-batches of 8, accumulated) and 4 rows: two AdamW steps
    config = GRPOConfig(model=tmp / "model", tasks=Path("-"), out=Path("-"), lr=1e-3,
                        mini_batch=16, micro_batch=8, bucket=16, kl_coef=0.1, entropy_coef=0.01,
                        temperature=0.9)
    probe = pack_rows(steps[:8], adv[:8], rows=8, pad_id=0, multiple=16)

    def update(mesh):
        params = load_pretrained(tmp / "model", mesh=mesh).params()
        ref_params = jax.tree.map(jnp.copy, params)         # as train_grpo makes it
        up = Updater(cfg, config, pad_id=0, ref_params=ref_params, mesh=mesh)
        batch = up._put(dict(probe, ref_logprobs=np.zeros_like(probe["old_logprobs"]),
                             weights=probe["weights"] / 50.0))
        grads, _ = up.grad_fn(params, batch)
        start = jax.tree.map(np.asarray, params)
        opt = up.init(params)
        new, opt, metrics = up(params, opt, steps, adv, np.random.default_rng(5))
        return start, new, opt, grads, ref_params, metrics

    start, ref, _, ref_grads, _, ref_m = update(None)
    out: dict = {"devices": len(jax.devices())}
    saved = {}
    for name, shape in MESHES.items():
        mesh = make_mesh(*shape)
        _, params, opt, grads, ref_params, m = update(mesh)
        want = param_shardings(param_shapes(cfg), mesh)
        adam = opt[1][0]
        out[name] = {
            "moved": max(float(np.max(np.abs(np.asarray(a) - b)))
                         for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(start))),
            "grad_rel_diff": _tree_diff(grads, ref_grads),
            "param_rel_diff": _tree_diff(params, ref, whole=True),
            "update_rel_diff": _tree_diff(params, ref, start),
            "metrics": m, "metrics_ref": ref_m,
            "bad_params": _bad_shardings(params, want), "bad_grads": _bad_shardings(grads, want),
            "bad_ref": _bad_shardings(ref_params, want),
            "bad_mu": _bad_shardings(adam.mu, want), "bad_nu": _bad_shardings(adam.nu, want),
            "up_shard": list(params["layers"]["up"].addressable_shards[0].data.shape),
            "up_shape": list(params["layers"]["up"].shape),
        }
        out[name]["sampling"], placed = _sampling(load_pretrained(tmp / "model").params(),
                                                  load_pretrained(tmp / "model", mesh=mesh).params(),
                                                  cfg, mesh)
        out[name].update(placed)
        ckpt = RunCheckpointer(tmp / f"ckpt_{name}", every=1, keep=1)
        ckpt.save(1, params, opt, rng=np.asarray([0, 1]), force=True)
        ckpt.close()
        saved[name] = (jax.tree.map(np.asarray, params), jax.tree.map(np.asarray, opt))
    for name in MESHES:
        out[name]["restore"] = {}
        for onto, shape in MESHES.items():
            mesh = make_mesh(*shape)
            params = load_pretrained(tmp / "model", mesh=mesh).params()
            up = Updater(cfg, config, pad_id=0, mesh=mesh)
            opt = up.init(params)
            with RunCheckpointer(tmp / f"ckpt_{name}", every=1, keep=1) as ckpt:
                state = ckpt.restore(params_target=params, opt_state_target=opt)
            target = {"params": param_shardings(params, mesh),
                      "opt": state_shardings(opt, params, mesh)}
            got = {"params": state.params, "opt": state.opt_state}
            out[name]["restore"][onto] = {
                "equal": all(np.array_equal(np.asarray(a), b) for a, b in zip(
                    jax.tree.leaves(got), jax.tree.leaves({"params": saved[name][0],
                                                           "opt": saved[name][1]}))),
                "bad_shardings": _bad_shardings(got, target),
                "n_leaves": len(jax.tree.leaves(got))}
    try:
        Updater(cfg, GRPOConfig(model=Path("-"), tasks=Path("-"), out=Path("-"), micro_batch=6),
                pad_id=0, mesh=make_mesh(2, 2, 2))
        out["indivisible_error"] = ""
    except ValueError as e:
        out["indivisible_error"] = str(e)
    return out


def check_train(root: Path) -> dict:
    import jax
    import numpy as np

    from alfworld_runs import expert_setup
    from prism_jax.grpo import GRPOConfig, train_grpo
    from prism_jax.models import load_pretrained
    from prism_jax.models.builder import TinySpec
    from prism_jax.runtime import enable_compilation_cache
    from prism_jax.tracking import read_metrics

    enable_compilation_cache()
    spec = TinySpec(vocab_size=512, hidden_size=64, intermediate_size=128, num_layers=2,
                    num_heads=4, num_kv_heads=2, head_dim=16)
    _, data, model = expert_setup(root, 2, spec, max_steps=12)
    args = dict(model=model, tasks=data, out=root / "grpo", group_size=2, tasks_per_iter=2,
                max_steps=2, max_new_tokens=8, max_prompt_len=1024, micro_batch=8, mini_batch=0,
                bucket=128, save_every=1, kl_coef=0.05, mesh_fsdp=4, mesh_tensor=2,
                # the untrained model's responses are all invalid, so every advantage is 0 and
                # the KL term's gradient is 0 at the start: the entropy bonus makes the update move
                entropy_coef=0.01)
    first = train_grpo(GRPOConfig(iterations=1, **args), progress=False)
    # a second call resumes from iteration 1's checkpoint, restored onto the sharded targets
    second = train_grpo(GRPOConfig(iterations=2, **args), progress=False)
    metrics = read_metrics(root / "grpo")
    final = load_pretrained(second["final_model"]).params()
    start = load_pretrained(model).params()
    return {"devices": len(jax.devices()),
            "mesh": dict(GRPOConfig(iterations=2, **args).build().shape),
            "first": first, "second": second, "steps": [m["step"] for m in metrics],
            "rows": [m["rows"] for m in metrics], "grad_norm": [m["grad_norm"] for m in metrics],
            "final_differs_from_start": any(not np.allclose(a, b) for a, b in zip(
                jax.tree.leaves(final), jax.tree.leaves(start)))}


if __name__ == "__main__":
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
    os.environ["JAX_PLATFORMS"] = "cpu"
    result = check_update() if sys.argv[1] == "update" else check_train(Path(sys.argv[2]))
    print(json.dumps(result, default=str))
