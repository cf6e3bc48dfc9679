"""The rehearsal of the paper-scale profile: every ``_full`` run at its paper size on synthetic
data in the real file formats, with only the work per run cut (see :mod:`.profile`).

Importing this package registers the rehearsal with the engine's seams: its sweep plan
(:data:`initlab.experiments.SWEEP_PLANS`), its report (:data:`initlab.report.build.
EXTRA_REPORTS`) and the checksums its writer recorded (:data:`initlab.data.files.
CHECKSUM_SOURCES`), so that the loaders read its synthetic files and nothing else unchecked.
Runs get it through ``INITLAB_PLUGINS`` (the sweep plan sets it).
"""

from initlab.data.files import CHECKSUM_SOURCES
from initlab.experiments import SWEEP_PLANS, SweepPlan
from initlab.report.build import EXTRA_REPORTS
from initlab_harness.rehearsal import profile as _profile
from initlab_harness.rehearsal.report import write_report as _write_report
from initlab_harness.rehearsal.sweeps import multiruns as _multiruns
from initlab_harness.rehearsal.writers import manifest_sha256 as _manifest_sha256

SWEEP_PLANS[_profile.PROFILE] = SweepPlan(multiruns=_multiruns, size=_profile.sweep_runs)
EXTRA_REPORTS[_profile.PROFILE] = _write_report
if _manifest_sha256 not in CHECKSUM_SOURCES:
    CHECKSUM_SOURCES.append(_manifest_sha256)
