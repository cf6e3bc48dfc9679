"""Real step times on a GPU of the cases bench_launches.py estimates, and the CUDA paths.

Run by ``benchmarks/gpu_check.sh`` (which also runs DDP through torchrun). Cases: the E4 grid
member (snn, width 256, depth 8, batch 64) one by one vs 64 stacked, fp32; the CIFAR ResNet-110
(Fixup) at batch 128, fp32 vs bf16 autocast (channels_last); each timed with CUDA events over
a few steps after warm-up. Checks: ``device=auto`` picks cuda, a bf16 ``task=train`` run
completes. Writes benchmarks/results/gpu_check.json. Without CUDA it says so and exits 0.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from initlab.compose import compose
from initlab.data import DataBundle
from initlab.main import execute
from initlab.optim import build_optimizer
from initlab.setup import parse_config
from initlab.training.stacked import train_stacked


def timed(fn, repeats: int = 5) -> float:
    fn()  # warm-up (allocations, cuDNN autotune)
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def e4_case(members: int) -> dict:
    setup = parse_config(
        compose(
            [
                "arm=fnn_snn",
                "model.width=256",
                "model.depth=8",
                "optim=sgd",
                "device=cuda",
                "logger.wandb.mode=disabled",
                "data=iris",
            ]
        )
    )
    n, batch = 64 * 20, 64
    x = torch.randn(n, 64, device="cuda")
    y = torch.randint(0, 4, (n,), device="cuda")
    data = DataBundle("gpu", x, y, x[:256], y[:256], x[:0], y[:0], 4)
    models = [setup.new_model(data) for _ in range(members)]
    one = models[0]
    optimizer, _ = build_optimizer(setup.optim, one.parameters(), 100)

    def alone() -> None:  # one member's epoch, with the loop's per-step loss read
        for start in range(0, n, batch):
            loss = one.objective(x[start : start + batch], y[start : start + batch])["loss"].mean()
            loss.item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def stacked() -> None:
        train_stacked(
            models,
            x,
            y,
            epochs=1,
            batch_size=batch,
            order_seeds=[0] * members,
            optims=[setup.optim] * members,
        )

    steps = n // batch
    t_alone, t_stack = timed(alone) / steps, timed(stacked, 2) / steps
    return {
        "one_by_one_s_per_member_step": t_alone,
        "stacked_s_per_member_step": t_stack / members,
        "members": members,
        "speedup": t_alone * members / t_stack,
    }


def resnet_case(precision: str) -> dict:
    setup = parse_config(
        compose(
            [
                "arm=resnet_fixup",
                "model.depth=54",
                "model.stages=3",
                "model.width=16",
                "device=cuda",
                "logger.wandb.mode=disabled",
            ]
        )
    )
    x = torch.randn(128, 3, 32, 32, device="cuda").contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (128,), device="cuda")
    data = DataBundle("gpu", x, y, x[:0], y[:0], x[:0], y[:0], 10)
    model = setup.new_model(data).to(memory_format=torch.channels_last)
    optimizer, _ = build_optimizer(setup.optim, model.parameters(), 100)
    dtype = torch.bfloat16 if precision == "bf16" else None

    def step() -> None:
        with torch.autocast("cuda", dtype=dtype, enabled=dtype is not None):
            loss = model.objective(x, y)["loss"].float().mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return {"s_per_step": timed(step, 10), "precision": precision}


def main() -> int:
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA device here; nothing measured (run it where a GPU is at hand)")
        return 0
    results = {"device": torch.cuda.get_device_name(0), "gpus": torch.cuda.device_count()}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose(
            [
                "logger.wandb.mode=disabled",
                "logger.progress=off",
                "task.epochs=1",
                "task.precision=bf16",
            ]
        )
        summary = execute(cfg, Path(tmp) / "bf16")
        results["device_auto_and_bf16_run"] = {
            "status": summary["status"],
            "device": summary.get("device"),
        }
    for members in (16, 64):
        results[f"e4_snn_w256_d8_k{members}"] = e4_case(members)
        print(json.dumps(results[f"e4_snn_w256_d8_k{members}"]), flush=True)
    for precision in ("fp32", "bf16"):
        results[f"cifar_resnet110_fixup_{precision}"] = resnet_case(precision)
        print(json.dumps(results[f"cifar_resnet110_fixup_{precision}"]), flush=True)
    out = Path("benchmarks/results/gpu_check.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
