"""The claims registry: every claim id of PAPERS.md with how its verdict is computed from CSVs."""

from initlab.claims.registry import (
    CLAIMS,
    Claim,
    NotRun,
    Verdict,
    all_claims,
    evaluator,
    grade,
    read_table,
)

__all__ = [
    "CLAIMS",
    "Claim",
    "NotRun",
    "Verdict",
    "all_claims",
    "evaluator",
    "grade",
    "read_table",
]
