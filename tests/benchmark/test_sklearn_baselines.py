"""``task=sklearn_baselines``: selection on the validation split, metrics, config checks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.svm import SVC

from initlab.config import ConfigError
from initlab.data import DataBundle
from initlab.main import execute
from initlab.setup import parse_config
from initlab.tasks.sklearn_baselines import Scorer, grid_points
from tests.conftest import quiet_config

#: small grids: the task's YAML grids take seconds per set, these a fraction of one
TINY_GRIDS = {
    "svm": {"C": [0.1, 10.0], "gamma": ["scale"]},
    "random_forest": {"n_estimators": [10], "max_features": ["sqrt"]},
    "gradient_boosting": {"max_iter": [10], "learning_rate": [0.1]},
    "logreg": {"C": [0.001, 1.0]},
    "knn": {"n_neighbors": [1, 5]},
}


def _config(*overrides: str, grids: dict | None = None) -> dict:
    cfg = quiet_config("task=sklearn_baselines", "data=iris", "data.val_fraction=0.2", *overrides)
    cfg["task"]["grids"] = grids if grids is not None else TINY_GRIDS
    return cfg


def test_selected_rows_are_the_best_validation_points_in_the_grid_format(tmp_path):
    summary = execute(_config(), tmp_path / "a")
    assert summary["status"] == "completed"
    points = pd.read_csv(tmp_path / "a" / "baselines.csv")
    selected = pd.read_csv(tmp_path / "a" / "selected.csv")
    assert (
        summary["members"] == len(points) == sum(len(grid_points(g)) for g in TINY_GRIDS.values())
    )
    assert list(selected["method"]) == list(TINY_GRIDS)
    assert (selected["selection"] == "overall").all() and selected["epoch"].isna().all()
    for column in ("member", "params", "val_score_smoothed", "test_score", "score_name"):
        assert column in selected.columns
    for _, row in selected.iterrows():
        own = points[points["method"] == row["method"]]
        assert row["val_score"] == own["val_score"].max()
        # ties go to the earlier grid point
        assert row["member"] == own.loc[own["val_score"] == own["val_score"].max(), "member"].min()
        assert json.loads(row["params"]) == json.loads(
            own.loc[own["member"] == row["member"], "params"].iloc[0]
        )
        assert 0.0 <= row["test_score"] <= 1.0
    # logistic regression with C = 0.001 underfits iris: the grid point matters
    logreg = points[points["method"] == "logreg"]
    assert logreg["val_score"].iloc[1] > logreg["val_score"].iloc[0]
    assert summary[f"{summary['best_method']}_test_score"] == summary["test_score"]
    # every fit timed, point by point (the rehearsal's plan scales these to the full grids)
    times = pd.read_csv(tmp_path / "a" / "fit_times.csv")
    assert times[["method", "member"]].equals(points[["method", "member"]])
    assert (times["seconds"] > 0).all() and times["seconds"].sum() <= summary["wall_time_s"]
    # same seed, same numbers
    execute(_config(), tmp_path / "b")
    assert (tmp_path / "a" / "baselines.csv").read_text() == (
        tmp_path / "b" / "baselines.csv"
    ).read_text()


@pytest.mark.parametrize(
    ("grids", "methods", "key"),
    [
        ({**TINY_GRIDS, "svm": {"nope": [1]}}, None, "grids.svm.nope"),
        ({**TINY_GRIDS, "svm": {"C": []}}, None, "grids.svm.C"),
        ({**TINY_GRIDS, "svm": {"C": [-1.0]}}, None, "grids.svm"),
        ({**TINY_GRIDS, "xgb": {"a": [1]}}, None, "grids.xgb"),
        ({k: v for k, v in TINY_GRIDS.items() if k != "knn"}, None, "grids.knn"),
        (TINY_GRIDS, ["svm", "lasso"], "methods[1]"),
        (TINY_GRIDS, ["svm", "svm"], "methods"),
    ],
)
def test_bad_config_names_the_key(grids, methods, key):
    cfg = _config(grids=grids)
    if methods is not None:
        cfg["task"]["methods"] = methods
    with pytest.raises(ConfigError, match=f"task.{key}".replace("[", r"\[").replace("]", r"\]")):
        parse_config(cfg)


def test_no_validation_split_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="data.val_fraction"):
        execute(_config("data.val_fraction=0.0"), tmp_path)


def _bundle(metric: str, y: np.ndarray, seed: int = 0) -> DataBundle:
    rng = np.random.default_rng(seed)
    n = len(y)
    signal = np.nan_to_num(y if y.ndim == 2 else y[:, None], nan=0.5)
    x = np.concatenate([signal + 0.3 * rng.normal(size=signal.shape), rng.normal(size=(n, 3))], 1)
    x, y = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    third = n // 3
    return DataBundle(
        "toy",
        x[:third],
        y[:third],
        x[third : 2 * third],
        y[third : 2 * third],
        x[2 * third :],
        y[2 * third :],
        2,
        metric,
    )


@pytest.mark.parametrize("estimator", [LogisticRegression(), SVC(), KNeighborsClassifier(25)])
def test_binary_auc_of_probabilities_or_margins(estimator):
    y = np.random.default_rng(1).integers(0, 2, 300)
    data = _bundle("auc", y)
    val, test = Scorer(data).score(estimator)
    fitted = clone(estimator).fit(data.x_train.numpy(), data.y_train.numpy())
    x_test, y_test = data.x_test.numpy(), data.y_test.numpy()
    # the class-1 score (probability or SVM margin), not hard labels and not class 0's
    scores = (
        fitted.predict_proba(x_test)[:, 1]
        if hasattr(fitted, "predict_proba")
        else fitted.decision_function(x_test)
    )
    assert test == pytest.approx(roc_auc_score(y_test, scores))
    assert test != pytest.approx(roc_auc_score(y_test, fitted.predict(x_test)))
    assert 0.85 < val <= 1.0 and 0.85 < test <= 1.0


def test_tox21_mean_auc_masks_missing_labels_per_task():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, (300, 3)).astype(np.float64)
    y[rng.random(y.shape) < 0.3] = np.nan  # missing labels
    y[:100, 2] = np.nan  # the third task has no training label at all: constant score
    scorer = Scorer(_bundle("mean_auc", y))
    val, test = scorer.score(LogisticRegression())
    # tasks 0 and 1 are learnable (their label is a feature plus noise); task 2 scores 0.5
    assert 0.8 < val < 0.9 and 0.8 < test < 0.9
