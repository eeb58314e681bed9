"""GRPO on a device mesh: a policy update on 8 simulated devices equals the single-device update,
and parameters and AdamW moments keep the rule shardings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_CHECK = r"""
import json, os, tempfile
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ["JAX_PLATFORMS"] = "cpu"
from pathlib import Path
import jax, numpy as np
from prism_jax.runtime import enable_compilation_cache
enable_compilation_cache()
jax.config.update("jax_default_matmul_precision", "highest")
from prism_jax.grpo import GRPOConfig, Updater
from prism_jax.models import ModelConfig, Transformer, load_pretrained, save_pretrained
from prism_jax.models.transformer import param_shapes
from prism_jax.rollout import Step
from prism_jax.sharding import make_mesh, param_shardings

cfg = ModelConfig(model_type="qwen3", vocab_size=128, hidden_size=64, intermediate_size=128,
                  num_layers=2, num_heads=4, num_kv_heads=2, head_dim=16, qk_norm=True)
path = tempfile.mkdtemp()
save_pretrained(Transformer.init(cfg, 3), path)
rng = np.random.default_rng(0)
steps = []
for _ in range(12):
    p, r = rng.integers(4, 20), rng.integers(2, 8)
    steps.append(Step(rng.integers(2, 128, p).astype(np.int32), rng.integers(2, 128, r).astype(np.int32),
                      rng.normal(-4.8, 0.3, r).astype(np.float32), "", "", ""))
adv = rng.normal(0, 1, len(steps)).astype(np.float32)
config = GRPOConfig(model=Path(path), tasks=Path("-"), out=Path("-"), lr=1e-3, mini_batch=8,
                    micro_batch=8, bucket=16)

def update(mesh):
    params = load_pretrained(path, mesh=mesh).params()
    up = Updater(cfg, config, pad_id=0, mesh=mesh)
    opt = up.init(params)
    params, opt, metrics = up(params, opt, steps, adv, np.random.default_rng(5))
    return params, opt, metrics

ref, _, ref_m = update(None)
out = {"devices": len(jax.devices())}
for name, shape in {"data2_fsdp2_tensor2": (2, 2, 2), "fsdp8": (1, 8, 1)}.items():
    mesh = make_mesh(*shape)
    params, opt, m = update(mesh)
    want = param_shardings(param_shapes(cfg), mesh)
    want = {jax.tree_util.keystr(k): w for k, w in jax.tree_util.tree_flatten_with_path(want)[0]}
    bad = [jax.tree_util.keystr(k) for k, p in jax.tree_util.tree_flatten_with_path(params)[0]
           if not p.sharding.is_equivalent_to(want[jax.tree_util.keystr(k)], p.ndim)]
    mu = opt[1][0].mu
    mu_bad = [jax.tree_util.keystr(k) for (k, a), (_, p) in zip(
        jax.tree_util.tree_flatten_with_path(mu)[0], jax.tree_util.tree_flatten_with_path(params)[0])
        if not a.sharding.is_equivalent_to(p.sharding, p.ndim)]
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
               for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(ref)))
    moved = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
                for a, b in zip(jax.tree.leaves(ref), jax.tree.leaves(load_pretrained(path).params())))
    out[name] = {"param_diff": diff, "moved": moved, "bad": bad, "mu_bad": mu_bad,
                 "pg_loss": [ref_m["pg_loss"], m["pg_loss"]],
                 "up_shard": list(params["layers"]["up"].addressable_shards[0].data.shape),
                 "up_shape": list(params["layers"]["up"].shape)}
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def results():
    out = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True,
                         env=os.environ | {"JAX_PLATFORMS": "cpu"}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.multidevice
@pytest.mark.parametrize("mesh", ["data2_fsdp2_tensor2", "fsdp8"])
def test_sharded_update_equals_single_device(results, mesh):
    assert results["devices"] == 8
    r = results[mesh]
    assert r["pg_loss"][0] == pytest.approx(r["pg_loss"][1], rel=1e-5, abs=1e-7)
    # Two AdamW steps at lr 1e-3 moved the weights by ~2e-3; the mesh run lands on the same ones
    # up to reduction order, which moves Adam's g / (|g| + eps) by a sliver of lr where |g| is
    # near eps (a wrong update, e.g. a shard's gradient missing, differs by the movement itself).
    assert r["moved"] > 1e-3
    assert r["param_diff"] < 0.02 * r["moved"]
    assert r["bad"] == [] and r["mu_bad"] == []
    assert r["up_shard"] != r["up_shape"]          # really split, not replicated


_RUN = r"""
import json, os, sys
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=8"
os.environ["JAX_PLATFORMS"] = "cpu"
from pathlib import Path
from prism_jax.runtime import enable_compilation_cache
enable_compilation_cache()

def main():
    sys.path.insert(0, sys.argv[2])
    from alfworld_runs import expert_setup
    from prism_jax.grpo import GRPOConfig, train_grpo
    from prism_jax.models.builder import TinySpec
    from prism_jax.tracking import read_metrics

    root = Path(sys.argv[1])
    spec = TinySpec(vocab_size=512, hidden_size=64, intermediate_size=128, num_layers=2,
                    num_heads=4, num_kv_heads=2, head_dim=16)
    games, data, model = expert_setup(root, 2, spec, max_steps=12)
    out = train_grpo(GRPOConfig(model=model, tasks=data, out=root / "grpo", group_size=2,
                                tasks_per_iter=2, iterations=2, max_steps=2, max_new_tokens=8,
                                max_prompt_len=1024, micro_batch=8, mini_batch=0, bucket=128,
                                save_every=1, mesh_fsdp=4, mesh_tensor=2), progress=False)
    print(json.dumps({"final": out["final_model"],
                      "steps": [m["step"] for m in read_metrics(root / "grpo")],
                      "rows": [m["rows"] for m in read_metrics(root / "grpo")]}))

if __name__ == "__main__":
    main()
"""


@pytest.mark.slow
@pytest.mark.multidevice
def test_train_grpo_runs_on_an_8_device_mesh(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(_RUN)
    out = subprocess.run([sys.executable, str(script), str(tmp_path), str(Path(__file__).parent)],
                         capture_output=True,
                         text=True, env=os.environ | {"JAX_PLATFORMS": "cpu"}, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["steps"] == [1, 2] and all(r > 0 for r in res["rows"])
    assert (tmp_path / "grpo" / "final" / "config.json").is_file()
    assert (tmp_path / "grpo" / "checkpoints").is_dir()
