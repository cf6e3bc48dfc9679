"""The project's own machinery around the engine: fault injection for the reliability tests.

It imports :mod:`initlab`; the engine never imports it. It attaches to runs through the
engine's seams (:mod:`initlab.hooks`, loaded by naming ``initlab_harness.faults`` in
``INITLAB_PLUGINS``).
"""
