"""Paper D: Progressive Data Increasing as initialization (Sato & Kimura).

Contract, per claim (experiment -> columns its rule reads -> tables shown -> figure):

- D1: ``d1_pdi_weight_variance`` -> ``weight_variance.csv``: arm, seed, layer, fan_in,
  variance, he_variance, stage, step, settled -> none ->
  ``d1_pdi_weight_variance/weight_variance.png``
- D2: ``d2_pdi_vae`` -> ``summary.csv``: arm, test_l1; ``metrics.csv``: run, arm, phase, step,
  train_batch_loss, train_l1, test_l1 -> ``d2_pdi_vae/l1_table.md`` ->
  ``d2_pdi_vae/vae_curves.png``

D1's starts: ``conf/arm/d1_*.yaml`` (base initializer and ``init.gain``). D2's arms:
``conf/arm/d2_*.yaml`` (``*_full`` at paper scale; ``claims.D2_ARMS`` maps them to he,
he_matched, pdi). Modules: ``claims``, ``figures``, ``report``.
"""
