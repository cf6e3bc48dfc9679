"""The E4/E5 experiment configs compose, and every grid member of every FNN variant is valid."""

from __future__ import annotations

import pytest

from initlab.experiments import sweep_size
from initlab.setup import parse_config
from initlab.tasks.grid_search import member_setups
from tests.conftest import quiet_config

FNNS = ("snn", "msra", "batchnorm", "layernorm", "weightnorm", "highway", "resnet")


@pytest.mark.parametrize(
    ("experiment", "extra"),
    [("e4_uci_fnn", ["data.dataset=letter"]), ("e5_htru2_full", ["data.fold=9"])],
)
def test_fnn_grids_parse_for_every_variant(experiment, extra):
    for fnn in FNNS:
        setup = parse_config(quiet_config(f"experiment={experiment}", f"arm=fnn_{fnn}", *extra))
        assert setup.task.method == f"fnn_{fnn}"  # ${arm} picked the variant's grid
        members, setups = member_setups(setup.task, setup)
        assert len(members) == len(setups) > 1
        depths = {s.model.depth for s in setups}
        assert len(depths) >= 3  # a by-depth table needs several depths


@pytest.mark.parametrize(
    ("experiment", "extra"),
    [
        ("e4_uci_fnn_full", ["arm=fnn_resnet", "data.dataset=zoo"]),
        ("e5_tox21_full", ["arm=fnn_snn", "seed=4"]),
        ("e4_uci_baselines", ["data.dataset=wine", "data.seed=2"]),
        ("e4_uci_baselines_full", ["data.dataset=abalone"]),
    ],
)
def test_other_benchmark_configs_parse(experiment, extra):
    setup = parse_config(quiet_config(f"experiment={experiment}", *extra))
    assert setup.task.name in ("grid_search", "sklearn_baselines")


def test_uci121_sweeps_cover_121_distinct_sets_in_both_configs():
    import yaml

    from initlab.experiments import EXPERIMENT_DIR

    names = {}
    for experiment in ("e4_uci_fnn_full", "e4_uci_baselines_full"):
        params = yaml.safe_load((EXPERIMENT_DIR / f"{experiment}.yaml").read_text())["hydra"][
            "sweeper"
        ]["params"]
        names[experiment] = str(params["data.dataset"]).split(",")
        assert len(set(names[experiment])) == len(names[experiment]) == 121
    assert names["e4_uci_fnn_full"] == names["e4_uci_baselines_full"]
    assert sweep_size("e4_uci_fnn", "full") == 847


def test_quick_e4_sweeps_the_usable_keel_sets_and_leaves_the_full_grids_alone():
    """Quick: the 36 usable KEEL sets x 2 split seeds, FNNs and baselines on the same points;
    the full profile's sweep and splits do not inherit the quick data keys."""
    from initlab.data.keel import USABLE
    from initlab.experiments import sweep_params

    quick = {e: sweep_params(e, "quick") for e in ("e4_uci_fnn", "e4_uci_baselines")}
    for params in quick.values():
        assert sorted(params["data.dataset"]) == sorted(USABLE) and len(USABLE) == 36
        assert params["data.seed"] == ["0", "1"]
    assert len(quick["e4_uci_fnn"]["arm"]) == 7
    assert sweep_size("e4_uci_fnn", "quick") == 7 * 36 * 2
    for experiment in ("e4_uci_fnn_full", "e4_uci_baselines_full"):
        arm = ["arm=fnn_snn"] if "fnn" in experiment else []
        cfg = quiet_config(f"experiment={experiment}", *arm, "data.dataset=zoo")
        assert cfg["data"]["name"] == "uci121" and cfg["data"]["max_train"] is None
        assert cfg["data"]["val_fraction"] == 0.0
    assert "data.seed" not in sweep_params("e4_uci_fnn", "full")
