"""The result schema (prism_jax/results.py): loading result.json files and their errors."""

from __future__ import annotations

import json

import pytest

from prism_jax import results as res
from synthetic_runs import figure3_results, run, write_runs


def test_load_results_recursive_and_errors(tmp_path):
    results = figure3_results()
    write_runs(tmp_path / "runs", results)
    loaded = res.load_results(tmp_path / "runs")
    assert len(loaded) == len(results)
    assert all(r["_source"].endswith("result.json") for r in loaded)

    bad = tmp_path / "bad" / "result.json"
    bad.parent.mkdir()
    broken = dict(results[0])
    del broken["timings"], broken["seed"]
    bad.write_text(json.dumps(broken))
    with pytest.raises(res.ResultError, match=rf"{bad}: missing required key\(s\) seed, timings"):
        res.load_results([tmp_path / "runs", bad])
    bad.write_text('{"env": "webshop",\n "model": }')
    with pytest.raises(res.ResultError, match=rf"{bad}: line 2, column 11: invalid JSON"):
        res.load_results(bad)
    typo = run("alfworld", "sft", 0, seen={"pick": 1.0, "All": 2.0})
    bad.write_text(json.dumps(typo))
    with pytest.raises(res.ResultError, match="unknown task type 'pick'"):
        res.load_results(bad)
    bad.write_text(json.dumps(run("alfworld", "sft", 0, seen={"Pick": 150.0, "All": 2.0})))
    with pytest.raises(res.ResultError, match=r"eval.valid_seen.Pick is 150.0; expected a "
                       r"success rate in percent \(0-100\)"):
        res.load_results(bad)
    bad.write_text(json.dumps(run("webshop", "prism", 0)))
    with pytest.raises(res.ResultError, match="method 'prism' needs a metric"):
        res.load_results(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(res.ResultError, match="no result.json anywhere"):
        res.load_results(tmp_path / "empty")
