"""Paper B: skip connections and BatchNorm keep inputs apart (Furusho & Ikeda, IBISML2019-16).
Paper C's angle claim C1 is measured on B's experiment; its rule is in
:mod:`initlab.papers.max_lr`.

Contract, per claim (experiment -> columns its rule reads -> tables shown -> figure):

- B1: ``b1_b3_angles`` (``task=angle_stream``; ``task=angles`` at paper scale) -> ``angles.csv``:
  arch, stage, inputs, cos0, layer, draw, angle_mean,
  one_minus_cos_mean, cos_mean, theory_angle, theory_cos, data_name, depth, width -> none ->
  ``b1_b3_angles/angle_vs_layer.png``
- B2, B3 (and C1): the same experiment and columns -> none -> ``b1_b3_angles/angle_by_arch.png``
- B4: ``b4_distance_ratio`` -> ``angles.csv``: inputs, stage, data_name, arch, layer, draw,
  ratio, depth, width -> none -> ``b4_distance_ratio/ratio_vs_layer.png``
- B5: ``b5_trained_ratio`` -> ``draws.csv``: stage, arm, arch, depth, draw, angle_last_data,
  ratio_last, test_accuracy; ``angles.csv``: stage, arm, inputs, draw, layer, second_moment ->
  none -> ``b5_trained_ratio/ratio_before_after.png``

Arms: ``conf/arm/stream_*.yaml`` (B1-B3, C1; depth per network), ``conf/arm/angles_*.yaml``
(B4, B5; ``*_cifar`` at paper scale); the rules read the task's ``arch`` column. Modules:
``claims``, ``figures``, ``report`` (B1-B3, C1); ``claims_distance``, ``figures_distance``,
``report_distance`` (B4, B5).
"""
