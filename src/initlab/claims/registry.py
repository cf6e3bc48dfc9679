"""Claim entries and verdict rules.

The catalog (``catalog.py``) lists every claim id of ``shared/PAPERS.md`` with a one-line
statement. A paper's ``claims`` module (``initlab.papers.<paper>``) attaches to its ids, with
:func:`evaluator`, the rule that reads the results CSVs and returns a :class:`Verdict`.

**The vocabulary** (:data:`STATUSES`, enforced: a rule returning anything else raises):

- ``reproduced``: every part of the claim holds at the measured scale;
- ``partly``: some part holds, some does not (or cannot be decided);
- ``contradicted``: the evidence points elsewhere: the verdict names the law or direction found,
  with the interval (or exact computation) that excludes the claimed one;
- ``inconclusive``: this scale cannot decide (intervals straddle the claim, too few draws, a
  test's floor above its level): the verdict says what would decide;
- ``not run``, with its reason (:data:`NOT_RUN_REASONS`): ``not run yet`` (no rule, or its CSVs
  are absent: the rule raised :class:`NotRun`) or ``not run at this scale`` (its data cannot be
  had at this profile).

Every decided verdict carries a ``summary``: one line of at most :data:`SUMMARY_MAX` characters
(the law or direction found with its interval, and the scale) that the report's summary table
shows; the full ``measured`` text stays in the paper's section. :func:`grade` is the one mapping
of a rule's :class:`Check` outcomes to a status; :func:`read_table` the one way a rule reads a
collected table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from initlab.claims import catalog
from initlab.columns import COMPLETED, STATUS

REPRODUCED = "reproduced"
PARTLY = "partly"
CONTRADICTED = "contradicted"
INCONCLUSIVE = "inconclusive"
NOT_RUN_STATUS = "not run"
STATUSES = (REPRODUCED, PARTLY, CONTRADICTED, INCONCLUSIVE, NOT_RUN_STATUS)
#: the statuses a rule reaches from measured numbers
DECIDED = (REPRODUCED, PARTLY, CONTRADICTED, INCONCLUSIVE)
NOT_RUN_YET = "not run yet"
NOT_RUN_AT_SCALE = "not run at this scale"
NOT_RUN_REASONS = (NOT_RUN_YET, NOT_RUN_AT_SCALE)
#: longest summary line (the report's summary table holds one line per claim)
SUMMARY_MAX = 140


@dataclass(frozen=True)
class Verdict:
    """A rule's verdict. ``status``: one of :data:`STATUSES`; ``summary``: one line of at most
    :data:`SUMMARY_MAX` characters, required for a decided status; ``reason``: for ``not run``
    only, one of :data:`NOT_RUN_REASONS` (the summary then starts with it)."""

    status: str
    measured: str = ""  # the numbers, in full (the paper's section)
    scale: str = ""  # profile and size it was measured at
    figure: str | None = None  # path relative to the results directory
    tables: tuple[str, ...] = ()  # Markdown tables (paths relative to it) shown inline
    summary: str = ""  # one line: the law or direction found with its interval, the scale
    reason: str = ""  # not run only: not run yet / not run at this scale

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"verdict status must be one of {STATUSES}, got {self.status!r}")
        if (self.status == NOT_RUN_STATUS) != (self.reason in NOT_RUN_REASONS):
            raise ValueError(
                f"a 'not run' verdict (and only it) has a reason in {NOT_RUN_REASONS}: "
                f"status {self.status!r}, reason {self.reason!r}"
            )
        if self.status in DECIDED and not self.summary:
            raise ValueError(f"a {self.status!r} verdict needs its one-line summary")
        if "\n" in self.summary or len(self.summary) > SUMMARY_MAX:
            raise ValueError(
                f"summary must be one line of <= {SUMMARY_MAX} characters, got "
                f"{len(self.summary)}: {self.summary!r}"
            )

    @property
    def line(self) -> str:
        """The summary table's text: the summary (a not-run verdict's starts with its reason)."""
        return self.summary

    @property
    def not_run_yet(self) -> bool:
        return self.reason == NOT_RUN_YET


def not_run(reason: str, detail: str = "", **fields) -> Verdict:
    """A ``not run`` verdict; its summary is the reason, then ``detail``."""
    summary = f"{reason}: {detail}" if detail else reason
    return Verdict(NOT_RUN_STATUS, summary=summary, reason=reason, **fields)


NOT_RUN = not_run(NOT_RUN_YET)


class NotRun(Exception):  # noqa: N818 - a verdict, not an error
    """A rule's inputs are not there (yet): the claim is reported as ``not run yet``."""


#: a check's outcomes: it holds; the data decide against it; this scale cannot decide it
HOLDS, AGAINST, OPEN = "holds", "against", "open"


@dataclass(frozen=True)
class Check:
    """One part of a claim, decided from the rule's numbers: ``holds``, ``against`` (the data
    show the opposite or another law, the interval excluding the claimed one) or ``open``."""

    outcome: str
    text: str = ""

    def __post_init__(self) -> None:
        if self.outcome not in (HOLDS, AGAINST, OPEN):
            raise ValueError(f"check outcome must be holds, against or open: {self.outcome!r}")

    @classmethod
    def of(cls, holds: bool, against: bool, text: str = "") -> Check:
        """``holds`` if it holds, else ``against`` if the data decide against it, else open."""
        return cls(HOLDS if holds else AGAINST if against else OPEN, text)

    @property
    def held(self) -> bool:
        return self.outcome == HOLDS


def grade(checks: Iterable[Check]) -> str:
    """reproduced if every check holds; partly if some do; when none holds: contradicted if the
    data decide against some check, else inconclusive (no checks: inconclusive). Plain booleans
    are refused: a failed check must say whether the data decided against it."""
    checks = list(checks)
    if any(not isinstance(c, Check) for c in checks):
        raise TypeError("grade takes Check outcomes (holds / against / open), not booleans")
    held = [c.held for c in checks]
    if held and all(held):
        return REPRODUCED
    if any(held):
        return PARTLY
    return CONTRADICTED if any(c.outcome == AGAINST for c in checks) else INCONCLUSIVE


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
        while it has no rule or data. A status outside the vocabulary raises (in Verdict)."""
        if self.rule is None:
            return NOT_RUN
        try:
            return self.rule(Path(results_dir), profile)
        except NotRun:
            return NOT_RUN


CLAIMS: dict[str, Claim] = {}


def add_claim(claim_id: str, paper: str, statement: str) -> None:
    if claim_id in CLAIMS:
        raise RuntimeError(f"claim {claim_id} listed twice")
    CLAIMS[claim_id] = Claim(claim_id, paper, statement)


for _id, _statement in catalog.STATEMENTS.items():
    add_claim(_id, catalog.PAPERS[_id[0]], _statement)


def evaluator(claim_id: str, experiment: str) -> Callable[[Rule], Rule]:
    """Attach a verdict rule ((results dir, profile) -> Verdict) and its experiment to a claim."""

    def attach(rule: Rule) -> Rule:
        claim = CLAIMS[claim_id]
        if claim.rule is not None:
            raise RuntimeError(f"claim {claim_id} has two rules")
        claim.rule, claim.experiment = rule, experiment
        return rule

    return attach


def all_claims() -> list[Claim]:
    """Every claim, in catalog order, with the rules attached so far: a paper's rules attach
    when its ``claims`` modules are imported, which :func:`initlab.papers.load_rules` does (the
    report and the claim tests call it; this room never imports the papers above it)."""
    return list(CLAIMS.values())
