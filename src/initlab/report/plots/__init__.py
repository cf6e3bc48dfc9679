"""The figures of every paper, drawn from collected CSVs: one module per paper.

``hessian`` (A, C), ``angles`` (B), ``pdi`` (D), ``selu`` (E1-E3), ``snn_benchmarks`` (E4, E6).
Each function takes loaded DataFrames and returns a matplotlib Figure (or a table); none trains,
reads or writes anything.
``scripts/plot_*.py`` save them for the report, the notebooks show them.
"""
