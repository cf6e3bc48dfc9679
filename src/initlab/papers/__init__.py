"""One folder per paper: its claim rules, the tables its verdicts show and its figures.

Each paper's package holds ``claims*.py`` (verdict rules, registered with
:func:`initlab.claims.evaluator`), ``figures*.py`` (drawing functions: DataFrames in, matplotlib
figures out; the notebooks show the same) and ``report*.py`` (``build(results, profile)``: the
tables and figures ``make report`` writes next to the CSVs). Its ``__init__`` docstring is the
paper's contract: per claim id, the experiment, the columns its rule reads, the tables and the
figure. The engine (models, inits, data, tasks, analysis, theory) knows nothing of papers.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

#: paper letter (shared/PAPERS.md) -> its package under initlab.papers
PAPERS = {"A": "fixup_hessian", "B": "angles", "C": "max_lr", "D": "pdi", "E": "snn"}


def modules(kind: str) -> list[ModuleType]:
    """Every paper's modules named ``<kind>`` or ``<kind>_*`` (``claims``, ``report``), imported,
    in paper order."""
    found = []
    for package_name in PAPERS.values():
        package = importlib.import_module(f"{__name__}.{package_name}")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.name == kind or info.name.startswith(f"{kind}_"):
                found.append(importlib.import_module(f"{package.__name__}.{info.name}"))
    return found


def load_rules() -> list:
    """Every claim (:func:`initlab.claims.all_claims`) with every paper's rule attached."""
    from initlab.claims import all_claims

    modules("claims")
    return all_claims()


def build_outputs(results: object, profile: str) -> None:
    """Write every paper's tables and figures for one profile's results folder."""
    for module in modules("report"):
        module.build(results, profile)


def _register() -> None:
    """Let ``make report`` (:mod:`initlab.report.build`) write every paper's outputs."""
    from initlab.report.build import OUTPUT_WRITERS

    if build_outputs not in OUTPUT_WRITERS:
        OUTPUT_WRITERS.append(build_outputs)


_register()
