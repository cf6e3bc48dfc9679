"""Paper C: depth and the largest usable learning rate; the Fisher spectrum (KAKENHI 18J15055).

Contract, per claim (experiment -> columns its rule reads -> tables shown -> figure):

- C1: rule and figure with paper B (:mod:`initlab.papers.angles`), on ``b1_b3_angles``
- C2: ``c2_max_lr_depth`` -> ``summary.csv``: arm, model.depth, max_lr (and A1's lambda_max for
  the 2 / lambda_max note) -> none -> ``c2_max_lr_depth/max_lr_vs_depth.png``
- C3: ``c3_fisher_depth`` -> ``summary.csv``: arm, model.depth, matrix, lambda_max -> none ->
  ``c3_fisher_depth/fisher_vs_depth.png``

Arms: ``conf/arm/{mlp_he,resnet_he,resnet_bn,resnet_fixup}.yaml``. Modules: ``claims``,
``report`` (the figures are drawn by :mod:`initlab.papers.fixup_hessian.figures`, which A and C
share).
"""
