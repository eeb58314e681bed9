"""Stage I: probe norms vs PyTorch backward(), and the no-parameter-sized-gradient guarantee."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from hf_models import VOCAB, build
from prism_jax.models import MATRICES, ModelConfig, Transformer, load_pretrained
from prism_jax.probe import make_probe_step, probe_norms

pytestmark = pytest.mark.usefixtures("highest_precision")

TORCH_NAMES = {"q": "self_attn.q_proj", "k": "self_attn.k_proj", "v": "self_attn.v_proj",
               "o": "self_attn.o_proj", "gate": "mlp.gate_proj", "up": "mlp.up_proj",
               "down": "mlp.down_proj"}


def torch_reference(model, ids, attention_mask, loss_mask):
    """Per trajectory: HF loss on its unpadded tokens with labels only on response tokens."""
    out = []
    for b in range(ids.shape[0]):
        n = int(attention_mask[b].sum())
        x = torch.as_tensor(ids[b, :n], dtype=torch.long)[None]
        labels = torch.where(torch.as_tensor(loss_mask[b, :n] == 1), x[0], -100)[None]
        model.zero_grad()
        model(x, labels=labels).loss.backward()
        row = []
        for layer in model.model.layers:
            for m in MATRICES:
                mod = layer.get_submodule(TORCH_NAMES[m])
                row.append(mod.weight.grad.norm().item())
        out.append(row)
    return np.asarray(out)


def make_batch(seed, lengths, t):
    rng = np.random.default_rng(seed)
    b = len(lengths)
    ids = np.zeros((b, t), np.int64)
    attn = np.zeros((b, t), np.int64)
    loss = np.zeros((b, t), np.int64)
    for i, n in enumerate(lengths):
        ids[i, :n] = rng.integers(2, VOCAB, n)
        attn[i, :n] = 1
        # two "assistant" spans of different lengths per trajectory
        a, c = sorted(rng.choice(np.arange(2, n), 2, replace=False))
        loss[i, a: a + 3] = 1
        loss[i, c: n] = 1
    return ids, attn, loss


@pytest.fixture(scope="module", params=["qwen3", "llama3.1"])
def checkpoint(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    return d, build(request.param, d, seed=7)


@pytest.mark.parametrize("mode", ["direct", "ghost"])
def test_probe_norms_match_torch(checkpoint, mode):
    path, ref = checkpoint
    model = load_pretrained(path)
    ids, attn, loss = make_batch(0, [40, 17, 29], 40)
    ours = np.asarray(probe_norms(model, ids, attn, loss, norm_mode=mode, chunk=16))
    expected = torch_reference(ref, ids, attn, loss)
    assert ours.shape == (3, 7 * model.config.num_layers)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("layers,remat", [("scan", "none"), ("unroll", "none"), ("unroll", "full")])
def test_scanned_and_unrolled_layers_match_torch(checkpoint, layers, remat):
    """make_probe_step(layers=...): the scan over stacked layers and the unrolled layers (the
    CPU default) give torch's norms, with and without rematerialisation."""
    path, ref = checkpoint
    model = load_pretrained(path)
    ids, attn, loss = make_batch(2, [33, 21], 40)
    step = make_probe_step(model.config, remat=remat, layers=layers, chunk=16)
    ours = np.asarray(step(model.params(), ids, attn, loss))
    np.testing.assert_allclose(ours, torch_reference(ref, ids, attn, loss), rtol=1e-4, atol=1e-9)


def test_auto_mode_and_padding_independence(checkpoint):
    """The same trajectory gives the same norms alone or padded inside a longer batch."""
    path, _ = checkpoint
    model = load_pretrained(path)
    ids, attn, loss = make_batch(1, [12, 30], 32)
    batch = np.asarray(probe_norms(model, ids, attn, loss))
    alone = np.asarray(probe_norms(model, ids[:1, :12], attn[:1, :12], loss[:1, :12]))
    np.testing.assert_allclose(batch[0], alone[0], rtol=1e-4)


def _probed_bytes(cfg: ModelConfig) -> int:
    return int(cfg.param_counts().sum()) * 4


def test_compiled_probe_holds_no_parameter_sized_gradient():
    # Parameters large next to the activations, so a gradient buffer would dominate memory.
    cfg = ModelConfig(model_type="qwen3", vocab_size=128, hidden_size=256, intermediate_size=768,
                      num_layers=8, num_heads=4, num_kv_heads=2, head_dim=64, qk_norm=True)
    model = Transformer.init(cfg, 0)
    params = model.params()
    b, t = 2, 32
    args = (jnp.zeros((b, t), jnp.int32), jnp.ones((b, t), jnp.int32), jnp.ones((b, t), jnp.int32))
    probed = _probed_bytes(cfg)

    # remat full, what `auto` picks at scale (small shapes keep activations instead)
    ours = make_probe_step(cfg, remat="full").lower(params, *args).compile().memory_analysis()
    # what remains is one layer's temporaries (1/8 of the probed weights here) and activations
    assert ours.temp_size_in_bytes < probed / 4, (ours.temp_size_in_bytes, probed)

    # The check can fail: plain jax.grad over the weights holds them all.
    from prism_jax.probe import response_losses

    def naive(params, ids, attn, loss):
        def f(layers):
            return jnp.sum(response_losses({**params, "layers": layers}, cfg, ids, attn, loss))
        grads = jax.grad(f)(params["layers"])
        return jnp.stack([jnp.linalg.norm(grads[m].reshape(cfg.num_layers, -1), axis=-1)
                          for m in MATRICES], axis=1)

    theirs = jax.jit(naive).lower(params, *args).compile().memory_analysis()
    assert theirs.temp_size_in_bytes >= probed, (theirs.temp_size_in_bytes, probed)
