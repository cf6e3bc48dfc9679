"""The rehearsal of the paper-scale profile: every ``_full`` run at its paper size on synthetic
data in the real file formats, with only the work per run cut (see :mod:`.profile`)."""
