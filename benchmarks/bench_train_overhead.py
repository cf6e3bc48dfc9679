"""Per-step time of initlab's training loop against a bare PyTorch loop on the same work.

Both train the same model (same init, data, batch order, optimizer) for the same steps and
evaluate once at the end. initlab's loop adds what a run needs: divergence checks every step,
metrics.csv + W&B (offline) logging every ``log_every`` steps, a checkpoint every epoch.
Also counted, with PyTorch's profiler: ATen operators per step of both loops (what the loop's
own bookkeeping adds, independent of the machine's speed) and the host reads (``aten::item``)
of one train/val/test evaluation (target: none; the numbers come back in one transfer).
Writes benchmarks/results/train_overhead.json. Target: overhead under 5%.

    python benchmarks/bench_train_overhead.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from initlab.compose import compose
from initlab.data import build_data
from initlab.run import Run, seed_everything
from initlab.setup import parse_config
from initlab.training import epoch_order, evaluate_splits, train_model

CASES = {
    "mlp_digits": ["model=mlp", "model.depth=4", "model.width=128", "data=digits"],
    "resnet_digits_conv": [
        "model=resnet",
        "init=fixup",
        "model.depth=4",
        "model.width=16",
        "data=digits",
    ],
}
COMMON = [
    "device=cpu",
    "task.epochs=50",
    "task.batch_size=64",
    "task.eval_every=50",
    "logger.progress=off",
    "optim.lr=0.01",
]


def bare_loop(setup, data) -> float:
    seed_everything(setup.seed, True)
    model = setup.new_model(data)
    opt = torch.optim.SGD(model.parameters(), lr=setup.optim.lr, momentum=setup.optim.momentum)
    x, y = data.x_train, data.y_train
    bs, n = setup.task.batch_size, len(x)
    start = time.perf_counter()
    for epoch in range(setup.task.epochs):
        order = epoch_order(n, setup.seed, epoch)
        for i in range(0, n, bs):
            idx = order[i : i + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])  # what model.objective computes
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    evaluate_splits(model, data, 1024)
    return time.perf_counter() - start


def initlab_loop(setup, data, wandb_mode: str) -> tuple[float, int]:
    seed_everything(setup.seed, True)
    model = setup.new_model(data)
    with tempfile.TemporaryDirectory() as tmp:
        logger = setup.logger
        logger.wandb.mode = wandb_mode
        run = Run(Path(tmp), setup.resolved, setup.seed, setup.device, logger)
        start = time.perf_counter()
        outcome = train_model(model, data, setup.task, setup.optim, run, setup.seed)
        elapsed = time.perf_counter() - start
        run.finish(outcome.status, outcome.metrics)
    return elapsed, outcome.steps


def aten_ops(fn) -> dict[str, int]:
    """Calls of each ATen operator while ``fn()`` runs (CPU profiler, no shapes or stacks)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    counts: dict[str, int] = {}
    for event in prof.events():
        if event.name.startswith("aten::"):
            counts[event.name] = counts.get(event.name, 0) + 1
    return counts


def op_counts(setup, data, steps: int) -> dict[str, float]:
    """ATen operators per step of each loop (their final evaluations included) and the host
    reads of one evaluation of the three splits."""
    bare = sum(aten_ops(lambda: bare_loop(setup, data)).values())
    ours = sum(aten_ops(lambda: initlab_loop(setup, data, "disabled")).values())
    seed_everything(setup.seed, True)
    model = setup.new_model(data)
    reads = aten_ops(lambda: evaluate_splits(model, data, 1024))
    return {
        "bare_aten_ops_per_step": bare / steps,
        "initlab_aten_ops_per_step": ours / steps,
        "aten_ops_ratio": ours / bare,
        "evaluation_host_reads": reads.get("aten::item", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/train_overhead.json")
    args = parser.parse_args()
    torch.set_num_threads(1)  # steady timings on a shared 2-core machine
    results = {}
    for name, overrides in CASES.items():
        setup = parse_config(compose([*COMMON, *overrides]))
        data = build_data(setup.data)
        bare, ours, ours_wandb, steps = [], [], [], 0
        load_before = os.getloadavg()[0]  # other processes on a shared CPU skew the timings
        for _ in range(args.repeats):  # interleaved, so drifts hit all three alike
            bare.append(bare_loop(setup, data))
            elapsed, steps = initlab_loop(setup, data, "disabled")
            ours.append(elapsed)
            ours_wandb.append(initlab_loop(setup, data, "offline")[0])
        b, o, w = (statistics.median(t) for t in (bare, ours, ours_wandb))
        load_after = os.getloadavg()[0]
        results[name] = {
            **op_counts(setup, data, steps),
            "steps": steps,
            "load_average_1min_before": load_before,
            "load_average_1min_after": load_after,
            "bare_ms_per_step_each": [1e3 * t / steps for t in bare],
            "initlab_ms_per_step_each": [1e3 * t / steps for t in ours],
            "bare_ms_per_step": 1e3 * b / steps,
            "initlab_ms_per_step": 1e3 * o / steps,
            "initlab_wandb_offline_ms_per_step": 1e3 * w / steps,
            "overhead_pct": 100 * (o - b) / b,
            "overhead_wandb_offline_pct": 100 * (w - b) / b,
            "target_pct": 5.0,
            "meets_target": (o - b) / b < 0.05 and (w - b) / b < 0.05,
        }
        print(name, json.dumps(results[name], indent=1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "train_overhead",
        "repeats": args.repeats,
        "threads": 1,
        "machine": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "cases": results,
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
