"""Paper C: depth and the largest usable learning rate; the Fisher spectrum (KAKENHI 18J15055).

Contract, per claim (experiment -> columns its rule reads -> tables shown -> figure):

- C1: ``b1_b3_angles`` (paper B's experiment) -> ``angles.csv``: the columns of B1/B3 (arch,
  stage, inputs, cos0, layer, draw, angle_mean, ...) -> none -> B's
  ``b1_b3_angles/angle_by_arch.png``; the rule reuses B's curve fits
  (:mod:`initlab.papers.angles.claims`)
- C2: ``c2_max_lr_depth`` -> ``summary.csv``: arm, model.depth, max_lr, criterion (monotone:
  GD's stability edge), lambda_max and edge_ratio (= max_lr * lambda_max / 2, the loss Hessian
  of the same run) -> none -> ``c2_max_lr_depth/max_lr_vs_depth.png``
- C3: ``c3_fisher_depth`` -> ``summary.csv``: arm, model.depth, matrix (fisher_gauss: graded;
  fisher_true: beside it), lambda_max -> none -> ``c3_fisher_depth/fisher_vs_depth.png``

Quick profile: fully connected residual branches on the digits as 64-dim vectors (CPU budget);
full profile: 3x3 conv residual nets on CIFAR-10.

Arms: ``conf/arm/{mlp_he,resnet_he,resnet_bn,resnet_fixup}.yaml`` (C1: ``angles_*``).
Modules: ``claims`` (C1-C3), ``figures`` (C2, C3; on paper A's depth panels), ``report``.
"""
