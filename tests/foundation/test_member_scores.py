"""member_scores: a stack's scores in one tensor, equal to scoring each member alone."""

from __future__ import annotations

import math

import pytest
import torch

from initlab.training import member_scores, score_outputs


def _outputs_and_labels(metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    if metric == "mean_auc":  # 3 tasks, some labels unobserved (NaN)
        y = torch.randint(0, 2, (40, 3), generator=gen).double()
        y[::7, 1] = math.nan
        return torch.randn(5, 40, 3, generator=gen), y
    classes = 2 if metric == "auc" else 4
    labels = torch.randint(0, classes, (40,), generator=gen)
    return torch.randn(5, 40, classes, generator=gen), labels


@pytest.mark.parametrize("metric", ["accuracy", "auc", "mean_auc"])
def test_member_scores_equal_scoring_each_member_alone(metric: str) -> None:
    outputs, y = _outputs_and_labels(metric)
    expected = [score_outputs(member, y, metric) for member in outputs]
    got = member_scores(outputs, y, metric)
    assert got.shape == (5,) and got.dtype == torch.float64
    assert got.tolist() == pytest.approx(expected, rel=1e-12)
    assert len(set(expected)) > 1  # the members differ, so a mix-up of rows would show


@pytest.mark.parametrize("metric", ["auc", "mean_auc"])
def test_a_diverged_member_has_no_auc_and_the_others_keep_theirs(metric: str) -> None:
    outputs, y = _outputs_and_labels(metric)
    outputs[2, 5] = math.nan
    got = member_scores(outputs, y, metric).tolist()
    assert math.isnan(got[2])
    others = [score_outputs(outputs[k], y, metric) for k in (0, 1, 3, 4)]
    assert [got[k] for k in (0, 1, 3, 4)] == pytest.approx(others, rel=1e-12)
