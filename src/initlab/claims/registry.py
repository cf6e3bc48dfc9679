"""Claim entries and verdict rules.

The catalog (``catalog.py``) lists every claim id of ``shared/PAPERS.md`` with a one-line
statement. A paper's ``claims`` module (``initlab.papers.<paper>``) attaches to its ids, with
:func:`evaluator`, the rule that reads the results CSVs and returns a :class:`Verdict`. A claim
without a rule, or whose rule raises :class:`NotRun` (its CSVs are absent, or lack the runs it
needs), is reported as ``not run yet``. :func:`grade` is the one mapping of checks to
reproduced / partly / not reproduced; :func:`read_table` the one way a rule reads a collected
table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from initlab.columns import COMPLETED, STATUS

STATUSES = ("reproduced", "partly", "not reproduced", "not run at this scale", "not run yet")


@dataclass(frozen=True)
class Verdict:
    status: str
    measured: str = ""  # the numbers, in one line
    scale: str = ""  # profile and size it was measured at
    figure: str | None = None  # path relative to the results directory
    tables: tuple[str, ...] = ()  # Markdown tables (paths relative to it) shown inline

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verdict status must be one of {STATUSES}, got {self.status!r}")


NOT_RUN = Verdict("not run yet")


class NotRun(Exception):  # noqa: N818 - a verdict, not an error
    """A rule's inputs are not there (yet): the claim is reported as ``not run yet``."""


def grade(checks: Iterable[bool]) -> str:
    """reproduced if every check holds, partly if some do, not reproduced if none does."""
    held = [bool(c) for c in checks]
    if held and all(held):
        return "reproduced"
    return "partly" if any(held) else "not reproduced"


def read_table(
    results_dir: Path, experiment: str, table: str = "summary", completed: bool = True
) -> pd.DataFrame:
    """``<results_dir>/<experiment>/<table>.csv``, only the completed runs' rows unless
    ``completed=False``; raises :class:`NotRun` when the file or those rows are absent."""
    path = Path(results_dir) / experiment / f"{table}.csv"
    if not path.is_file():
        raise NotRun(f"no {experiment}/{table}.csv")
    frame = pd.read_csv(path)
    if completed and STATUS in frame.columns:
        frame = frame[frame[STATUS] == COMPLETED]
    if frame.empty:
        raise NotRun(f"no {'completed ' if completed else ''}runs in {experiment}/{table}.csv")
    return frame


#: a verdict rule: (a profile's results folder, the profile: quick, full, ...) -> Verdict
Rule = Callable[[Path, str], Verdict]


@dataclass
class Claim:
    id: str
    paper: str
    statement: str
    experiment: str | None = None  # conf/experiment/<name>.yaml that feeds it
    rule: Rule | None = field(default=None, repr=False)

    def verdict(self, results_dir: Path, profile: str) -> Verdict:
        """The rule's verdict on ``results_dir`` (the results of ``profile``); ``not run yet``
        while it has no rule or data."""
        if self.rule is None:
            return NOT_RUN
        try:
            return self.rule(Path(results_dir), profile)
        except NotRun:
            return NOT_RUN


CLAIMS: dict[str, Claim] = {}
_loaded = False


def add_claim(claim_id: str, paper: str, statement: str) -> None:
    if claim_id in CLAIMS:
        raise RuntimeError(f"claim {claim_id} listed twice")
    CLAIMS[claim_id] = Claim(claim_id, paper, statement)


def evaluator(claim_id: str, experiment: str) -> Callable[[Rule], Rule]:
    """Attach a verdict rule ((results dir, profile) -> Verdict) and its experiment to a claim."""

    def attach(rule: Rule) -> Rule:
        from initlab.claims import catalog  # noqa: F401 - the ids must exist first

        claim = CLAIMS[claim_id]
        if claim.rule is not None:
            raise RuntimeError(f"claim {claim_id} has two rules")
        claim.rule, claim.experiment = rule, experiment
        return rule

    return attach


def all_claims() -> list[Claim]:
    """Every claim, in catalog order, with the rules of every paper (initlab.papers) attached."""
    global _loaded
    if not _loaded:
        from initlab.claims import catalog  # noqa: F401 - the ids
        from initlab.papers import modules

        modules("claims")
        _loaded = True
    return list(CLAIMS.values())
