"""Paper A: Fixup at initialization, the Hessian spectrum (Furusho & Ikeda, IBISML2019-17).

Contract, per claim (experiment -> columns its rule reads -> tables shown -> figure):

- A1, A2: ``a1_a2_hessian_depth`` -> ``summary.csv``: arm, model.depth, lambda_max -> none ->
  ``a1_a2_hessian_depth/lambda_max_vs_depth.png``
- A3: ``a3_hessian_structure`` -> ``summary.csv``: arm, seed, zero_block_fraction,
  exact_zero_block_fraction, zero_threshold, smallest_nonzero_rel, params -> none ->
  ``a3_hessian_structure/hessian_heatmaps.png`` (from ``hessian_matrix.csv`` and
  ``hessian_blocks.csv``)
- A4: ``a4_lr_sweep`` -> ``summary.csv``: arm, optim.lr, seed, status, test_accuracy,
  train_loss -> none -> ``a4_lr_sweep/accuracy_vs_lr.png`` (and ``loss_curves.png`` from
  ``metrics.csv``); modules ``claims_sweep``, ``figures_sweep``, ``report_sweep``

Arms: ``conf/arm/{resnet_he,resnet_fixup,resnet_bn,resnet_bn_zero}.yaml``. Modules: ``claims``
(rules), ``figures`` (drawing, shared with paper C's depth figures), ``report`` (what
``make report`` writes).
"""
