"""The training room: every optimizer step of initlab runs here.

- :mod:`initlab.training.loop`: the one loop, :func:`fit`, and what runs around it
  (:func:`train_model`, batches, evaluation and scoring, the loss ledger, checkpoints).
- :mod:`initlab.training.stacked`: K models of one architecture trained as one stack in
  :func:`fit` (:mod:`~initlab.training.stacked_layers`: the batched layers;
  :mod:`~initlab.training.stacked_optim`: one update of all members).
- :mod:`initlab.training.lr_search`: the largest stable learning rate, by bisection over runs of
  :func:`fit`.

The loop's public names are re-exported here (``from initlab.training import fit``); the
stacked and learning-rate modules are imported by their own paths.
"""

from initlab.training.loop import (
    AMP_DTYPES,
    Batches,
    BatchLoss,
    Checkpointer,
    Checkpointing,
    FitResult,
    LoopState,
    LossLedger,
    LossRows,
    Trainee,
    TrainLoopConfig,
    TrainOutcome,
    batches_for,
    epoch_order,
    eval_autocast,
    evaluate,
    evaluate_splits,
    fit,
    has_batch_norm,
    member_scores,
    objective_totals,
    predict,
    score,
    score_outputs,
    split_pieces,
    train_model,
)

__all__ = [
    "AMP_DTYPES",
    "BatchLoss",
    "Batches",
    "Checkpointer",
    "Checkpointing",
    "FitResult",
    "LoopState",
    "LossLedger",
    "LossRows",
    "TrainLoopConfig",
    "TrainOutcome",
    "Trainee",
    "batches_for",
    "epoch_order",
    "eval_autocast",
    "evaluate",
    "evaluate_splits",
    "fit",
    "has_batch_norm",
    "member_scores",
    "objective_totals",
    "predict",
    "score",
    "score_outputs",
    "split_pieces",
    "train_model",
]
