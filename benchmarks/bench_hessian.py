"""Top Hessian eigenvalue: initlab's Lanczos against PyHessian and hessian-eigenthings.

The issue's case: a ResNet of 8 basic blocks (two 3x3 convs each, no normalization) of width 16
on 256 random images of 3x8x8 with 10 random classes, under He and Fixup init. For each init:

* reference: lambda_max of the same model in float64 by initlab's Lanczos at tol 1e-12;
* initlab: Lanczos (full re-orthogonalization) on float32 Hessian-vector products to a relative
  residual of 1e-4 (which bounds the relative error by 1e-4), top end only (``which=largest``)
  and both ends (``which=both``), with task=hessian's default ``cached_graph`` products (the
  gradient graph is built once, as PyHessian does for one batch) and with ``double_backward``;
* PyHessian (PyPI ``pyhessian``): power iteration at its default tolerance 1e-3; power
  iteration finds the eigenvalue of largest MAGNITUDE, which is negative when |lambda_min| >
  lambda_max (possible at Fixup init), so its error is against the algebraic lambda_max;
* hessian-eigenthings: its Lanczos, k=1, largest algebraic ('LA'), which runs a fixed number of
  steps: its default (min(2k, n-1) = 2), 10 and 20;

recording wall time (median of ``--repeats``), Hessian-vector products and relative error, plus
the time of one initlab HVP relative to one full gradient (the floor is about 2 for a product
computed from scratch; a kept graph skips the forward and first backward passes). The two other
packages are optional benchmark dependencies (not in requirements.txt); a missing one is
recorded as such. Writes benchmarks/results/hessian.json.

    python benchmarks/bench_hessian.py [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import sys
import time
from functools import partial
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F

from initlab.analysis.hvp import full_gradient, loss_hvp
from initlab.analysis.lanczos import lanczos
from initlab.compose import compose
from initlab.inits import initialize
from initlab.models import build_model
from initlab.setup import parse_config

OUT = Path(__file__).resolve().parent / "results" / "hessian.json"
SHAPE, CLASSES, SAMPLES = (3, 8, 8), 10, 256
MODEL = ["model=resnet", "model.depth=8", "model.width=16", "model.branch_layers=2"]


def make_case(init: str, seed: int = 0):
    setup = parse_config(compose(["logger.wandb.mode=disabled", *MODEL, f"init={init}"]))
    torch.manual_seed(seed)
    model = build_model(setup.model, SHAPE, CLASSES)
    initialize(model, setup.init)
    model.eval()
    gen = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(SAMPLES, *SHAPE, generator=gen)
    y = torch.randint(0, CLASSES, (SAMPLES,), generator=gen)
    return model, x, y


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def initlab_top(model, x, y, which: str, tol: float, method: str = "cached_graph"):
    op = loss_hvp(model, F.cross_entropy, [(x, y)], method=method)
    result = lanczos(op, op.n, 1, which=which, tol=tol, max_iter=300, seed=0)
    return float(result.top[0]), op.calls


def pyhessian_top(model, x, y):
    import pyhessian  # noqa: F401 - its __init__ shadows the submodule with the class

    ph = sys.modules["pyhessian.hessian"]

    calls = {"n": 0}
    original = ph.hessian_vector_product

    def counted(*args, **kwargs):
        calls["n"] += 1
        return original(*args, **kwargs)

    ph.hessian_vector_product = counted
    try:
        torch.manual_seed(0)
        values, _ = ph.hessian(
            model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False
        ).eigenvalues(maxIter=100, tol=1e-3)
    finally:
        ph.hessian_vector_product = original
    return float(values[0]), calls["n"]


def eigenthings_top(model, x, y, steps: int | None):
    """Its Lanczos runs a fixed number of steps (``max_iter``; default min(2k, n - 1))."""
    import hessian_eigenthings as he

    op = he.HessianOperator(model, [(x, y)], he.supervised_loss(F.cross_entropy))
    calls = {"n": 0}
    matvec = op.matvec

    def counted(v):
        calls["n"] += 1
        return matvec(v)

    op.matvec = counted
    result = he.lanczos(op, k=1, which="LA", tol=1e-4, max_iter=steps, seed=0)
    return float(result.eigenvalues[0]), calls["n"]


def hvp_over_grad(model, x, y, method: str, repeats: int) -> float:
    """Median time of one HVP over that of one full gradient (cached_graph: after the first)."""
    op = loss_hvp(model, F.cross_entropy, [(x, y)], method=method)
    v = torch.randn(op.n)
    op(v)  # warm-up (and, for cached_graph, the graph)
    full_gradient(model, F.cross_entropy, [(x, y)])
    t_hvp, _ = timed(lambda: op(v), 5 * repeats)
    t_grad, _ = timed(lambda: full_gradient(model, F.cross_entropy, [(x, y)]), 5 * repeats)
    return t_hvp / t_grad


def version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    report = {
        "case": f"ResNet 8 blocks width 16, {SAMPLES} random images 3x8x8, {CLASSES} classes, CPU",
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cpu": platform.processor() or platform.machine(),
            "threads": args.threads,
        },
        "versions": {name: version(name) for name in ("pyhessian", "hessian-eigenthings")},
        "repeats": args.repeats,
        "inits": {},
    }
    for init in ("he", "fixup"):
        model, x, y = make_case(init)
        ref_model = copy.deepcopy(model).double()
        ref_op = loss_hvp(ref_model, F.cross_entropy, [(x.double(), y)])
        ref = lanczos(ref_op, ref_op.n, 1, which="both", tol=1e-12, max_iter=400, seed=1)
        lam_max, lam_min = float(ref.top[0]), float(ref.bottom[0])
        entry = {
            "params": ref_op.n,
            "reference_lambda_max": lam_max,
            "reference_lambda_min": lam_min,
            "tools": {},
        }
        tools = {
            "initlab_largest_tol1e-4": partial(initlab_top, model, x, y, "largest", 1e-4),
            "initlab_both_tol1e-4": partial(initlab_top, model, x, y, "both", 1e-4),
            "initlab_largest_tol1e-4_double_backward": partial(
                initlab_top, model, x, y, "largest", 1e-4, "double_backward"
            ),
            "pyhessian_tol1e-3": partial(pyhessian_top, model, x, y),
            "hessian_eigenthings_default_steps": partial(eigenthings_top, model, x, y, None),
            "hessian_eigenthings_10_steps": partial(eigenthings_top, model, x, y, 10),
            "hessian_eigenthings_20_steps": partial(eigenthings_top, model, x, y, 20),
        }
        for name, fn in tools.items():
            try:
                wall, (value, hvps) = timed(fn, args.repeats)
            except ImportError as err:
                entry["tools"][name] = {"error": f"not installed: {err}"}
                continue
            except Exception as err:  # noqa: BLE001 - a third-party failure is a result
                entry["tools"][name] = {"error": f"{type(err).__name__}: {err}"}
                continue
            entry["tools"][name] = {
                "lambda": value,
                "rel_error": abs(value - lam_max) / abs(lam_max),
                "wall_s": wall,
                "hvps": hvps,
            }
            print(
                f"{init:6s} {name:30s} lambda {value:.6g} rel.err "
                f"{entry['tools'][name]['rel_error']:.1e} {wall:.3f}s {hvps} HVPs",
                flush=True,
            )
        entry["hvp_time_over_grad_time"] = {
            method: hvp_over_grad(model, x, y, method, args.repeats)
            for method in ("double_backward", "cached_graph")
        }
        ours = entry["tools"]["initlab_largest_tol1e-4"]
        theirs = entry["tools"].get("pyhessian_tol1e-3", {})
        entry["target_met"] = bool(
            ours["rel_error"] <= 1e-4 and "wall_s" in theirs and ours["wall_s"] < theirs["wall_s"]
        )
        report["inits"][init] = entry
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
