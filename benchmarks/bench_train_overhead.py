"""What initlab's training loop costs over a bare PyTorch loop doing the same work.

Both train the same model (same init, data, batch order, optimizer) for the same steps and
evaluate once at the end. initlab's loop adds what a run needs: divergence checks every step,
metrics.csv (+ W&B offline) rows every ``log_every`` steps, its checkpoint, progress and hooks.
Target: <= 5% over the bare loop on the digits MLP (4 x 128, batch 64).

Three measures, because wall-clock time alone cannot decide 5% on a shared 2-core machine:

- **Instructions** (where ``valgrind`` is installed; ``--instructions off`` skips them): CPU
  instructions of the timed region (``train_model``; the bare loop's steps and evaluation),
  counted by callgrind: deterministic, whatever else the machine runs. Each loop runs in fresh
  processes for ``E`` and ``2E`` epochs, after one uncounted epoch (first-use costs, which the
  wall clock's repeats have paid too); per step = the difference / the extra steps, so what a
  run does once (set-up, the final evaluation and checkpoint) cancels out. That is reported
  apart: ``fixed_excess_steps`` (in bare steps) and the share of a 1,000-step run it makes
  with the per-step excess. Under valgrind a run is ~300x slower, so checkpoints on a timer and
  progress lines are turned off (natively a 2-second run writes neither). W&B's service is
  another process, not counted (see below).
- **Wall clock**, interleaved repeats of: bare, initlab (W&B disabled), bare again (the
  **control**: what the same loop measures against itself), initlab (W&B offline). Overheads
  are the medians (and quartiles) of each run against the bare run just before it; the
  control's spread is the noise the target has to be read against. Also: CPU time W&B's
  service process spends per step meanwhile (on a 2-core machine, the other core's).
- **ATen operators** per step of both loops (PyTorch's profiler) and the host reads
  (``aten::item``) of one train/val/test evaluation (target: none).

Writes benchmarks/results/train_overhead.json.

    python benchmarks/bench_train_overhead.py [--repeats 15] [--instructions auto|on|off]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import ctypes
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from initlab.compose import compose
from initlab.data import build_data
from initlab.run import Run, seed_everything
from initlab.setup import parse_config
from initlab.tracking import configure_progress
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
EPOCHS = 50
COMMON = [
    "device=cpu",
    f"task.epochs={EPOCHS}",
    "task.batch_size=64",
    "task.eval_every=50",
    "logger.progress=off",
    "optim.lr=0.01",
]
TARGET_PCT = 5.0
LOOPS = ("bare", "disabled", "offline")  # the bare loop; initlab with W&B disabled / offline


def timed(region: Callable[[], None]) -> float:
    """Seconds ``region()`` takes: what both loops are measured over."""
    start = time.perf_counter()
    region()
    return time.perf_counter() - start


def bare_loop(setup, data, measure: Callable = timed) -> float:
    seed_everything(setup.seed, True)
    model = setup.new_model(data)
    opt = torch.optim.SGD(model.parameters(), lr=setup.optim.lr, momentum=setup.optim.momentum)
    x, y = data.x_train, data.y_train
    bs, n = setup.task.batch_size, len(x)

    def region() -> None:
        for epoch in range(setup.task.epochs):
            order = epoch_order(n, setup.seed, epoch)
            for i in range(0, n, bs):
                idx = order[i : i + bs]
                loss = F.cross_entropy(model(x[idx]), y[idx])  # what model.objective computes
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        evaluate_splits(model, data, 1024)

    return measure(region)


def _service_cpu_s() -> float:
    """CPU seconds used so far by this process's children (W&B's service)."""
    import psutil  # a dependency of wandb

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def initlab_loop(
    setup, data, wandb_mode: str, measure: Callable = timed
) -> tuple[float, int, float]:
    """Seconds of ``train_model``, its steps, and the CPU seconds W&B's service used meanwhile."""
    seed_everything(setup.seed, True)
    model = setup.new_model(data)
    with tempfile.TemporaryDirectory() as tmp:
        logger = setup.logger
        logger.wandb.mode = wandb_mode
        run = Run(Path(tmp), setup.resolved, setup.seed, setup.device, logger)
        outcomes = []

        def region() -> None:
            outcomes.append(train_model(model, data, setup.task, setup.optim, run, setup.seed))

        service = _service_cpu_s()
        elapsed = measure(region)
        service = _service_cpu_s() - service
        run.finish(outcomes[0].status, outcomes[0].metrics)
    return elapsed, outcomes[0].steps, service


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


def paired_pct(base: list[float], other: list[float]) -> dict[str, float]:
    """Median and quartiles over repeats of ``other[i] / base[i] - 1``, in percent (each run
    against the one measured just before it, so slow drifts of the machine cancel)."""
    ratios = sorted(100 * (o / b - 1) for b, o in zip(base, other, strict=True))
    q1, median, q3 = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return {"median": median, "q1": q1, "q3": q3}


def wall_clock(setup, data, repeats: int) -> dict:
    times: dict[str, list[float]] = {"bare": [], "disabled": [], "control": [], "offline": []}
    service, steps = [], 0
    load_before = os.getloadavg()[0]  # other processes on a shared CPU skew the timings
    for _ in range(repeats):  # interleaved, so drifts hit all four alike
        times["bare"].append(bare_loop(setup, data))
        elapsed, steps, _ = initlab_loop(setup, data, "disabled")
        times["disabled"].append(elapsed)
        times["control"].append(bare_loop(setup, data))
        elapsed, _, cpu = initlab_loop(setup, data, "offline")
        times["offline"].append(elapsed)
        service.append(cpu)
    ms = {k: [1e3 * t / steps for t in v] for k, v in times.items()}
    return {
        "repeats": repeats,
        "steps": steps,
        "load_average_1min_before": load_before,
        "load_average_1min_after": os.getloadavg()[0],
        **{f"{k}_ms_per_step_each": v for k, v in ms.items()},
        "bare_ms_per_step": statistics.median(ms["bare"]),
        "initlab_ms_per_step": statistics.median(ms["disabled"]),
        "overhead_pct": paired_pct(times["bare"], times["disabled"]),
        "control_pct": paired_pct(times["bare"], times["control"]),
        "wandb_offline_overhead_pct": paired_pct(times["control"], times["offline"]),
        "wandb_service_cpu_ms_per_step": 1e3 * statistics.median(service) / steps,
    }


# ----------------------------------------------------------------------------- instructions


def counted(region: Callable[[], None]) -> float:
    """Run ``region`` where callgrind counts (``--toggle-collect=ffi_call*``: the call through
    ctypes below is the only ``ffi_call`` of the process while it runs); 0 seconds."""
    failed: list[BaseException] = []

    def call() -> None:
        try:
            region()
        except BaseException as err:  # ctypes would print and drop it
            failed.append(err)

    ctypes.CFUNCTYPE(None)(call)()
    if failed:
        raise failed[0]
    return 0.0


def count_run(case: str, loop: str, epochs: int) -> None:
    """A counted child process: one uncounted epoch (first-use costs: lazy imports, caches, as
    the wall clock's repeats have paid them), then the measured region of ``epochs`` epochs."""
    torch.set_num_threads(1)
    # only the final checkpoint, as natively (valgrind is ~300x slower than a 2-second run);
    # COMMON's logger.progress=off keeps progress lines off too
    data = None
    for n, measure in ((1, timed), (epochs, counted)):
        overrides = [*COMMON, *CASES[case], "task.checkpoint_interval_s=1e9", f"task.epochs={n}"]
        setup = parse_config(compose(overrides))
        configure_progress(setup.logger)
        data = build_data(setup.data) if data is None else data
        if loop == "bare":
            bare_loop(setup, data, measure)
        else:
            initlab_loop(setup, data, loop, measure)


def parse_instructions(valgrind_stderr: str) -> int:
    """The ``Collected`` total of a callgrind run's summary."""
    found = re.findall(r"Collected\s*:\s+([\d,]+)", valgrind_stderr)
    if not found:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{valgrind_stderr[-2000:]}")
    return int(found[-1].replace(",", ""))


def instructions_of(case: str, loop: str, epochs: int) -> int:
    """Instructions of the measured region of :func:`count_run` under callgrind."""
    command = [
        "valgrind", "--tool=callgrind", "--collect-atstart=no", "--toggle-collect=ffi_call*",
        "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--count", case, loop, str(epochs),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return parse_instructions(done.stderr)


def per_step(short: int, long: int, extra_steps: int) -> float:
    """Instructions per step from runs of ``E`` and ``2E`` epochs (set-up cancels out)."""
    return (long - short) / extra_steps


def instructions(case: str, epochs: int, steps_per_epoch: int, workers: int = 2) -> dict:
    jobs = [(loop, e) for loop in LOOPS for e in (epochs, 2 * epochs)]
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:  # one process per core
        counts = dict(
            zip(jobs, pool.map(lambda job: instructions_of(case, *job), jobs), strict=True)
        )
    extra = epochs * steps_per_epoch
    step = {loop: per_step(counts[loop, epochs], counts[loop, 2 * epochs], extra) for loop in LOOPS}
    out: dict = {"epochs": [epochs, 2 * epochs], "steps_per_epoch": steps_per_epoch}
    out["counts"] = {f"{loop}_{e}": counts[loop, e] for loop, e in jobs}
    out["bare_per_step"] = step["bare"]
    for loop, name in (("disabled", "initlab"), ("offline", "initlab_wandb_offline")):
        fixed = counts[loop, epochs] - counts["bare", epochs] - (step[loop] - step["bare"]) * extra
        out[f"{name}_per_step"] = step[loop]
        out[f"{name}_overhead_pct"] = 100 * (step[loop] / step["bare"] - 1)
        # set-up, final evaluation and checkpoint, first use of modules the bare loop never
        # imports: once per run, shown as bare steps and as a share of a 1,000-step run
        out[f"{name}_fixed_excess_steps"] = fixed / step["bare"]
        excess_1000 = 1000 * (step[loop] - step["bare"]) + fixed
        out[f"{name}_overhead_1000_steps_pct"] = 100 * excess_1000 / (1000 * step["bare"])
    return out


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15, help="wall-clock repeats (MLP)")
    parser.add_argument("--conv-repeats", type=int, default=3, help="wall-clock repeats (conv)")
    parser.add_argument(
        "--instructions",
        choices=("auto", "on", "off"),
        default="auto",
        help="count instructions with valgrind (~15 min); auto: where valgrind is installed",
    )
    parser.add_argument("--instruction-epochs", type=int, default=5)
    parser.add_argument("--out", default="benchmarks/results/train_overhead.json")
    parser.add_argument(
        "--count", nargs=3, metavar=("CASE", "LOOP", "EPOCHS"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.count:
        count_run(args.count[0], args.count[1], int(args.count[2]))
        return
    has_valgrind = shutil.which("valgrind") is not None
    if args.instructions == "on" and not has_valgrind:
        raise SystemExit("--instructions on: valgrind is not on PATH")
    count = args.instructions == "on" or (args.instructions == "auto" and has_valgrind)
    torch.set_num_threads(1)  # steady timings on a shared 2-core machine
    results = {}
    for name, overrides in CASES.items():  # the timings first, on a machine left alone
        setup = parse_config(compose([*COMMON, *overrides]))
        configure_progress(setup.logger)  # as a run of these settings does (no lines)
        data = build_data(setup.data)
        repeats = args.repeats if name == "mlp_digits" else args.conv_repeats
        timed = wall_clock(setup, data, repeats)
        results[name] = {**op_counts(setup, data, timed["steps"]), "wall_clock": timed}
        print(name, json.dumps(results[name], indent=1))
    if count:  # the target's case; the counts do not depend on what else runs
        per_epoch = results["mlp_digits"]["wall_clock"]["steps"] // EPOCHS
        counts = instructions("mlp_digits", args.instruction_epochs, per_epoch)
        results["mlp_digits"]["instructions"] = counts
        print("mlp_digits instructions", json.dumps(counts, indent=1))
    mlp = results["mlp_digits"]
    counted_mlp = mlp.get("instructions")
    verdict = None
    if counted_mlp is not None:
        verdict = {
            loop: counted_mlp[f"{loop}_overhead_pct"] <= TARGET_PCT
            and counted_mlp[f"{loop}_overhead_1000_steps_pct"] <= TARGET_PCT
            for loop in ("initlab", "initlab_wandb_offline")
        }
    payload = {
        "benchmark": "train_overhead",
        "threads": 1,
        "machine": platform.processor() or platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "target_pct": TARGET_PCT,
        # decided on the instruction counts (the wall clock's control shows its noise)
        "meets_target": None if verdict is None else verdict["initlab"],
        "meets_target_wandb_offline_in_process": None
        if verdict is None
        else verdict["initlab_wandb_offline"],
        "cases": results,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
