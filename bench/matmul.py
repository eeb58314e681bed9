"""The machine's float32 matmul peak: jnp.dot (XLA) vs torch.mm vs numpy, GFLOP/s per shape.

The probe and training steps are judged against the best of these ("fraction of peak"), so the
bench prints each library's rate per shape and the best rate any of them reaches.

    python bench/matmul.py [--sizes 256 512 1024 2048] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402


def rate(fn, flops: float, seconds: float = 0.5) -> float:
    """GFLOP/s of fn() (best of repeated calls over about `seconds`, after one warm-up)."""
    fn()
    best, spent = float("inf"), 0.0
    while spent < seconds:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best, spent = min(best, dt), spent + dt
    return flops / best / 1e9


def shapes(sizes) -> list[tuple[int, int, int]]:
    """Square n x n x n products and the model's typical [tokens, d] x [d, 3d] projection."""
    return [(n, n, n) for n in sizes] + [(4096, 512, 1536), (4096, 1536, 512), (16, 256, 32000)]


def measure(m: int, k: int, n: int) -> dict[str, float]:
    import jax
    import jax.numpy as jnp
    import torch

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, k), np.float32), rng.standard_normal((k, n), np.float32)
    flops = 2.0 * m * k * n
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    dot = jax.jit(jnp.dot)
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    return {"jax": rate(lambda: dot(ja, jb).block_until_ready(), flops),
            "torch": rate(lambda: torch.mm(ta, tb), flops),
            "numpy": rate(lambda: a @ b, flops)}


def peak_gflops(sizes=(1024, 2048)) -> float:
    """The best float32 GFLOP/s any library reaches on square products (for 'fraction of peak')."""
    return max(max(measure(n, n, n).values()) for n in sizes)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024, 2048])
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    print(f"float32 matmul GFLOP/s, {args.threads} torch threads, load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'m x k x n':>20s} {'jnp.dot':>9s} {'torch.mm':>9s} {'numpy':>9s}")
    best = 0.0
    for m, k, n in shapes(args.sizes):
        r = measure(m, k, n)
        best = max(best, *r.values())
        print(f"{f'{m} x {k} x {n}':>20s} {r['jax']:9.1f} {r['torch']:9.1f} {r['numpy']:9.1f}")
    print(f"peak (best of all): {best:.1f} GFLOP/s")


if __name__ == "__main__":
    main(sys.argv[1:])
