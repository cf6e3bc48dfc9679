"""The rehearsal's cuts follow each arm: an arm that changes the initializer gets its cuts."""

from __future__ import annotations

from initlab.experiments import profile_overrides


def test_the_pdi_arm_of_d2_gets_its_stage_cut_and_the_he_arms_do_not():
    segments, env = profile_overrides("d2_pdi_vae", "rehearsal")
    by_arm = {next(o for o in seg if o.startswith("arm=")): seg for seg in segments}
    assert set(by_arm) == {"arm=d2_he_full", "arm=d2_he_matched_full", "arm=d2_pdi_full"}
    assert "init.duration=[1]" in by_arm["arm=d2_pdi_full"]
    assert all("task.log_every=1" in seg for seg in segments)  # the claim reads the step loss
    assert not any(o.startswith("init.duration") for o in by_arm["arm=d2_he_full"])
    # the VAE trains on one micro-batch piece per step in the rehearsal (the full run's memory)
    assert all("task.batch_size=2" in seg for seg in segments)
    assert "INITLAB_DATA_ROOT" in env


def test_an_experiment_whose_arms_share_their_cuts_stays_one_multirun():
    segments, _ = profile_overrides("b1_b3_angles", "rehearsal")
    assert len(segments) == 1
    assert not any(o.startswith("arm=") for o in segments[0])
