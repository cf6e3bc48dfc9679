"""Loss and metrics for the bundles whose ``metric`` is not accuracy (Tox21, HTRU2).

Tox21 (``metric = "mean_auc"``): ``y`` is float (n, tasks) with NaN for missing labels and the
model gives one logit per task. HTRU2 (``metric = "auc"``): int class labels and two logits;
the score is the softmax probability of class 1. A training loop picks these by
``DataBundle.metric``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score


def masked_bce_with_logits(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the observed (non-NaN) entries of ``y`` only."""
    observed = ~torch.isnan(y)
    if not bool(observed.any()):
        return logits.sum() * 0.0  # keeps the graph; no labels, no gradient
    return F.binary_cross_entropy_with_logits(logits[observed], y[observed])


def mean_auc(scores: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor) -> float:
    """Mean over tasks of the ROC AUC on each task's observed entries.

    Tasks whose observed labels are all of one class have no AUC and are left out; NaN if no
    task has both classes.
    """
    scores = np.asarray(torch.as_tensor(scores).detach().cpu(), dtype=np.float64)
    y = np.asarray(torch.as_tensor(y).detach().cpu(), dtype=np.float64)
    aucs = []
    for task in range(y.shape[1]):
        observed = ~np.isnan(y[:, task])
        labels = y[observed, task]
        if len(np.unique(labels)) == 2:
            aucs.append(roc_auc_score(labels, scores[observed, task]))
    return float(np.mean(aucs)) if aucs else float("nan")


def binary_auc(logits: torch.Tensor, y: torch.Tensor) -> float:
    """ROC AUC of class 1 from two-class logits (HTRU2)."""
    score = torch.softmax(logits.detach().double(), dim=1)[:, 1].cpu().numpy()
    return float(roc_auc_score(y.cpu().numpy(), score))
