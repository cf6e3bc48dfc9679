"""The claims registry: every claim id of PAPERS.md with how its verdict is computed from CSVs."""

from initlab.claims.registry import CLAIMS, Claim, Verdict, all_claims, evaluator

__all__ = ["CLAIMS", "Claim", "Verdict", "all_claims", "evaluator"]
