"""The `prism` dispatcher and the shared command shell (train/cli.py, train/shell.py)."""

from __future__ import annotations

import pytest

from prism_jax.train.cli import main as prism


@pytest.mark.parametrize("env, message", [
    ("alfworld", "unknown split 'bogus': expected one of train, valid_seen, valid_unseen"),
    ("webshop", "unknown WebShop split 'bogus': expected one of test, eval, train")])
def test_gen_data_bad_split_is_one_line(tmp_path, env, message):
    with pytest.raises(SystemExit) as e:
        prism(["gen-data", env, "--split", "bogus", "--n", "1", "--out", str(tmp_path / "x.jsonl"),
               *(["--games-dir", str(tmp_path / "games")] if env == "alfworld" else ["--num-products", "50"])])
    assert str(e.value.code) == f"prism gen-data {env}: {message}"
    assert not (tmp_path / "x.jsonl").exists()


def _field_docstrings(module, *classes: str) -> dict[str, str]:
    """Each field's docstring in the source of `classes` (read with ast), whitespace collapsed."""
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(module))
    docs = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in classes:
            for field, doc in zip(node.body, node.body[1:]):
                if (isinstance(field, ast.AnnAssign) and isinstance(doc, ast.Expr)
                        and isinstance(doc.value, ast.Constant) and "\n" in doc.value.value):
                    docs[field.target.id] = " ".join(doc.value.value.split())
    return docs


def test_help_gives_each_field_docstring_as_one_paragraph(capsys, monkeypatch):
    # wide enough that rich wraps nothing: a line break inside a flag's text comes from the
    # docstring's own line breaks (tyro kept every indented continuation line's)
    import prism_jax.plan
    import prism_jax.runs
    import prism_jax.sft
    import prism_jax.train.plan

    monkeypatch.setenv("COLUMNS", "4000")
    for command, docs in (
            ("sft", {**_field_docstrings(prism_jax.sft, "SFTHparams", "_SFTPaths"),
                     **_field_docstrings(prism_jax.runs, "MeshConfig")}),
            ("plan", {**_field_docstrings(prism_jax.plan, "Assumptions"),
                      **_field_docstrings(prism_jax.train.plan, "PlanArgs")})):
        with pytest.raises(SystemExit):
            prism([command, "--help"])
        lines = capsys.readouterr().out.splitlines()
        assert docs
        for name, doc in docs.items():
            assert any(doc in line for line in lines), f"prism {command} --help: {name}'s text is split"
