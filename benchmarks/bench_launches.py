"""Kernel launches, host syncs and FLOPs per member-step of the paper-scale trainings, and an
estimated GPU time per step, measured without a GPU.

Everything runs on PyTorch's ``meta`` device (shapes, no data, no memory), so every case is at its
paper size: the E4 grids at widths 256/512/1024 and depth 8 with 16/32/64 stacked members, the
CIFAR-10 ResNet-110 (``model=resnet depth=54 stages=3 width=16``, Fixup and He+BatchNorm,
batch 128, SGD with momentum) and the 162-layer ResNet-VAE (``conf/model/resnet_vae_162.yaml``
at its 1024 x 1024 resolution, batch 16, Adam, activation checkpointing, as e.g.
``d2_pdi_vae_full`` runs it).

* launches: ATen ops dispatched below autograd (a ``TorchDispatchMode``), without ops that
  launch nothing (views, ``empty``/``empty_like``, scalar reads). One op is about one CUDA
  kernel (a few fused or multi-kernel ops aside; ``_foreach`` ops on fewer than ~100 tensors are
  one launch). Optimizers run with ``foreach=True``, their CUDA default.
* host syncs: reads of a device value by the host: ``_local_scalar_dense`` (``.item()``,
  ``float()``, ``bool()``), ``.tolist()``, ``.cpu()``/``.numpy()``, data-dependent shapes
  (``nonzero``, ``masked_select``, ``unique``). On meta these return placeholders.
* FLOPs: ``torch.utils.flop_counter.FlopCounterMode`` (matmul/conv/bmm, forward and backward).
* bytes: the sum of the outputs of the counted ops, x3 for reads (a rough memory-traffic count).

Per-step numbers come from the real loops: ``initlab.tasks.grid_search.train_member`` (one by one)
and ``initlab.training.stacked.train_stacked`` (stacked) each run for one epoch of 2 and of 4
steps; the difference over 2 steps is the cost of one step (model building, first-step state and
the epoch's scoring cancel; what is left of the 2-step run besides its steps -- building and
initializing the members, stacking them, one epoch's scoring as grid_search does it -- is
``setup_and_epoch_end``). All of them step in the one loop, ``initlab.training.fit``. The conv
trainings run ``fit`` for one epoch of ``log_every`` and of ``2 x log_every`` steps (the task's
``log_every``: 50 for ``train``, 10 for ``train_vae``), so their per-step syncs are the loop's
reads at a logged step divided by ``log_every``.

Estimated GPU time per step (A100-40GB-class, constants below with their sources):
``launches x LAUNCH_S + max(FLOPs / rate, bytes / BANDWIDTH) + syncs x SYNC_S``, no credit for
host/device overlap. Writes ``benchmarks/results/launches.json``; ``est_gpu_seconds_per_step``
per case is what ``scripts/reproduce.py --plan`` can read.

    python benchmarks/bench_launches.py [--out benchmarks/results/launches.json]
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

from initlab.compose import compose
from initlab.data import DataBundle
from initlab.inits import initialize
from initlab.inits.base import InitContext
from initlab.models.base import build_model
from initlab.optim import build_optimizer
from initlab.setup import parse_config
from initlab.tasks import grid_search
from initlab.training import Batches, fit
from initlab.training.stacked import StackedModels, train_stacked

# ---- the cost model (A100 40 GB, PCIe/SXM) ----------------------------------------------------
# Per-launch cost of an eager PyTorch op: ~5-10 us of host time (dispatcher + CUDA launch); the
# middle, 7 us (PyTorch's "performance tuning guide" and the CUDA Graphs blog, pytorch.org, give
# launch overheads of this order).
LAUNCH_S = 7e-6
# A host sync drains the stream: the host waits for the queued work, then the GPU idles while the
# host queues the next kernels; ~20 us beyond the launches themselves (stream round trip).
SYNC_S = 20e-6
# NVIDIA A100 datasheet: 19.5 TFLOP/s FP32 (no tensor cores), 156 TF32, 312 BF16 dense; achieved
# fractions are assumptions for the mid-sized matmuls/convs here (fp32 runs as TF32 only if
# allowed, so plain FP32 is taken).
PEAK_FP32, PEAK_BF16 = 19.5e12, 312e12
ACHIEVED_FRACTION_FP32, ACHIEVED_FRACTION_BF16 = 0.6, 0.35
# NVIDIA A100 40 GB datasheet: 1,555 GB/s HBM2; 70% achieved by elementwise kernels.
BANDWIDTH = 0.7 * 1555e9

NO_LAUNCH = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "lift_fresh"}
SYNC_OPS = {"_local_scalar_dense", "nonzero", "masked_select", "unique", "_unique2", "is_nonzero"}


class Count(TorchDispatchMode):
    """Counts launching ops, host syncs and output bytes; fakes scalar reads on meta."""

    def __init__(self) -> None:
        super().__init__()
        self.launches = self.syncs = self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        on_device = any(
            isinstance(a, torch.Tensor) and a.device.type != "cpu"
            for a in torch.utils._pytree.tree_leaves((args, kwargs))
        )  # ops on host tensors (CPU-side bookkeeping) neither launch nor sync
        if name in SYNC_OPS and on_device:
            self.syncs += 1
            if name in ("_local_scalar_dense", "is_nonzero"):  # a placeholder value on meta
                # a flag read by the loop is "diverged?": a healthy run reads False
                return False if args[0].dtype == torch.bool else 0.5
        out = func(*args, **(kwargs or {}))
        if on_device and not func.is_view and name not in NO_LAUNCH and name not in SYNC_OPS:
            self.launches += 1
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor):
                    self.bytes += t.numel() * t.element_size()
        return out


def measure(fn: Callable[[], Any]) -> dict[str, float]:
    """Launches, syncs, bytes and FLOPs of ``fn()`` (host reads of tensors count as syncs)."""
    counter = Count()
    flops = FlopCounterMode(display=False)
    real_tolist, real_cpu = torch.Tensor.tolist, torch.Tensor.cpu

    def tolist(t):
        if t.device.type != "meta":
            return real_tolist(t)
        counter.syncs += 1
        return torch.full(t.shape, 0.5).tolist()

    def cpu(t, *a, **k):
        if t.device.type != "meta":
            return real_cpu(t, *a, **k)
        counter.syncs += 1
        return torch.full(t.shape, 0.5, dtype=t.dtype)

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(torch.Tensor, "tolist", tolist))
        stack.enter_context(mock.patch.object(torch.Tensor, "cpu", cpu))
        stack.enter_context(flops)
        stack.enter_context(counter)
        fn()
    return {
        "launches": counter.launches,
        "syncs": counter.syncs,
        "bytes": 3 * counter.bytes,
        "flops": flops.get_total_flops(),
    }


def per_step(run: Callable[[int], Any], steps: tuple[int, int] = (2, 4)) -> dict[str, dict]:
    """Costs of one step and of the rest of an epoch, from runs of ``steps[0]``/``[1]`` steps."""
    a, b = measure(lambda: run(steps[0])), measure(lambda: run(steps[1]))
    step = {k: (b[k] - a[k]) / (steps[1] - steps[0]) for k in a}
    epoch = {k: a[k] - steps[0] * step[k] for k in a}
    return {"step": step, "setup_and_epoch_end": epoch}


def estimate(costs: dict[str, float], precision: str) -> float:
    peak, fraction = {
        "fp32": (PEAK_FP32, ACHIEVED_FRACTION_FP32),
        "bf16": (PEAK_BF16, ACHIEVED_FRACTION_BF16),
    }[precision]
    compute = max(costs["flops"] / (peak * fraction), costs["bytes"] / BANDWIDTH)
    return costs["launches"] * LAUNCH_S + compute + costs["syncs"] * SYNC_S


# ---- E4: one grid member at a time vs stacked --------------------------------------------------

E4_FEATURES, E4_CLASSES, E4_BATCH = 64, 4, 64  # a mid-sized UCI set; the paper's batch size


def e4_setup(fnn: str, width: int, depth: int):
    overrides = [
        "task=grid_search",
        f"arm=fnn_{fnn}",
        f"task.method=fnn_{fnn}",
        "optim=sgd",
        "optim.momentum=0.0",
        f"model.width={width}",
        f"model.depth={depth}",
        f"task.batch_size={E4_BATCH}",
        "task.epochs=1",
        "data=iris",  # parsed only; the tensors below replace it
        "data.val_fraction=0.15",
        "device=cpu",
        "logger.wandb.mode=disabled",
        "logger.progress=off",
    ]
    return parse_config(compose(overrides))


def meta_data(n_train: int, n_eval: int = 256) -> DataBundle:
    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.empty(n, E4_FEATURES, device="meta")
        return x, torch.zeros(n, dtype=torch.long, device="meta")

    return DataBundle("meta", *split(n_train), *split(n_eval), *split(n_eval), E4_CLASSES)


def meta_model(setup, data: DataBundle):
    with torch.device("meta"):
        model = build_model(setup.model, data.input_shape, data.num_classes)
        initialize(model, setup.init, InitContext(data=data))
    return model


def foreach_optimizers():
    """``build_optimizer`` with ``foreach=True``, as torch picks it for CUDA tensors."""
    real = grid_search.build_optimizer

    def build(cfg, params, total):
        optimizer, scheduler = real(cfg, params, total)
        for group in optimizer.param_groups:
            group["foreach"] = True
        return optimizer, scheduler

    return mock.patch.object(grid_search, "build_optimizer", build)


def e4_one_by_one(fnn: str, width: int, depth: int) -> dict:
    setup = e4_setup(fnn, width, depth)

    def run(steps: int) -> None:
        data = meta_data(steps * E4_BATCH)
        with (
            foreach_optimizers(),
            mock.patch.object(grid_search, "new_member_model", lambda m, d, i: meta_model(m, d)),
        ):
            grid_search.train_member(setup.task, setup, data, 0)

    return per_step(run)


def e4_stacked(fnn: str, width: int, depth: int, members: int) -> dict:
    setup = e4_setup(fnn, width, depth)

    def run(steps: int) -> None:
        data = meta_data(steps * E4_BATCH)
        models = [meta_model(setup, data) for _ in range(members)]
        x_val, y_val = data.split("val")
        splits = (x_val, y_val, x_val[:0], y_val[:0])

        def on_epoch_end(epoch, stack, losses):  # grid_search's own scoring after each epoch
            grid_search.epoch_scores(stack, losses, splits, "accuracy", setup.task.eval_batch_size)

        # train_stacked ends with an evaluation on the whole training set, whose size grows
        # with the steps here; grid_search scores per epoch instead, so it is left out
        with mock.patch.object(StackedModels, "evaluate", lambda self, x, y, prefix: [{}] * self.k):
            train_stacked(
                models,
                data.x_train,
                data.y_train,
                epochs=1,
                batch_size=E4_BATCH,
                order_seeds=[0] * members,
                optims=[setup.optim] * members,
                on_epoch_end=on_epoch_end,
            )

    costs = per_step(run)
    return {part: {k: v / members for k, v in values.items()} for part, values in costs.items()} | {
        "per_stack_step": costs["step"]
    }


# ---- conv trainings, one model ------------------------------------------------------------------


def conv_case(overrides: list[str], shape: tuple[int, ...], batch: int) -> dict:
    """fp32 counts of one step; bf16 (autocast) adds a cast of every weight layer's weight in the
    forward and of its gradient in the backward, and halves the activation bytes (meta tensors
    do not autocast, so this is computed, not counted)."""
    setup = parse_config(
        compose([*overrides, "device=cpu", "logger.wandb.mode=disabled", "logger.progress=off"])
    )
    x = torch.empty(batch, *shape, device="meta")
    y = torch.zeros(batch, dtype=torch.long, device="meta")
    data = DataBundle("meta", x, y, x[:0], y[:0], x[:0], y[:0], 10)
    model = meta_model(setup, data)
    model.train()
    optimizer, scheduler = build_optimizer(setup.optim, model.parameters(), 1000)
    for group in optimizer.param_groups:
        group["foreach"] = True

    log_every = setup.task.log_every

    def run(steps: int) -> None:  # the one loop, as train_model runs it: one epoch of `steps`
        xs = torch.empty(steps * batch, *shape, device="meta")
        ys = torch.zeros(steps * batch, dtype=torch.long, device="meta")
        batches = Batches(xs, ys, batch, seed=0, shuffle=False)
        fit(model, batches, optimizer, scheduler, epochs=1, log_every=log_every)

    measure(lambda: run(1))  # optimizer state exists from here on
    costs = per_step(run, (log_every, 2 * log_every))  # the steps in between log once
    weights = sum(isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in model.modules())
    step = costs["step"]
    costs["step_bf16"] = {**step, "launches": step["launches"] + 2 * weights}
    costs["step_bf16"]["bytes"] = step["bytes"] / 2
    return costs


CONV_CASES = {
    "cifar_resnet110_fixup": (
        ["arm=resnet_fixup", "model.depth=54", "model.stages=3", "model.width=16"],
        (3, 32, 32),
        128,
    ),
    "cifar_resnet110_he_bn": (
        ["arm=resnet_bn", "model.depth=54", "model.stages=3", "model.width=16"],
        (3, 32, 32),
        128,
    ),
    "vae162_1024px": (
        [
            "task=train_vae",
            "model=resnet_vae_162",
            "model.activation_checkpointing=true",
            "optim=adam",
            "arm=d2_he",
        ],
        (3, 1024, 1024),
        16,
    ),
}


def row(case: str, costs: dict, members: int, precisions=("fp32", "bf16")) -> dict:
    step = costs["step"]
    return {
        "case": case,
        "members_per_stack": members,
        "launches_per_member_step": step["launches"],
        "syncs_per_member_step": step["syncs"],
        "gflop_per_member_step": step["flops"] / 1e9,
        "gbytes_per_member_step": step["bytes"] / 1e9,
        **{f"est_gpu_seconds_per_member_step_{p}": estimate(step, p) for p in precisions},
        "setup_and_epoch_end": costs["setup_and_epoch_end"],
        **({"per_stack_step": costs["per_stack_step"]} if "per_stack_step" in costs else {}),
    }


def markdown(payload: dict) -> str:
    """The README table: per case and mode, per member-step."""
    lines = [
        "| case | mode | members | launches | syncs | GFLOP | est. GPU ms fp32 | est. ms bf16 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in payload["rows"]:
        lines.append(
            f"| {r['case']} | {r['mode']} | {r['members_per_stack']} | "
            f"{r['launches_per_member_step']:.2f} | {r['syncs_per_member_step']:.3f} | "
            f"{r['gflop_per_member_step']:.3f} | "
            f"{1e3 * r['est_gpu_seconds_per_member_step_fp32']:.3f} | "
            f"{1e3 * r['est_gpu_seconds_per_member_step_bf16']:.3f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="benchmarks/results/launches.json")
    parser.add_argument("--fnn", default="snn,msra,batchnorm,layernorm,weightnorm,highway,resnet")
    parser.add_argument("--depth", type=int, default=8)
    parser.add_argument("--widths", default="256,512,1024")
    parser.add_argument("--members", default="16,32,64")
    parser.add_argument("--log-every", type=int, default=50, help="the loop's log_every (target)")
    parser.add_argument("--table", action="store_true", help="print the table of --out; no run")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(Path(args.out).read_text())), end="")
        return
    torch.manual_seed(0)
    rows, experiments = [], {}
    for index, fnn in enumerate(args.fnn.split(",")):
        # the first variant at every width and stack size; the others (same launch structure
        # per layer type) at the target's width and stack size
        widths = args.widths.split(",") if index == 0 else args.widths.split(",")[:1]
        sizes = args.members.split(",") if index == 0 else args.members.split(",")[-1:]
        for width in map(int, widths):
            alone = row(
                f"e4_{fnn}_w{width}_d{args.depth}", e4_one_by_one(fnn, width, args.depth), 1
            )
            alone["mode"] = "one_by_one"
            rows.append(alone)
            for k in map(int, sizes):
                stacked = row(alone["case"], e4_stacked(fnn, width, args.depth, k), k)
                stacked["mode"] = "stacked"
                stacked["launch_reduction"] = (
                    alone["launches_per_member_step"] / stacked["launches_per_member_step"]
                )
                rows.append(stacked)
                print(
                    f"{stacked['case']} K={k}: launches/member-step "
                    f"{alone['launches_per_member_step']:.0f} -> "
                    f"{stacked['launches_per_member_step']:.2f} "
                    f"({stacked['launch_reduction']:.0f}x), syncs/step "
                    f"{alone['syncs_per_member_step']:.2f} -> "
                    f"{stacked['per_stack_step']['syncs']:.2f}",
                    flush=True,
                )
    for case, (overrides, shape, batch) in CONV_CASES.items():
        costs = conv_case(overrides, shape, batch)
        entry = row(case, costs, 1, ("fp32",))
        bf16 = row(case, {**costs, "step": costs["step_bf16"]}, 1, ("bf16",))
        entry["est_gpu_seconds_per_member_step_bf16"] = bf16["est_gpu_seconds_per_member_step_bf16"]
        entry["launches_per_member_step_bf16"] = bf16["launches_per_member_step"]
        entry.update(mode="one_by_one", input_shape=list(shape), batch_size=batch)
        rows.append(entry)
        print(case, json.dumps({k: v for k, v in entry.items() if not isinstance(v, dict)}))
    # the targets of issue 14, E4 at width 256 with 64 members (every variant)
    target_rows = [
        r
        for r in rows
        if r["mode"] == "stacked" and r["members_per_stack"] == 64 and "_w256_" in r["case"]
    ]
    targets = {
        "launch_reduction_min_e4_w256_k64": min(r["launch_reduction"] for r in target_rows),
        "launch_reduction_target": 30.0,
        "syncs_per_step_max_e4_w256_k64": max(r["per_stack_step"]["syncs"] for r in target_rows),
        "syncs_per_step_target": 1.0 / args.log_every,
    }
    targets["met"] = (
        targets["launch_reduction_min_e4_w256_k64"] >= 30.0
        and targets["syncs_per_step_max_e4_w256_k64"] <= targets["syncs_per_step_target"]
    )
    for r in rows:  # what the plan reads: seconds per (member-)step, fp32 unless the run is bf16
        precision = "bf16" if r["case"].startswith("vae") else "fp32"
        experiments.setdefault(r["case"], {})[f"{r['mode']}_k{r['members_per_stack']}"] = {
            "est_gpu_seconds_per_step": r[f"est_gpu_seconds_per_member_step_{precision}"]
            * r["members_per_stack"],
            "members_per_step": r["members_per_stack"],
            "est_gpu_seconds_per_member_step": r[f"est_gpu_seconds_per_member_step_{precision}"],
            "precision": precision,
        }
    payload = {
        "benchmark": "launches",
        "device": "meta (no data; counts at paper size)",
        "torch": torch.__version__,
        "machine": platform.machine(),
        "model": {
            "formula": "launches*LAUNCH_S + max(flops/(peak*fraction), bytes/BANDWIDTH) "
            "+ syncs*SYNC_S",
            "LAUNCH_S": LAUNCH_S,
            "SYNC_S": SYNC_S,
            "PEAK_FP32": PEAK_FP32,
            "PEAK_BF16": PEAK_BF16,
            "ACHIEVED_FRACTION_FP32": ACHIEVED_FRACTION_FP32,
            "ACHIEVED_FRACTION_BF16": ACHIEVED_FRACTION_BF16,
            "BANDWIDTH": BANDWIDTH,
            "gpu": "A100 40 GB class",
        },
        "e4": {"features": E4_FEATURES, "classes": E4_CLASSES, "batch_size": E4_BATCH},
        "targets": targets,
        "experiments": experiments,
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=1, default=float) + "\n")
    print(json.dumps(targets), f"\nwrote {out}")


if __name__ == "__main__":
    main()
