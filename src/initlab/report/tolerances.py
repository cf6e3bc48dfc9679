"""Which comparisons are exact and which need a tolerance (docs/determinism.md explains them)."""

from __future__ import annotations

#: a figure's drawn data (``*.figure.json``) recomputed from the same CSVs on another CPU:
#: numpy's SIMD exp/log differ in the last bits (~1e-16 relative), so 1e-9 is far above the
#: noise and far below anything a reader could see
FIGURE_RTOL = 1e-9
#: absolute floor of the same comparison, for values that are 0 up to rounding
FIGURE_ATOL = 1e-12
