"""``task=sklearn_baselines``: classical classifiers for the SNN paper's benchmark (claim E4).

The paper compares SNNs with the classical methods of Fernandez-Delgado et al. (2014); this task
runs a handful of them from scikit-learn on the run's data bundle: RBF SVM, random forest,
gradient boosting (histogram-based), logistic regression and k-nearest neighbours. Each method
fits every point of its hyper-parameter grid (``task.grids``, from the YAML) on the training
split; the point with the best validation score is selected (ties: the earlier grid point) and
its test score reported, in the data set's metric: accuracy, ROC AUC for binary-AUC sets
(HTRU2), mean ROC AUC over tasks for Tox21 (one classifier per task on the compounds that task
labels; missing labels are masked, as in the FNNs' loss).

Writes ``baselines.csv`` (every grid point) and ``selected.csv`` in the grid-search task's shape
(``selection = overall``, one row per method, ``method``, ``member``, ``params`` as JSON, empty
``epoch``), and ``fit_times.csv`` (wall seconds of each point's fit and scoring: what the
rehearsal's plan scales to the full grids; kept apart so the results files stay the same from run
to run). Model and init groups of the config are not used. Same seed, same numbers.
"""

from __future__ import annotations

import itertools
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from initlab.config import ConfigError, spec
from initlab.data import DataBundle
from initlab.data.multitask import mean_auc
from initlab.run import Run
from initlab.tasks.base import TASKS, RunSetup, TaskConfig, TaskResult
from initlab.tracking import Progress, atomic_write_text

#: method name -> estimator with the run's seed (every other setting comes from the grid)
ESTIMATORS: dict[str, Callable[[int], ClassifierMixin]] = {
    "svm": lambda seed: SVC(kernel="rbf", random_state=seed),
    "random_forest": lambda seed: RandomForestClassifier(random_state=seed, n_jobs=1),
    "gradient_boosting": lambda seed: HistGradientBoostingClassifier(
        random_state=seed, early_stopping=False
    ),
    "logreg": lambda seed: LogisticRegression(max_iter=2000, random_state=seed),
    "knn": lambda seed: KNeighborsClassifier(),
}
METRICS = ("accuracy", "auc", "mean_auc")


@dataclass(kw_only=True)
class SklearnBaselinesConfig(TaskConfig):
    methods: list[str] = spec(help=f"which of {', '.join(ESTIMATORS)} to run, in this order")
    grids: dict = spec(help="method -> {estimator parameter: [values]}; every method needs one")

    def validate(self) -> None:
        if not self.methods:
            raise ConfigError("methods: empty; name at least one of " + ", ".join(ESTIMATORS))
        for i, method in enumerate(self.methods):
            if method not in ESTIMATORS:
                raise ConfigError(
                    f"methods[{i}]: {method!r} is not allowed; allowed values: "
                    + ", ".join(ESTIMATORS)
                )
        if len(set(self.methods)) != len(self.methods):
            raise ConfigError(f"methods: {self.methods} names a method twice")
        for method in self.grids:
            if method not in ESTIMATORS:
                raise ConfigError(
                    f"grids.{method}: unknown method; allowed: " + ", ".join(ESTIMATORS)
                )
        for method in self.methods:
            if method not in self.grids:
                raise ConfigError(f"grids.{method}: required key is missing (a grid per method)")
            grid = self.grids[method]
            if not isinstance(grid, dict):
                raise ConfigError(f"grids.{method}: expected a mapping parameter -> list")
            allowed = ESTIMATORS[method](0).get_params()
            for param, values in grid.items():
                if param not in allowed:
                    raise ConfigError(
                        f"grids.{method}.{param}: not a parameter of {method}; allowed: "
                        + ", ".join(sorted(allowed))
                    )
                if not isinstance(values, list) or not values:
                    raise ConfigError(f"grids.{method}.{param}: expected a non-empty list")
            for params in grid_points(grid):
                estimator = ESTIMATORS[method](0).set_params(**params)
                try:
                    estimator._validate_params()  # sklearn's own check, as fit() would do
                except ValueError as err:
                    raise ConfigError(f"grids.{method}: {params}: {err}") from None


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first key varying slowest."""
    keys = list(grid)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*grid.values())]


def _positive_scores(estimator: ClassifierMixin, x: np.ndarray) -> np.ndarray:
    """Score of class 1 (AUC): probabilities where the estimator has them, else the margin."""
    if hasattr(estimator, "predict_proba"):
        return estimator.predict_proba(x)[:, list(estimator.classes_).index(1)]
    return estimator.decision_function(x)


class Scorer:
    """Fit one estimator on the training split and score it on val and test in ``metric``."""

    def __init__(self, data: DataBundle) -> None:
        if data.metric not in METRICS:
            raise ConfigError(f"data: metric {data.metric!r} not supported; allowed: {METRICS}")
        if len(data.y_val) == 0:
            raise ConfigError(
                "data.val_fraction: the data set has no validation split; the baselines' "
                "hyper-parameters are chosen on it (set data.val_fraction > 0)"
            )
        self.metric = data.metric
        self.x = {
            s: data.split(s)[0].cpu().numpy().reshape(len(data.split(s)[0]), -1)
            for s in ("train", "val", "test")
        }
        self.y = {s: data.split(s)[1].cpu().numpy() for s in ("train", "val", "test")}

    def score(self, estimator: ClassifierMixin) -> tuple[float, float]:
        """(val score, test score) of ``estimator`` (unfitted) trained on the training split."""
        if self.metric == "mean_auc":
            return self._multitask(estimator)
        fitted = clone(estimator).fit(self.x["train"], self.y["train"])
        return tuple(self._single(fitted, s) for s in ("val", "test"))  # type: ignore[return-value]

    def _single(self, fitted: ClassifierMixin, split: str) -> float:
        x, y = self.x[split], self.y[split]
        if self.metric == "accuracy":
            return float(np.mean(fitted.predict(x) == y))
        if len(np.unique(y)) < 2:
            return float("nan")
        return float(roc_auc_score(y, _positive_scores(fitted, x)))

    def _multitask(self, estimator: ClassifierMixin) -> tuple[float, float]:
        """Tox21: one classifier per task, trained on the compounds that task labels."""
        y_train = self.y["train"]
        scores = {s: np.zeros(self.y[s].shape) for s in ("val", "test")}
        for task in range(y_train.shape[1]):
            observed = ~np.isnan(y_train[:, task])
            labels = y_train[observed, task].astype(np.int64)
            if len(np.unique(labels)) < 2:
                continue  # constant score: AUC 0.5 on the tasks that can be scored
            fitted = clone(estimator).fit(self.x["train"][observed], labels)
            for split in scores:
                scores[split][:, task] = _positive_scores(fitted, self.x[split])
        return mean_auc(scores["val"], self.y["val"]), mean_auc(scores["test"], self.y["test"])


def select(points: pd.DataFrame) -> pd.Series:
    """The grid point with the highest validation score; ties go to the earlier grid point."""
    finite = points[np.isfinite(points["val_score"])]
    if finite.empty:
        return points.iloc[0]
    return finite.loc[finite["val_score"].idxmax()]  # idxmax returns the first maximum


@TASKS.register("sklearn_baselines", SklearnBaselinesConfig)
def sklearn_baselines_task(
    cfg: SklearnBaselinesConfig, setup: RunSetup, data: DataBundle, run: Run
) -> TaskResult:
    scorer = Scorer(data)
    rows, times = [], []
    run.truncate(-1)  # a restarted run fits every member again: its rows start afresh
    points_of = {method: grid_points(cfg.grids[method]) for method in cfg.methods}
    progress = Progress(sum(map(len, points_of.values())), "sklearn_baselines", unit="fit")
    for method in cfg.methods:
        for member, params in enumerate(points_of[method]):
            estimator = ESTIMATORS[method](setup.seed).set_params(**params)
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                val, test = scorer.score(estimator)
            times.append(
                {"method": method, "member": member, "seconds": time.perf_counter() - start}
            )
            rows.append(
                {
                    "method": method,
                    "member": member,
                    "params": json.dumps(params, sort_keys=True),
                    "val_score": val,
                    "test_score": test,
                    "score_name": data.metric,
                }
            )
            run.log({"step": len(rows), "member": member, "val_score": val, "test_score": test})
            progress.update(1, f"{method} {member}")
    progress.close()
    points = pd.DataFrame(rows)
    atomic_write_text(run.out_dir / "baselines.csv", points.to_csv(index=False))
    atomic_write_text(run.out_dir / "fit_times.csv", pd.DataFrame(times).to_csv(index=False))
    chosen = [select(group) for _, group in points.groupby("method", sort=False)]
    selected = pd.DataFrame(chosen).reset_index(drop=True)
    selected.insert(0, "selection", "overall")
    selected["epoch"] = None
    selected["val_score_smoothed"] = selected["val_score"]
    columns = ["selection", "method", "member", "params", "epoch", "val_score"]
    columns += ["val_score_smoothed", "test_score", "score_name"]
    atomic_write_text(run.out_dir / "selected.csv", selected[columns].to_csv(index=False))
    best = select(selected)
    metrics: dict[str, Any] = {
        "score_name": data.metric,
        "members": len(points),
        "best_method": best["method"],
        "val_score": float(best["val_score"]),
        "test_score": float(best["test_score"]),
    }
    for _, row in selected.iterrows():
        metrics[f"{row['method']}_val_score"] = float(row["val_score"])
        metrics[f"{row['method']}_test_score"] = float(row["test_score"])
    return TaskResult("completed", metrics)
