"""Paper E: Self-Normalizing Neural Networks (Klambauer et al., NeurIPS 2017).

Contract, per claim (experiment -> columns its rule reads -> tables shown -> figure):

- E1: ``e1_e2_selu_theory`` -> ``selu_constants.csv``: quantity, value -> none ->
  ``e1_e2_selu_theory/selu_vector_field.png``
- E2: the same experiment -> ``selu_theorems.csv``: theorem, quantity, value, grid_points ->
  none -> the same figure
- E3: ``e3_activation_stats`` -> ``activations.csv``: run, arm, task.input_mean, task.input_var,
  seed, layer, kind, mean, var, units -> none -> ``e3_activation_stats/attraction.png`` (and
  ``activation_stats.png``)
- E4: ``e4_uci_fnn`` (+ ``e4_uci_baselines``) -> ``selected.csv``: arm (resp. method), data or
  data.dataset, data.seed (quick: KEEL split seeds), selection, test_score, tied_members ->
  ``e4_uci_fnn/ranks.md`` -> ``e4_uci_fnn/cd_diagram.png`` (and ``mean_ranks.png``)
- E5: ``e5_tox21``, ``e5_htru2`` (full only) -> ``selected.csv``: arm, selection, test_score,
  model.depth -> ``e5_*/by_depth.md`` -> none
- E6: ``e6_selu_cnn`` (+ ``e6_cifar_cnn``, full only) -> ``summary.csv``: arm, data, seed,
  test_accuracy -> ``e6_selu_cnn/accuracy_table.md`` -> ``e6_selu_cnn/selu_cnn_accuracy.png``

Arms: ``conf/arm/e3_*.yaml``, ``fnn_*.yaml``, ``cnn_*.yaml``. Modules: ``claims_theory`` /
``figures_theory`` / ``report_theory`` (E1-E3), ``claims_benchmark`` / ``report_benchmark``
(E4, E5), ``claims_cnn`` / ``report_cnn`` (E6), ``figures_benchmark`` (E4 and E6 figures).
"""
