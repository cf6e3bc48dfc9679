"""How the rehearsal runs an experiment's sweep (registered as the ``rehearsal`` profile's
:class:`initlab.experiments.SweepPlan`): the cuts of :mod:`.profile` on every run, big sweeps
split into covering segments, one multirun per arm where an arm changes the cuts, and its data
root in the environment, with this package named as a plugin so that each run reads the
rehearsal's files with the checksums its writer recorded."""

from __future__ import annotations

from initlab.compose import compose
from initlab.experiments import config_name
from initlab.hooks import PLUGINS_ENV
from initlab_harness.rehearsal import profile as rehearsal

PLUGIN = "initlab_harness.rehearsal"


def multiruns(
    name: str, profile: str, params: dict[str, list[str]]
) -> tuple[list[list[str]], dict[str, str]]:
    """Overrides of each multirun of the rehearsal's sweep of ``name``, and its environment."""
    base = [f"experiment={config_name(name, profile)}", f"profile={profile}"]
    segments = rehearsal.sweep_segments(params)
    cuts = rehearsal.overrides(compose(base))
    # an arm may change what is cut (D2's PDI arm: its stages' steps): one multirun per arm then
    per_arm: dict[str, list[str]] = {}
    arm_key = next((k for k in params if k.lstrip("+") == "arm"), None)
    if arm_key and not any(o.startswith(f"{arm_key}=") for seg in segments for o in seg):
        arms = {
            arm: rehearsal.overrides(compose([*base, f"{arm_key}={arm}"]))
            for arm in params[arm_key]
        }
        if any(arm_cuts != cuts for arm_cuts in arms.values()):
            per_arm = arms
    # the cuts are not recorded, so they stay out of the run directories' names
    env = {"INITLAB_DATA_ROOT": str(rehearsal.data_root()), PLUGINS_ENV: plugins_with_this()}
    if not per_arm:
        return [[*cuts, *segment] for segment in segments], env
    return [
        [*arm_cuts, f"{arm_key}={arm}", *segment]
        for arm, arm_cuts in per_arm.items()
        for segment in segments
    ], env


def plugins_with_this() -> str:
    import os

    plugins = [p for p in os.environ.get(PLUGINS_ENV, "").split(",") if p]
    return ",".join(dict.fromkeys([*plugins, PLUGIN]))
