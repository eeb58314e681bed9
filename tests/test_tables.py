"""The paper's tables and the report (prism_jax/tables.py) from hand-made run results.

Expected cells are worked out by hand; ± is the sample standard deviation (ddof=1), so two seeds
at 80 and 90 give 85.00 ± sqrt(((80-85)^2 + (90-85)^2) / 1) = 85.00 ± 7.07.
"""

from __future__ import annotations

import matplotlib.image
import pytest

from prism_jax import tables
from prism_jax.results import ResultError, load_results, validate_result
from synthetic_runs import alf, figure3_results, run, write_runs


def alfworld_results():
    return [
        run("alfworld", "base", 0, seen=alf(10.0, Pick=40.0), unseen=alf(5.0)),
        run("alfworld", "sft", 0, seen=alf(45.0, Pick=80.0, Look=70.0), unseen=alf(20.0)),
        run("alfworld", "sft", 1, seen=alf(46.0, Pick=90.0, Look=75.0), unseen=alf(19.0)),
        run("alfworld", "prism", 0, metric="gini", seen=alf(95.0, Heat=100.0),
            unseen=alf(80.0)),
        run("alfworld", "prism", 1, metric="gini", seen=alf(96.0, Heat=90.0), unseen=alf(78.0)),
        # A ratio-sweep point: belongs to Fig. 4, not to Table 1.
        run("alfworld", "prism", 0, metric="gini", rl_ratio=0.3, seen=alf(1.0), unseen=alf(1.0)),
    ]


def test_table1_rows_match_hand_written_markdown():
    md = tables.table1(alfworld_results()).to_markdown().splitlines()
    assert md[0] == "### Table 1: Detailed Performance on ALFWorld (tiny)"
    assert md[2] == "| Category | Method | SFT : RL | Pick | Look | Clean | Heat | Cool | Pick2 | All |"
    body = md[4:12]
    assert body == [
        "| *(a) ALFWorld - Seen (In-Distribution)* |  |  |  |  |  |  |  |  |  |",
        "| Base | Base Model | - : - | 40.00 | - | - | - | - | - | 10.00 |",
        "| Single Phase | SFT | 100 : - | 85.00 ± 7.07 | 72.50 ± 3.54 | - | - | - | - | 45.50 ± 0.71 |",
        "| PRISM (Ours) | Gini | 50 : 50 | - | - | - | 95.00 ± 7.07 | - | - | 95.50 ± 0.71 |",
        "| *(b) ALFWorld - Unseen (Out-of-Distribution)* |  |  |  |  |  |  |  |  |  |",
        "| Base | Base Model | - : - | - | - | - | - | - | - | 5.00 |",
        "| Single Phase | SFT | 100 : - | - | - | - | - | - | - | 19.50 ± 0.71 |",
        "| PRISM (Ours) | Gini | 50 : 50 | - | - | - | - | - | - | 79.00 ± 1.41 |",
    ]
    assert "Mean over each row's seeds" in "\n".join(md)


def test_types_without_episodes_as_null_or_nan_show_dash(tmp_path):
    # json writes float("nan") as NaN, which is how an evaluation without episodes of a type
    # may come back; null and an absent key mean the same.
    results = [run("alfworld", "sft", 0, seen=alf(50.0, Pick=float("nan"), Look=None, Cool=20.0)),
               run("alfworld", "sft", 1, seen=alf(60.0, Pick=float("nan"), Cool=float("nan")))]
    loaded = load_results(write_runs(tmp_path, results))
    assert tables.table1(loaded).rows == [
        ["Single Phase", "SFT", "100 : -", "-", "-", "-", "-", "20.00", "-", "55.00 ± 7.07"]]


def test_mean_only_without_std_and_repeated_category_blank():
    results = [run("webshop", m, s, score=sc, success_rate=sr)
               for m, s, sc, sr in (("grpo", 0, 80.0, 60.0), ("grpo", 1, 90.0, 61.0),
                                    ("gigpo", 0, 70.0, 50.0), ("gigpo", 1, 72.0, 52.0))]
    t = tables.table2(results, std=False)
    assert t.rows == [["GRPO", "- : 100", "60.50", "85.00"], ["GiGPO", "- : 100", "51.00", "71.00"]]
    assert t.notes[0] == "Mean over 2 seeds (0, 1)."
    alf_results = [run("alfworld", "grpo", 0, seen=alf(1.0)), run("alfworld", "gigpo", 0, seen=alf(2.0))]
    md = tables.table1(alf_results, std=False).to_markdown()
    assert "| Single Phase | GRPO | - : 100 |" in md and "|  | GiGPO | - : 100 |" in md


def test_table2_one_column_pair_per_model_and_split_labels():
    results = [
        run("webshop", "sft", 0, model="Qwen3-8B", score=73.87, success_rate=42.97),
        run("webshop", "sft", 0, model="Llama-3.1-8B", score=29.34, success_rate=18.75),
        run("webshop", "prism", 0, metric="kurtosis", model="Qwen3-8B", score=83.0,
            success_rate=63.0),
        run("webshop", "sft_then_rl", 0, model="Llama-3.1-8B", score=81.65, success_rate=60.16),
    ]
    hpt = run("webshop", "hpt", 0, model="Qwen3-8B", score=75.0, success_rate=54.0)
    # online HPT: every task is RL's, and each iteration's gate sends some to SFT
    hpt["rl_ratio"], hpt["split_sizes"] = None, {"sft": 0, "rl": 100}
    t = tables.table2(results + [hpt])
    assert t.header == ["Method", "SFT : RL", "Qwen3-8B SR(%)", "Qwen3-8B Score",
                        "Llama-3.1-8B SR(%)", "Llama-3.1-8B Score"]
    assert t.rows == [["SFT", "100 : -", "42.97", "73.87", "18.75", "29.34"],
                      ["HPT", "gated", "54.00", "75.00", "-", "-"],
                      ["SFT-then-RL", "100 : 100", "-", "-", "60.16", "81.65"],
                      ["PRISM (Kurtosis)", "50 : 50", "63.00", "83.00", "-", "-"]]


def test_format_duration():
    assert tables.format_duration(3723) == "1h 02m 03s"
    assert tables.format_duration(108) == "1m 48s"
    assert tables.format_duration(4.24) == "4.2s"
    assert tables.format_duration(None) == "-"


def test_table3_times_and_speedup_by_hand():
    t = lambda probe, sft, rl: {"probe": probe, "sft": sft, "rl": rl}  # noqa: E731
    results = [
        run("webshop", "grpo", 0, timings=t(None, None, 3600.0)),
        # A ratio recorded for a single-phase method is ignored.
        run("webshop", "grpo", 1, rl_ratio=1.0, timings=t(None, None, 4000.0)),
        run("webshop", "prism", 0, metric="gini", timings=t(10.0, 50.0, 1800.0)),
        run("webshop", "prism", 1, metric="gini", timings=t(12.0, 50.0, 2000.0)),
        run("alfworld", "random", 0, seen=alf(1.0), timings=t(None, 7.0, 100.0)),
        run("webshop", "base", 0),                      # no timings: no row
    ]
    table = tables.table3(results)
    # GRPO totals 3600, 4000 -> 3800; PRISM totals 1860, 2062 -> 1961; 3800 / 1961 = 1.9378.
    assert table.rows == [
        ["WebShop", "GRPO", "0% : 100%", "-", "-", "1h 03m 20s", "1h 03m 20s", "1.00×"],
        ["WebShop", "PRISM (Gini)", "50% : 50%", "11.0s", "50.0s", "31m 40s", "32m 41s", "1.94×"],
        ["ALFWorld", "Random", "50% : 50%", "-", "7.0s", "1m 40s", "1m 47s", "-"],
    ]


def test_table4_present_envs_only_and_skip_without_magnitude():
    results = [run("webshop", "magnitude", s, metric="l2", score=sc) for s, sc in ((0, 79.0), (1, 80.5))]
    results += [run("webshop", "prism", 0, metric="gini", score=85.15)]
    t = tables.table4(results, std=False)
    assert t.header == ["Routing Metric", "WebShop (Score)"]
    assert t.rows == [["Gradient Magnitude (L2)", "79.75"], ["PRISM (Spatial Gini)", "85.15"]]
    with pytest.raises(tables.MissingData, match="magnitude"):
        tables.table4(results[2:])


def test_write_report_files_pngs_and_skips(tmp_path):
    results = alfworld_results() + figure3_results()
    paths = tables.write_report(results, tmp_path / "report")
    names = sorted(p.name for p in paths)
    # The ALFWorld PRISM (Gini) runs at 30% and 50% RL make a Fig. 4 line.
    assert names == ["figure3.png", "figure4.png", "table1.csv", "table2.csv", "tables.md"]
    for name in ("figure3.png", "figure4.png"):
        image = matplotlib.image.imread(tmp_path / "report" / name)
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    md = (tmp_path / "report" / "tables.md").read_text()
    assert "- table3: no run recorded any phase timing" in md
    assert "- table4: needs magnitude" in md and "figure4:" not in md
    assert "![Figure 3: PRISM vs inverse routing](figure3.png)" in md
    assert "`prism pipeline --method sft --seed 1`" in md
    assert "alfworld / tiny / prism (gini, RL 30%) / seed 0" in md
    csv_lines = (tmp_path / "report" / "table1.csv").read_text().splitlines()
    assert csv_lines[0] == "Section,Category,Method,SFT : RL,Pick,Look,Clean,Heat,Cool,Pick2,All"
    assert csv_lines[2] == ("(a) ALFWorld - Seen (In-Distribution),Single Phase,SFT,100 : -,"
                            "85.00 ± 7.07,72.50 ± 3.54,-,-,-,-,45.50 ± 0.71")
    assert sorted(p.name for p in (tmp_path / "report").iterdir()) == names


def test_write_report_all_or_nothing(tmp_path, monkeypatch):
    out = tmp_path / "report"
    out.mkdir()
    (out / "table1.csv").write_text("old\n")

    def broken(results):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tables, "plot_figure4", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        tables.write_report(alfworld_results(), out)
    assert [p.name for p in out.iterdir()] == ["table1.csv"]
    assert (out / "table1.csv").read_text() == "old\n"


def test_duplicate_seed_is_an_error():
    with pytest.raises(ResultError, match=r"seed\(s\) \[0\] appear more than once"):
        tables.table2([run("webshop", "sft", 0), run("webshop", "sft", 0)])


def test_tables_cli_collects_run_directories(tmp_path, capsys):
    from prism_jax.train.cli import main as prism
    from synthetic_runs import alf, run, write_runs

    write_runs(tmp_path / "runs", [
        run("alfworld", "prism", seed=0, metric="gini", seen=alf(80.0, Pick=80.0), unseen=alf(50.0)),
        run("alfworld", "prism", seed=1, metric="gini", seen=alf(90.0, Pick=90.0), unseen=alf(60.0))])
    assert prism(["tables", str(tmp_path / "runs"), "--out", str(tmp_path / "t")]) == 0
    assert "85.00 ± 7.07" in capsys.readouterr().out
    assert (tmp_path / "t" / "table1.csv").is_file()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="no result.json"):
        prism(["tables", str(tmp_path / "empty"), "--out", str(tmp_path / "t2")])


def test_valid_action_column_when_any_run_has_it():
    # Hand values: Valid 90 and 70 over two seeds -> 80.00 ± 14.14; a run without it -> "-".
    results = [run("alfworld", "sft", 0, seen=dict(alf(10.0), Valid=90.0)),
               run("alfworld", "sft", 1, seen=dict(alf(20.0), Valid=70.0)),
               run("alfworld", "grpo", 0, seen=alf(5.0))]
    t = tables.table1(results)
    assert t.header[-2:] == ["All", "Valid"]
    assert [r[-2:] for r in t.rows] == [["15.00 ± 7.07", "80.00 ± 14.14"], ["5.00", "-"]]
    assert any(n.startswith("Valid:") for n in t.notes)
    assert "Valid" not in tables.table1(results[2:]).header

    ws = [run("webshop", "sft", 0, score=50.0, success_rate=20.0),
          run("webshop", "grpo", 0, score=60.0, success_rate=30.0)]
    ws[0]["eval"]["test"]["Valid"] = 75.0
    t2 = tables.table2(ws)
    assert t2.header[-1] == "tiny Valid(%)"
    assert t2.rows == [["SFT", "100 : -", "20.00", "50.00", "75.00"],
                       ["GRPO", "- : 100", "30.00", "60.00", "-"]]
    bad = run("webshop", "sft", 0, score=1.0, success_rate=1.0)
    bad["eval"]["test"]["Valid"] = 140.0
    with pytest.raises(ResultError, match="Valid is 140.0"):
        validate_result(bad, "r.json")
