"""The tapped matmul: y = x @ W whose backward reports per-example weight-gradient norms.

PRISM needs ||dL_b/dW||_F for every projection W and every trajectory b, but never the gradient
itself. Each projection therefore takes an extra zero input `tap` of shape [B]. Its custom VJP
returns the usual input cotangent, no weight cotangent at all, and as the tap's cotangent the
per-example squared Frobenius norm of the weight gradient, dL_b/dW = X_b^T G_b, computed either

  direct: sum((X_b^T G_b)^2)          cost ~ T*Din*Dout, memory Din*Dout per example, or
  ghost:  <X_b X_b^T, G_b G_b^T>      cost ~ T^2*(Din+Dout), memory T^2 per example,

whichever is cheaper for the shape. One `jax.grad` with respect to all taps then yields all B x 7L
squared norms in a single backward pass, with no parameter-sized gradient buffer.

`dense` is the same product without a tap and with the usual weight gradient. Both write their
backward products out as einsums in the orientation XLA's CPU matmul library runs directly
(dW = einsum("btd,bte->de")); autodiff's own transpose of the forward einsum makes XLA copy a
transposed gradient first and fall back to a slower matmul (the SFT step spent a fifth of its
time there).

Inside the scan over layers the matmul takes the whole stacked weight [L, Din, Dout] and the layer
index: its saved residual is then the loop-invariant stack itself (which scan hoists) rather than the
per-layer slice (which scan would stack into a copy of every probed matrix).
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

MODES = ("auto", "direct", "ghost")


def choose_mode(seq_len: int, d_in: int, d_out: int) -> str:
    """'ghost' when T^2 (Din + Dout) < T Din Dout, i.e. T (Din + Dout) < Din Dout."""
    return "ghost" if seq_len * (d_in + d_out) < d_in * d_out else "direct"


def per_example_sq_norm(x: jax.Array, g: jax.Array, mode: str = "auto") -> jax.Array:
    """||x_b^T g_b||_F^2 for x [B, T, Din], g [B, T, Dout] -> float32 [B]."""
    if mode == "auto":
        mode = choose_mode(x.shape[1], x.shape[2], g.shape[2])
    x = x.astype(jnp.float32)
    g = g.astype(jnp.float32)
    if mode == "direct":
        grad = jnp.einsum("btd,bte->bde", x, g)
        return jnp.sum(jnp.square(grad), axis=(1, 2))
    if mode == "ghost":
        xx = jnp.einsum("btd,bsd->bts", x, x)
        gg = jnp.einsum("bte,bse->bts", g, g)
        return jnp.sum(xx * gg, axis=(1, 2))
    raise ValueError(f"unknown norm mode {mode!r}; choose one of {', '.join(MODES)}")


@partial(jax.custom_vjp, nondiff_argnums=(4,))
def tapped_matmul(x: jax.Array, w_all: jax.Array, layer: jax.Array, tap: jax.Array,
                  mode: str = "auto") -> jax.Array:
    """x [B, T, Din] @ w_all[layer] ([L, Din, Dout] stack) -> [B, T, Dout].

    d/d tap [B] = per-example ||dL_b / dw_all[layer]||_F^2; no cotangent for the weights.
    """
    del tap
    return jnp.einsum("btd,de->bte", x, w_all[layer].astype(x.dtype))


def _fwd(x, w_all, layer, tap, mode):
    del tap
    return jnp.einsum("btd,de->bte", x, w_all[layer].astype(x.dtype)), (x, w_all, layer)


def _bwd(mode, res, g):
    x, w_all, layer = res
    dx = jnp.einsum("bte,de->btd", g, w_all[layer].astype(g.dtype))
    return dx, None, None, per_example_sq_norm(x, g, mode)


tapped_matmul.defvjp(_fwd, _bwd)


@jax.custom_vjp
def dense(x: jax.Array, w: jax.Array) -> jax.Array:
    """x [..., Din] @ w [Din, Dout] -> [..., Dout] (w cast to x's dtype)."""
    return jnp.einsum("...d,de->...e", x, w.astype(x.dtype))


def _dense_fwd(x, w):
    return dense(x, w), (x, w)


def _dense_bwd(res, g):
    x, w = res
    dx = jnp.einsum("...e,de->...d", g, w.astype(g.dtype))
    dw = jnp.einsum("...d,...e->de", x, g.astype(x.dtype), preferred_element_type=jnp.float32)
    return dx, dw.astype(w.dtype)


dense.defvjp(_dense_fwd, _dense_bwd)
