"""`prism plan --config NAME`: predicted wall clock of the probe, SFT and GRPO stages, beside the
paper's Table 3."""

from __future__ import annotations

import dataclasses
import sys

from prism_jax.plan import HARDWARE, Assumptions


@dataclasses.dataclass(frozen=True)
class PlanArgs:
    """Count each stage's work for a preset (matmul FLOPs of the probe over the corpus, the SFT
    epochs, the GRPO iterations' rollouts and updates; bytes of every decode step) and turn it
    into wall clock on a named accelerator at the stated utilisation. No JAX program is run."""

    config: str = "qwen3-8b-alfworld"
    """Pipeline preset whose data sizes and settings are planned."""
    hardware: str = "a100-80gb"
    """Accelerator: one of a100-80gb, h100, h200, tpu-v5e, tpu-v5p, tpu-v6e."""
    devices: int = 8
    """Chips (the paper: 8 x A100-80GB)."""
    rl_share: float = 0.5
    """Share of the trajectories routed to RL (the paper's median split: 0.5)."""
    assumptions: Assumptions = Assumptions()
    """What the plan cannot read from the preset."""


def main(argv: list[str] | None = None, prog: str = "prism plan") -> int:
    from prism_jax.train.helptext import cli

    from prism_jax.configs import get_config
    from prism_jax.plan import TABLE3, format_seconds, plan
    from prism_jax.scale import preset_model

    args = cli(PlanArgs, args=argv, prog=prog)
    if args.hardware not in HARDWARE:
        print(f"{prog}: unknown hardware {args.hardware!r}; choose one of {', '.join(HARDWARE)}",
              file=sys.stderr)
        return 2
    try:
        cfg = get_config(args.config)
        model = preset_model(cfg)
    except ValueError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return 2
    hw = HARDWARE[args.hardware]
    a = args.assumptions
    stages = plan(model, cfg, hw, args.devices, a, args.rl_share)
    paper = TABLE3.get(cfg.env, {})
    print(f"{args.config}: {model.num_params() / 1e9:.2f}B parameters on {args.devices} x "
          f"{hw.name} ({hw.bf16_flops / 1e12:.0f} TFLOP/s bf16, {hw.hbm_bytes / 1e12:.2f} TB/s "
          f"HBM each)")
    print(f"{'stage':6s} {'predicted':>10s} {'Table 3 (PRISM Gini, 8 x A100)':>31s}  work")
    for s in stages:
        ref = format_seconds(paper[s.stage]) if s.stage in paper else "-"
        print(f"{s.stage:6s} {format_seconds(s.seconds):>10s} {ref:>31s}  {s.flops / 1e15:.1f} "
              f"PFLOP: {s.detail}")
    total = sum(s.seconds for s in stages)
    print(f"{'total':6s} {format_seconds(total):>10s} "
          f"{format_seconds(sum(paper.values())) if paper else '-':>31s}")
    print(f"assumptions: MFU {a.mfu:.0%} for probe, SFT, GRPO update and prefill; decode at "
          f"{a.decode_roofline:.0%} of the HBM roofline (weights + KV cache read per token); "
          f"trajectories {a.trajectory_fill:.0%} of the context, {a.target_fraction:.0%} of their "
          f"tokens assistant; GRPO episodes of {a.alfworld_steps if cfg.env == 'alfworld' else a.webshop_steps} "
          f"steps, {a.response_tokens}-token responses, prompts {a.prompt_fill:.0%} of the budget; "
          f"environment time not counted. Change them with --assumptions.*; bench/gpu_check.py "
          f"measures the MFU and roofline fraction on a GPU.")
    return 0
