"""Peak memory and time per training step of the 162-layer ResNet-VAE preset.

For each resolution (and with / without activation checkpointing) one child process builds
``model=resnet_vae_162`` at that resolution for 3-channel 32x32 inputs (upsampled, as CIFAR-10),
runs one warm-up step and ``--steps`` timed Adam steps on a batch of ``--batch`` random images,
and reports the median wall-clock and process CPU seconds per step (CPU time is the steadier
number on a shared machine) and the peak memory: on CUDA the allocator's peak, on
CPU the growth of the process's peak resident set over its size after building the model (a
separate process per case, so one case's peak cannot hide another's). Writes
benchmarks/results/vae.json.

    python benchmarks/bench_vae.py [--resolutions 32 64 128] [--batch 2] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent / "results" / "vae.json"
DATA_SHAPE = (3, 32, 32)


def _peak_rss_mb() -> float:
    scale = 1024.0 if sys.platform != "darwin" else 1024.0**2  # ru_maxrss: KiB (Linux), B (mac)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def one_case(resolution: int, checkpointing: bool, batch: int, steps: int, device: str) -> dict:
    from initlab.compose import compose
    from initlab.models import build_model
    from initlab.setup import parse_config

    overrides = ["logger.wandb.mode=disabled", "model=resnet_vae_162"]
    overrides += [
        f"model.resolution={resolution}",
        f"model.activation_checkpointing={checkpointing}",
    ]
    setup = parse_config(compose(overrides))
    torch.manual_seed(0)
    model = build_model(setup.model, DATA_SHAPE, 10).to(device)
    optimizer = torch.optim.Adam(model.parameters(), 1e-4)
    x = torch.randn(batch, *DATA_SHAPE, device=device)
    base_rss = _peak_rss_mb()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, cpu_times = [], []
    for step in range(steps + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        model.objective(x, None)["loss"].mean().backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if step:  # the first step warms up
            times.append(time.perf_counter() - start)
            cpu_times.append(time.process_time() - cpu_start)
    peak = (
        torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else _peak_rss_mb() - base_rss
    )
    return {
        "resolution": resolution,
        "activation_checkpointing": checkpointing,
        "weight_layers": setup.model.depth,
        "parameters": sum(p.numel() for p in model.parameters()),
        "batch": batch,
        "seconds_per_step": statistics.median(times),
        "cpu_seconds_per_step": statistics.median(cpu_times),
        "peak_memory_mb": round(peak, 1),
        "memory_measure": "cuda max_memory_allocated" if device == "cuda" else "peak RSS growth",
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)  # child: resolution ckpt
    args = parser.parse_args()
    if args.case:
        result = one_case(
            int(args.case[0]), args.case[1] == "1", args.batch, args.steps, args.device
        )
        print(json.dumps(result))
        return 0
    results = []
    for resolution in args.resolutions:
        for ckpt in (False, True):
            command = [sys.executable, __file__, "--case", str(resolution), str(int(ckpt))]
            command += ["--batch", str(args.batch), "--steps", str(args.steps)]
            command += ["--device", args.device]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(results[-1], flush=True)
    report = {
        "benchmark": "resnet_vae_162 training step (Adam), random 3x32x32 inputs upsampled",
        "device": args.device,
        "cpu": platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cases": results,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
