"""Throughput of a hyper-parameter grid trained stacked (vmap) vs one member at a time.

The grid: 4 learning rates x 4 init seeds (16 members) of one MLP shape on breast_cancer, every
member trained for the same epochs and batch size. ``--order shared`` (default): every member
sees the same batches, as in ``task=grid_search``, so the members run as batched layers (one
bmm per layer); ``--order own``: each member its own batch order (seeded by its init seed),
which goes through ``vmap``. A third row trains the same grid with torch.func alone (the
models' parameters stacked by ``stack_module_state``, one ``vmap`` of ``functional_call`` per
step, a plain SGD update of the stacked tensors with each member's lr): what the batched layers
are measured against. Sequential training is the bare loop (``torch.optim.SGD``, one
member after another); stacked training is ``initlab.training.stacked.train_stacked``. Both
end with a train and test evaluation. Throughput: member-steps per second (members x steps /
wall time, median of interleaved repeats). The CPU is shared, so each case records the load
average around it. Writes benchmarks/results/stacked.json. Target: stacked >= 5x sequential
with 2 torch threads.

    python benchmarks/bench_stacked.py [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from initlab.compose import compose
from initlab.data import build_data
from initlab.setup import parse_config
from initlab.training import epoch_order
from initlab.training.stacked import StackedModels, train_stacked

TARGET = 5.0


def grid_models(setup, data, seeds):
    models = []
    for seed in seeds:
        torch.manual_seed(seed)
        models.append(setup.new_model(data))
    return models


def sequential(models, data, lrs, seeds, epochs, batch_size) -> tuple[float, int]:
    x, y = data.x_train, data.y_train
    n, steps = len(x), 0
    start = time.perf_counter()
    for model, lr, seed in zip(models, lrs, seeds, strict=True):
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        for epoch in range(epochs):
            order = epoch_order(n, seed, epoch)
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                loss = F.cross_entropy(model(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                steps += 1
        with torch.no_grad():
            for xs, ys in ((x, y), (data.x_test, data.y_test)):
                logits = model(xs)
                F.cross_entropy(logits, ys).item(), (logits.argmax(1) == ys).float().mean().item()
    return time.perf_counter() - start, steps


def stacked(models, data, lrs, seeds, epochs, batch_size) -> tuple[float, int]:
    start = time.perf_counter()
    result = train_stacked(
        models,
        data.x_train,
        data.y_train,
        lr=lrs,
        epochs=epochs,
        batch_size=batch_size,
        order_seeds=seeds,
        eval_sets={"test": (data.x_test, data.y_test)},
    )
    return time.perf_counter() - start, result.steps * len(models)


def torch_func(models, data, lrs, seeds, epochs, batch_size) -> tuple[float, int]:
    """The grid through torch.func only: vmap(functional_call) over stacked parameters, one
    backward of the summed member losses, SGD with a per-member lr (batches of ``seeds[0]``'s
    order, shared by every member)."""
    from torch.func import functional_call, stack_module_state, vmap

    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")
    lr = torch.tensor(lrs)

    def one(p, b, xb):
        return functional_call(base, (p, b), (xb,))

    forward = vmap(one, in_dims=(0, 0, None))
    x, y = data.x_train, data.y_train
    n, steps = len(x), 0
    start = time.perf_counter()
    for epoch in range(epochs):
        order = epoch_order(n, seeds[0], epoch)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            logits = forward(params, buffers, x[idx])  # (K, b, classes)
            target = y[idx].expand(len(models), -1)
            loss = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none")
            loss.view(len(models), -1).mean(1).sum().backward()
            with torch.no_grad():
                for p in params.values():
                    p -= lr.view(-1, *[1] * (p.dim() - 1)) * p.grad
                    p.grad = None
            steps += 1
    with torch.no_grad():
        for xs, ys in ((x, y), (data.x_test, data.y_test)):
            logits = forward(params, buffers, xs)
            (logits.argmax(-1) == ys).float().mean(1).tolist()
    return time.perf_counter() - start, steps * len(models)


# (activation, init, width): ReLU+He and the SNN's SELU+LeCun at the SNN grid's small end (width
# 256), and narrower nets, where one member's step is mostly Python overhead, not arithmetic.
CASES = {
    "relu_he_4x256": ("relu", "he", 256),
    "selu_lecun_4x256": ("selu", "lecun", 256),
    "relu_he_4x64": ("relu", "he", 64),
    "relu_he_4x32": ("relu", "he", 32),
}


def training_gflop(model, rows: int, epochs: int, members: int) -> float:
    """Multiply-adds of the linear layers x 2 (forward) x 3 (forward + two backward products)."""
    macs = sum(
        m.in_features * m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)
    )
    return 6 * macs * rows * epochs * members / 1e9


def peak_bmm_gflops(members: int, batch: int, width: int, repeats: int = 50) -> float:
    """GFLOP/s of one stacked hidden-layer product, the most this CPU gives the stacked step."""
    a, w = torch.randn(members, batch, width), torch.randn(members, width, width)
    torch.bmm(a, w)
    start = time.perf_counter()
    for _ in range(repeats):
        torch.bmm(a, w)
    return 2 * members * batch * width * width * repeats / (time.perf_counter() - start) / 1e9


def run_case(args, activation: str, init: str, width: int) -> dict:
    overrides = [
        "data=breast_cancer",
        "model=mlp",
        f"model.activation={activation}",
        f"init={init}",
        "model.norm=none",
        f"model.depth={args.depth}",
        f"model.width={width}",
        "device=cpu",
        "logger.wandb.mode=disabled",
    ]
    setup = parse_config(compose(overrides))
    data = build_data(setup.data)
    grid = list(itertools.product([float(v) for v in args.lrs.split(",")], range(args.seeds)))
    lrs = [lr for lr, _ in grid]
    seeds = [seed for _, seed in grid]
    orders = [0] * len(grid) if args.order == "shared" else seeds
    run_args = (data, lrs, orders, args.epochs, args.batch_size)
    batched = StackedModels(grid_models(setup, data, seeds[:2])).batched is not None
    load_before = os.getloadavg()[0]  # other processes on the shared CPU skew the timings
    seq_times, stack_times, func_times, member_steps = [], [], [], 0
    for _ in range(args.repeats):  # interleaved, so drifts hit both alike
        elapsed, member_steps = sequential(grid_models(setup, data, seeds), *run_args)
        seq_times.append(elapsed)
        elapsed, stacked_steps = stacked(grid_models(setup, data, seeds), *run_args)
        stack_times.append(elapsed)
        assert stacked_steps == member_steps
        if args.order == "shared":
            elapsed, func_steps = torch_func(grid_models(setup, data, seeds), *run_args)
            func_times.append(elapsed)
            assert func_steps == member_steps
    seq, stk = statistics.median(seq_times), statistics.median(stack_times)
    gflop = training_gflop(
        grid_models(setup, data, seeds[:1])[0], len(data.x_train), args.epochs, len(grid)
    )
    peak = peak_bmm_gflops(len(grid), args.batch_size, width)
    return {
        "model": {"depth": args.depth, "width": width, "activation": activation, "init": init},
        "members": len(grid),
        "path": "batched layers" if batched and args.order == "shared" else "vmap",
        "grid": {"lr": sorted(set(lrs)), "init_seeds": args.seeds},
        "train_rows": len(data.x_train),
        "member_steps": member_steps,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        "sequential_s": seq_times,
        "stacked_s": stack_times,
        "sequential_member_steps_per_s": member_steps / seq,
        "stacked_member_steps_per_s": member_steps / stk,
        "speedup": seq / stk,
        "torch_func_s": func_times,
        "torch_func_member_steps_per_s": (
            member_steps / statistics.median(func_times) if func_times else None
        ),
        "stacked_vs_torch_func": statistics.median(func_times) / stk if func_times else None,
        "meets_target": seq / stk >= TARGET,
        "sequential_gflops": gflop / seq,
        "stacked_gflops": gflop / stk,
        "peak_bmm_gflops": peak,
        "speedup_bound_by_compute": peak * seq / gflop,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--lrs", default="0.001,0.01,0.05,0.1")
    parser.add_argument("--seeds", type=int, default=4, help="init seeds per learning rate")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target: 2)")
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--order", choices=("shared", "own"), default="shared")
    parser.add_argument("--out", default="benchmarks/results/stacked.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name in args.cases.split(","):
        results[name] = run_case(args, *CASES[name])
        print(name, json.dumps(results[name], indent=1), flush=True)
    payload = {
        "benchmark": "stacked",
        "data": "breast_cancer",
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "batch_order": args.order,
        "repeats": args.repeats,
        "threads": args.threads,
        "target_speedup": TARGET,
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "cases": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
