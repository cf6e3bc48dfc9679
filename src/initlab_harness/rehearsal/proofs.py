"""The machinery a cluster run depends on, proved at paper size (``results/rehearsal/proofs.csv``).

- ``resume``: a paper-size training run hard-killed mid-way (``INITLAB_FAULT_AFTER_STEP``) and
  started again in the same directory ends ``completed``, with each logged step once in
  ``metrics.csv``;
- ``checkpoint``: the biggest model of the full profile (the largest grid member of any
  experiment, by parameter count) is written through :meth:`initlab.run.Run.save_checkpoint`
  and read back through ``load_checkpoint`` with every tensor equal;
- ``curvature_memory``: the rehearsal's curvature runs use chunks of 2 images, so their peak
  memory is not the paper's. This proof runs A1's BatchNorm ResNet at the paper's chunk (128
  images, one double-backward graph) at two depths, fits peak RSS linear in depth and checks the
  deepest full run (128 blocks) against a 24 GB host and a 40 GB GPU.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from initlab.compose import CONF_DIR

ROOT = CONF_DIR.parent
#: the resume proof: a paper-size conv net (E6's CIFAR-10 CNN), killed after step 2 of 4
RESUME_RUN = ["experiment=e6_cifar_cnn_full", "arm=cnn_selu", "data=cifar10", "seed=0"]
RESUME_CUTS = [
    "task.max_steps=4",
    "task.log_every=1",
    "task.eval_examples=64",
    "logger.wandb.mode=disabled",
]
#: the biggest model: the Tox21 grid's widest, deepest SNN (2048 x 32 layers, ~134 M weights)
BIGGEST = ["experiment=e5_tox21_full", "arm=fnn_snn", "model.width=2048", "model.depth=32"]
#: the curvature memory proof: A1's BN ResNet, one paper-size chunk, measured at these depths
CURVATURE_RUN = ["experiment=a1_a2_hessian_depth_full", "arm=resnet_bn", "seed=0"]
CURVATURE_DEPTHS = (8, 16)
CURVATURE_DEEPEST = 128
HOST_MB, GPU_MB = 24 * 1024, 40 * 1024


def _train(out_dir: Path, env: dict[str, str], args: list[str] | None = None) -> int:
    command = [
        sys.executable,
        str(ROOT / "train.py"),
        *(args if args is not None else [*RESUME_RUN, *RESUME_CUTS]),
        "profile=rehearsal",
        f"hydra.run.dir={out_dir}",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 3):  # 3: the fault the resume proof injects
        lines = (done.stderr or done.stdout).strip().splitlines()
        print(f"proof run {out_dir} exit {done.returncode}: {lines[-1] if lines else ''}")
    return done.returncode


def prove_resume(out_dir: Path) -> dict[str, Any]:
    shutil.rmtree(out_dir, ignore_errors=True)
    # the project's fault injection (initlab_harness.faults) kills the run after its 2nd step
    env = {
        **os.environ,
        "INITLAB_PLUGINS": "initlab_harness.faults",
        "INITLAB_FAULT_AFTER_STEP": "2",
    }
    killed = _train(out_dir, env)
    env.pop("INITLAB_FAULT_AFTER_STEP")
    again = _train(out_dir, env)
    summary = json.loads((out_dir / "summary.json").read_text())
    with open(out_dir / "metrics.csv", newline="") as handle:
        steps = [r["step"] for r in csv.DictReader(handle) if r.get("train_batch_loss")]
    ok = killed == 3 and again == 0 and summary["status"] == "completed"
    ok = ok and len(steps) == len(set(steps))
    return {
        "proof": "resume",
        "passed": ok,
        "detail": f"killed exit {killed}, rerun exit {again}, status {summary['status']}, "
        f"{len(steps)} logged steps ({len(set(steps))} distinct)",
    }


def prove_checkpoint(out_dir: Path) -> dict[str, Any]:
    shutil.rmtree(out_dir, ignore_errors=True)
    from initlab.compose import compose
    from initlab.data import build_data
    from initlab.run import Run
    from initlab.setup import parse_config

    cfg = compose([*BIGGEST, "profile=rehearsal", "logger.wandb.mode=disabled"])
    setup = parse_config(cfg)
    model = setup.new_model(build_data(setup.data))
    params = sum(p.numel() for p in model.parameters())
    run = Run(out_dir, cfg, setup.seed, torch.device("cpu"), setup.logger)
    began = time.perf_counter()
    run.save_checkpoint({"model": model.state_dict()})
    saved = time.perf_counter() - began
    state = run.load_checkpoint()
    loaded = time.perf_counter() - began - saved
    same = all(torch.equal(v, state["model"][k]) for k, v in model.state_dict().items())
    size = run.checkpoint_path.stat().st_size / 2**20
    run.tracker.finish({}, failed=False)
    return {
        "proof": "checkpoint",
        "passed": same,
        "detail": f"{params:,} parameters, {size:.0f} MB written in {saved:.1f} s, read back in "
        f"{loaded:.1f} s, every tensor equal: {same}",
    }


def prove_curvature_memory(out_dir: Path) -> dict[str, Any]:
    from initlab.compose import compose

    chunk = int(compose(CURVATURE_RUN)["task"]["chunk_size"])
    peaks = {}
    for depth in CURVATURE_DEPTHS:
        run_dir = out_dir / f"depth{depth}"  # no "=" in hydra.run.dir: Hydra parses it
        shutil.rmtree(run_dir, ignore_errors=True)
        args = [*CURVATURE_RUN, f"model.depth={depth}", f"task.samples={chunk}",
                "task.max_iter=2", "logger.wandb.mode=disabled"]  # fmt: skip
        code = _train(run_dir, dict(os.environ), args)
        summary = json.loads((run_dir / "summary.json").read_text()) if code == 0 else {}
        if summary.get("status") != "completed":
            return {"proof": "curvature_memory", "passed": False,
                    "detail": f"depth {depth}, chunk {chunk}: exit {code}"}  # fmt: skip
        peaks[depth] = float(summary["peak_rss_mb"])
    (d0, m0), (d1, m1) = sorted(peaks.items())
    per_block = (m1 - m0) / (d1 - d0)
    deepest = m1 + per_block * (CURVATURE_DEEPEST - d1)
    ok = per_block > 0 and deepest < min(HOST_MB, GPU_MB)
    return {
        "proof": "curvature_memory",
        "passed": ok,
        "detail": f"A1 BN ResNet, chunk {chunk}: peak {m0:.0f} MB at {d0} blocks, {m1:.0f} MB at "
        f"{d1}, {per_block:.0f} MB per block; {CURVATURE_DEEPEST} blocks extrapolated: "
        f"{deepest / 1024:.1f} GB (host 24 GB, GPU 40 GB)",
    }


def run_proofs(work_dir: Path, results_dir: Path) -> list[dict[str, Any]]:
    """The proofs; writes ``proofs.csv`` into ``results_dir``."""
    from initlab.tracking import atomic_write_text

    work_dir = Path(work_dir)
    rows = [
        prove_resume(work_dir / "resume"),
        prove_checkpoint(work_dir / "checkpoint"),
        prove_curvature_memory(work_dir / "curvature_memory"),
    ]
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    text = "proof,passed,detail\n" + "".join(
        f'{r["proof"]},{r["passed"]},"{r["detail"]}"\n' for r in rows
    )
    atomic_write_text(Path(results_dir) / "proofs.csv", text)
    return rows
