"""bench/gpu_check.py runs end to end (--cpu-smoke) on a Python that cannot import grain, tyro or
gymnasium, as the GPU machines it is meant for have none of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = "import sys; [sys.modules.__setitem__(m, None) for m in ('grain', 'tyro', 'gymnasium')]; "


@pytest.mark.slow
def test_cpu_smoke_runs_without_grain_tyro_gymnasium(tmp_path):
    out = tmp_path / "figures.json"
    code = (BLOCK + f"sys.argv = ['gpu_check', '--cpu-smoke', '--json', {str(out)!r}]; "
            f"import runpy; runpy.run_path({str(ROOT / 'bench' / 'gpu_check.py')!r}, run_name='__main__')")
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["parity"]["fp32"] < 1e-4 and figures["probe"]["rel_diff"] < 1e-4
    for section in ("probe", "sft", "sample"):
        assert figures[section]["speedup"] > 0
    for line in ("1. logits", "2. probe", "3. SFT step", "4. sampling", "attention"):
        assert line in proc.stdout


def test_its_imports_need_no_grain_tyro_gymnasium():
    code = BLOCK + ("import prism_jax.models, prism_jax.plan, prism_jax.probe, prism_jax.sampler, "
                    "prism_jax.sft_step, prism_jax.models.transformer")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
