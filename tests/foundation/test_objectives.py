"""The model objective for class labels and for multi-label targets with gaps (Tox21)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from initlab.data import DataBundle
from initlab.models.base import InitlabModel
from initlab.training import evaluate_splits


class Fixed(InitlabModel):
    """Returns given logits, to check the objective's arithmetic exactly."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[x[:, 0].long()]


def test_class_labels_give_cross_entropy_and_accuracy():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, -1.0]])
    model = Fixed(logits)
    x = torch.arange(3.0)[:, None]
    y = torch.tensor([0, 0, 0])
    out = model.objective(x, y)
    torch.testing.assert_close(out["loss"], F.cross_entropy(logits, y, reduction="none"))
    assert "accuracy" not in out  # training mode: the loss only
    model.eval()
    assert model.objective(x, y)["accuracy"].tolist() == [1.0, 0.0, 1.0]


def test_multilabel_loss_counts_only_observed_labels():
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 1.0, 1.0]])
    y = torch.tensor([[1.0, float("nan"), 0.0], [float("nan")] * 3])
    out = Fixed(logits).objective(torch.arange(2.0)[:, None], y)
    expected_first = (math.log(2.0) + math.log(1 + math.exp(-1.0))) / 2  # bce(0,1), bce(-1,0)
    assert out["loss"][0].item() == pytest.approx(expected_first, rel=1e-6)
    assert out["loss"][1].item() == 0.0  # nothing observed: contributes nothing


def test_mean_auc_is_reported_for_multilabel_data():
    # task 0 perfectly ranked by its logit, task 1 inversely: AUCs 1 and 0, mean 0.5
    logits = torch.tensor([[3.0, 3.0], [2.0, 2.0], [1.0, 1.0], [0.0, 0.0]])
    y = torch.tensor([[1.0, 0.0], [1.0, float("nan")], [0.0, 1.0], [0.0, 1.0]])
    x = torch.arange(4.0)[:, None]
    bundle = DataBundle("toy", x, y, x[:0], y[:0], x, y, num_classes=2, metric="mean_auc")
    metrics = evaluate_splits(Fixed(logits), bundle, batch_size=3)
    assert metrics["test_mean_auc"] == 0.5
    assert "val_loss" not in metrics  # empty split skipped
