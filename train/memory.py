"""`prism memory --config NAME`: per-device memory of the probe, SFT and GRPO steps, on paper."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class MemoryArgs:
    """Compile a preset's probe step, SFT step and GRPO update ahead of time at its real shapes
    (abstract arrays: no weights, no memory) on a mesh of --devices simulated CPU devices, and
    report each step's per-device memory from the compiler's memory analysis against a budget."""

    config: str = "qwen3-8b-alfworld"
    """Pipeline preset whose settings (model, lengths, batches, remat, dtype, fsdp) are checked."""
    devices: int = 8
    """Devices of the target machine (simulated here when the host has fewer)."""
    budget_gb: float = 80.0
    """Memory per device, GB (A100/H100 80GB)."""
    steps: tuple[str, ...] = ("probe", "sft", "grpo")
    """Steps to compile."""
    out: Path | None = None
    """Also write the report as JSON here."""


def main(argv: list[str] | None = None, prog: str = "prism memory") -> int:
    from prism_jax.train.helptext import cli
    args = cli(MemoryArgs, args=argv, prog=prog)
    if "jax" not in sys.modules:  # the device count is fixed when JAX starts
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={args.devices}")
    # imported here, after XLA_FLAGS: prism_jax imports JAX, which fixes its device count then
    import jax
    import jax.numpy as jnp

    from prism_jax.configs import get_config
    from prism_jax.files import write_json
    from prism_jax.scale import STEPS, as_dict, preset_model
    from prism_jax.sharding import make_mesh

    if jax.device_count() < args.devices:
        raise SystemExit(f"{prog}: {jax.device_count()} devices visible, {args.devices} needed "
                         "(run in a fresh process so the simulated devices can be created)")
    try:
        cfg = get_config(args.config)
        model = preset_model(cfg)
    except ValueError as e:
        raise SystemExit(f"{prog}: {e}") from None
    dtype = lambda name: jnp.bfloat16 if name == "bfloat16" else jnp.float32
    devices = jax.devices()[: args.devices]
    sft, grpo = cfg.sft, cfg.grpo
    mesh = make_mesh(-1, sft.mesh_fsdp, sft.mesh_tensor, devices=devices)
    shards = mesh.shape["data"] * mesh.shape["fsdp"]
    plans = {
        "probe": dict(batch=max(cfg.probe_batch_size, shards), seq_len=cfg.max_len,
                      remat=cfg.probe_remat, dtype=dtype(cfg.model.dtype)),
        "sft": dict(batch=sft.batch_size * shards, seq_len=sft.max_len, accum_steps=sft.accum_steps,
                    remat=sft.remat, dtype=dtype(sft.dtype)),
        "grpo": dict(batch=-(-grpo.micro_batch // shards) * shards,
                     seq_len=(grpo.max_prompt_len or cfg.max_len) + grpo.max_new_tokens,
                     remat=grpo.remat, dtype=dtype(grpo.dtype)),
    }
    rows = []
    print(f"{args.config}: {model.model_type}, {model.num_layers} layers, "
          f"{model.num_params() / 1e9:.2f}B parameters; mesh {dict(mesh.shape)}; budget "
          f"{args.budget_gb:g} GB per device")
    for name in args.steps:
        m = STEPS[name](model, mesh, **plans[name])
        fits = m.total_gib * 2**30 <= args.budget_gb * 1e9
        rows.append({**as_dict(m), "fits": fits, "budget_gb": args.budget_gb})
        print(f"  {name:5s} batch {m.batch:4d} x {m.seq_len:5d} tokens, remat {m.remat:4s}, {m.dtype}: "
              f"{m.total_gib:6.2f} GiB/device (arguments {m.arguments_gib:.2f}, temporaries "
              f"{m.temp_gib:.2f}, outputs {m.outputs_gib:.2f}, aliased {m.alias_gib:.2f}) "
              f"{'fits' if fits else 'DOES NOT FIT'}")
    if args.out:
        write_json(args.out, {"config": args.config, "steps": rows})
    return 0 if all(r["fits"] for r in rows) else 1
