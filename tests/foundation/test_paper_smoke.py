"""CI smoke test: one experiment per paper, end to end at toy size, then the report.

Each runs its real quick-profile sweep (Hydra multirun, collection into results tables) with
overrides that shrink it to seconds; the claims it feeds must then be measured in the report
(any verdict but "not run yet": at this size the verdict itself is not the point).
Marked slow (~80 s, `make test-slow`): the default suite keeps one experiment per paper end to
end at paper size in tests/rehearsal/test_ci_slice.py, and each paper's rules in tests/papers/.
"""

from __future__ import annotations

import pytest

from initlab.claims import all_claims
from initlab.experiments import run_experiment
from initlab.report.build import render_report

SMOKE = {  # experiment -> (overrides that shrink it, a claim it must measure)
    "a3_hessian_structure": ([], "A3"),
    "b1_b3_angles": (
        [
            "model.depth=12",
            "model.width=64",
            "task.seeds=2",
            "task.data_pairs=4",
            "task.pairs_per_cosine=2",
            "task.theory_samples=500",
        ],
        "B1",
    ),
    "c3_fisher_depth": (["model.depth=1,2,4", "seed=0"], "C3"),
    "d1_pdi_weight_variance": (
        ["init.duration=[30]", "arm=d1_he,d1_xavier", "seed=0", "task.eval_examples=128"],
        "D1",
    ),
    "e1_e2_selu_theory": (
        [
            "task.grid_points=5",
            "task.variance_grid_points=5",
            "task.fixed_point_grid_points=3",
            "task.field_points=5",
        ],
        "E1",
    ),
}


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    root = tmp_path_factory.mktemp("smoke")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("INITLAB_OUTPUTS", str(root / "outputs"))
        codes = {
            name: run_experiment(name, "quick", overrides, results_root=root / "results")
            for name, (overrides, _) in SMOKE.items()
        }
    return root / "results", codes


@pytest.mark.slow
@pytest.mark.parametrize("experiment", sorted(SMOKE))
def test_one_experiment_per_paper_is_measured(smoke_results, experiment):
    results, codes = smoke_results
    assert codes[experiment] == 0
    claim = next(c for c in all_claims() if c.id == SMOKE[experiment][1])
    assert claim.experiment == experiment
    verdict = claim.verdict(results / "quick", "quick")
    assert not verdict.not_run_yet, verdict
    assert verdict.measured  # the numbers it was judged on
    row = next(
        line for line in render_report(results).splitlines() if line.startswith(f"| {claim.id} |")
    )
    assert "not run yet" not in row and "| quick" in row
