"""Does stacked training select what one-by-one training selects? The quick E4 sweep both ways.

Runs ``e4_uci_fnn`` at the quick profile twice (``task.stacked=true``, the default, and
``task.stacked=false``) into scratch folders and compares, per (arm, data set, selection), the
selected member and epoch, and the selected member's smoothed validation score. Writes
``benchmarks/results/stacked_selection.json``. Stacked members compute the same SGD as one-by-one
members in another order of floating-point operations (batched matmuls), so their trajectories
agree to rounding at first and may part over 10 epochs; a differing pick is reported with the
two runs' scores, not hidden.

    python benchmarks/bench_stacked_selection.py   (about 2 x 4 CPU minutes on the 4 scikit-learn
    sets it was written for; the quick E4 sweep is now the 36 KEEL sets x 2 split seeds, about
    23 CPU minutes stacked, several times that one by one)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from initlab.experiments import run_experiment  # noqa: E402

KEYS = ["arm", "data.dataset", "data.seed", "selection", "depth_key"]  # by_depth: one per depth
PICK = ["member", "epoch"]


def selected(stacked: bool, scratch: Path) -> pd.DataFrame:
    os.environ["INITLAB_OUTPUTS"] = str(scratch / f"outputs_{stacked}")
    results = scratch / f"results_{stacked}"
    code = run_experiment("e4_uci_fnn", "quick", [f"task.stacked={str(stacked).lower()}"], results)
    if code != 0:
        raise SystemExit(f"e4_uci_fnn with task.stacked={stacked} failed ({code})")
    picks = pd.read_csv(results / "quick" / "e4_uci_fnn" / "selected.csv")
    by_depth = picks["selection"] == "by_depth"
    return picks.assign(depth_key=picks["model.depth"].where(by_depth, -1).astype(int))


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        stacked, alone = selected(True, Path(scratch)), selected(False, Path(scratch))
    both = stacked.merge(alone, on=KEYS, suffixes=("_stacked", "_alone"))
    same = (both["member_stacked"] == both["member_alone"]) & (
        both["epoch_stacked"] == both["epoch_alone"]
    )
    gap = (both["val_score_smoothed_stacked"] - both["val_score_smoothed_alone"]).abs()
    differing = both[~same]
    out = {
        "command": "python benchmarks/bench_stacked_selection.py",
        "picks": int(len(both)),
        "same_member_and_epoch": int(same.sum()),
        "overall_picks": int((both["selection"] == "overall").sum()),
        "overall_same": int((same & (both["selection"] == "overall")).sum()),
        "max_selected_val_score_gap": float(gap.max()),
        "differing": [
            {
                **{k: (int(row[k]) if k == "depth_key" else row[k]) for k in KEYS},
                **{f"{p}_{s}": int(row[f"{p}_{s}"]) for p in PICK for s in ("stacked", "alone")},
                "val_stacked": float(row["val_score_smoothed_stacked"]),
                "val_alone": float(row["val_score_smoothed_alone"]),
                "test_stacked": float(row["test_score_stacked"]),
                "test_alone": float(row["test_score_alone"]),
            }
            for _, row in differing.iterrows()
        ],
    }
    path = ROOT / "benchmarks" / "results" / "stacked_selection.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps({k: v for k, v in out.items() if k != "differing"}, indent=2))
    print(f"{len(differing)} differing picks; written to {path}")


if __name__ == "__main__":
    main()
