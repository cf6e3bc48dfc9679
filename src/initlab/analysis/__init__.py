"""Measurement that needs models: curvature operators, Lanczos, law fits, spectra, features."""
