"""The tiny-model builder writes a directory that transformers and our loader read identically."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from prism_jax.models import load_pretrained
from prism_jax.models.builder import TinySpec, build_tiny
from prism_jax.models.tokenizer import encode_chat, load_tokenizer
from prism_jax.train.cli import main as prism

CORPUS = ["You arrive at countertop 1. On the countertop 1, you see a apple 1.",
          "<action>go to fridge 1</action>", "Your task is to: put a hot apple in fridge."] * 20


@pytest.mark.usefixtures("highest_precision")
def test_tiny_checkpoint_loads_like_a_real_qwen3(tmp_path):
    spec = TinySpec(vocab_size=400, hidden_size=32, intermediate_size=64, num_layers=2,
                    num_heads=2, num_kv_heads=1, head_dim=16)
    out = build_tiny(tmp_path / "tiny", CORPUS, spec)
    ref = AutoModelForCausalLM.from_pretrained(out).eval()
    assert ref.config.model_type == "qwen3"
    tok = AutoTokenizer.from_pretrained(out)
    ours = load_pretrained(out)
    assert ours.config.vocab_size == len(tok) and ours.config.eos_token_id == tok.eos_token_id
    chat = [{"role": "user", "content": "Your task is to: put a hot apple in fridge."},
            {"role": "assistant", "content": "<action>go to fridge 1</action>"}]
    ids, mask = encode_chat(load_tokenizer(out), chat)
    assert tok.decode(ids[mask == 1]).startswith("<action>go to fridge 1</action>")
    with torch.no_grad():
        expected = ref(torch.as_tensor(ids[None], dtype=torch.long)).logits.numpy()
    np.testing.assert_allclose(np.asarray(ours(ids[None])), expected, atol=1e-4)


def test_build_tiny_cli(tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(CORPUS))
    assert prism(["build-tiny", "--corpus", str(text), "--out", str(tmp_path / "m"),
                  "--spec.vocab-size", "300", "--spec.num-layers", "1"]) == 0
    assert "1 layers" in capsys.readouterr().out
    assert (tmp_path / "m" / "model.safetensors").is_file()


def test_generate_cli_greedy_equals_transformers(tmp_path, capsys):
    spec = TinySpec(vocab_size=400, hidden_size=32, intermediate_size=64, num_layers=2,
                    num_heads=2, num_kv_heads=1, head_dim=16)
    out = build_tiny(tmp_path / "tiny", CORPUS, spec, seed=3)
    assert prism(["generate", "--model", str(out), "--prompt", "go to fridge 1", "--max-new-tokens",
                  "8"]) == 0
    printed = capsys.readouterr().out.split(" -> ")[1].strip()
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok.apply_chat_template([{"role": "user", "content": "go to fridge 1"}],
                                  add_generation_prompt=True, return_tensors="pt", return_dict=True)
    ref = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        gen = ref.generate(**ids, max_new_tokens=8, do_sample=False)[0, ids["input_ids"].shape[1]:]
    eos = (gen == tok.eos_token_id).nonzero()
    gen = gen[: int(eos[0]) + 1] if len(eos) else gen
    assert printed == repr(tok.decode(gen, skip_special_tokens=True))


def test_build_tiny_never_clobbers(tmp_path, monkeypatch):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(CORPUS))
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    argv = ["build-tiny", "--corpus", str(text), "--spec.vocab-size", "300", "--spec.num-layers", "1"]
    with pytest.raises(SystemExit, match="kept: exists and is not empty; pass --overwrite"):
        prism([*argv, "--out", str(kept)])
    assert [p.name for p in kept.iterdir()] == ["notes.txt"]
    monkeypatch.chdir(kept)
    with pytest.raises(SystemExit, match="is the current directory"):
        prism([*argv, "--out", ".", "--overwrite"])
    monkeypatch.chdir(tmp_path.parent)
    with pytest.raises(SystemExit, match="holds the input"):
        prism([*argv, "--out", str(tmp_path), "--overwrite"])
    assert (kept / "notes.txt").read_text() == "mine" and text.is_file()
    assert prism([*argv, "--out", str(kept), "--overwrite"]) == 0
    assert (kept / "model.safetensors").is_file() and not (kept / "notes.txt").exists()


WEB = ["'B0UNGL8ZD8' [ SEP] 'Hebroly Handmade Window Curtains' [ SEP] '$17.3'",
       "Your task is to: i want black window curtains, and price lower than 50.00 dollars.",
       "<action>click[b0ungl8zd8]</action>", "<action>search[window curtains black]</action>"] * 3


def _pieces(text: str) -> list[str]:
    """The word-level split written out by hand: a word or a punctuation run with at most one
    leading space, or a run of whitespace; a word of 8+ letters and digits with a digit in it
    split after its first two characters."""
    out, i = [], 0
    while i < len(text):
        j = i + 1 if text[i] == " " and i + 1 < len(text) and not text[i + 1].isspace() else i
        if j < len(text) and text[j].isalnum():
            k = j
            while k < len(text) and text[k].isalnum():
                k += 1
        elif j < len(text) and not text[j].isspace():
            k = j
            while k < len(text) and not (text[k].isalnum() or text[k].isspace()):
                k += 1
        else:
            k = i
            while k < len(text) and text[k].isspace():
                k += 1
        word = text[j:k]
        if len(word) >= 8 and word.isalnum() and any(c.isdigit() for c in word):
            out.append(text[i:j + 2])   # a code: its first two characters, then the rest
            i = j + 2
        out.append(text[i:k])
        i = k
    return out


def test_word_tokenizer_one_id_per_word_and_round_trip(tmp_path):
    spec = TinySpec(vocab_size=400, hidden_size=32, intermediate_size=64, num_layers=1,
                    num_heads=2, num_kv_heads=1, head_dim=16, tokenizer="word")
    out = build_tiny(tmp_path / "w", WEB, spec)
    tok = AutoTokenizer.from_pretrained(out)   # transformers reads it as it is
    text = "Your task is to: i want black window curtains.\n\n'B0UNGL8ZD8' [ SEP]"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    # an opening quote is read as a quote and a space
    assert tok.convert_ids_to_tokens(ids) == _pieces(text.lower().replace("\n'b0", "\n' b0"))
    assert tok.decode(ids) == text.lower().replace("[ ", "[")
    action = "<action>search[window curtains black]</action><|im_end|>"
    got = tok(action, add_special_tokens=False)["input_ids"]
    # a word right after "[" is the word as it is after a space
    assert tok.convert_ids_to_tokens(got)[:4] == ["<action>", "search", "[", " window"]
    assert tok.decode(got, skip_special_tokens=True) == "<action>search[window curtains black]</action>"
    unseen = tok(" zebra", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(unseen) == ["<unk>"]
    chat = [{"role": "user", "content": WEB[1]}, {"role": "assistant", "content": WEB[2]}]
    ids, mask = encode_chat(load_tokenizer(out), chat)
    assert tok.decode(ids[mask == 1]) == WEB[2] + "<|im_end|>"


def _expert_word_tokenizer(tmp_path):
    from prism_jax.envs.webshop import default_catalog
    from prism_jax.envs.webshop.datagen import expert_records

    cat = default_catalog()
    records = [{"id": f"t{i}", **r} for i, r in
               enumerate(expert_records(cat, cat.list_tasks("train", 12), progress=False))]
    corpus = [m["content"] for r in records for m in r["messages"]]
    spec = TinySpec(vocab_size=8192, hidden_size=32, intermediate_size=64, num_layers=1,
                    num_heads=2, num_kv_heads=1, head_dim=16, tokenizer="word")
    return records, AutoTokenizer.from_pretrained(build_tiny(tmp_path / "w", corpus, spec))


def test_word_tokenizer_action_arguments_are_the_page_tokens(tmp_path):
    """Every click of the expert names its target with exactly the tokens the page shows it
    with in the policy's prompt (product ids, options, buttons; verl-agent's prompt quotes the
    page's elements), so copying from the page is copying tokens, and the tokens decode back to
    the action as the environment parses it."""
    from prism_jax.data import expand_steps

    records, tok = _expert_word_tokenizer(tmp_path)
    n_clicks = 0
    for step in expand_steps(records):
        prompt, answer = step["messages"][-2]["content"], step["messages"][-1]["content"]
        action = re.search(r"<action>(.*)</action>", answer).group(1)
        ids = tok(action, add_special_tokens=False)["input_ids"]
        assert tok.decode(ids) == action.lower()
        name, arg = re.fullmatch(r"(\w+)\[(.*)\]", action).groups()
        if name != "click":
            continue
        n_clicks += 1
        page = prompt.split("admissible actions")[0]   # the page, not the list of actions
        page_ids = tok(page, add_special_tokens=False)["input_ids"]
        want = tok(" " + arg, add_special_tokens=False)["input_ids"]
        assert ids[2:-1] == want, action
        assert any(page_ids[i:i + len(want)] == want for i in range(len(page_ids))), action
    assert n_clicks > 30
