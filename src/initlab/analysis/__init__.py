"""Measurement that needs models: curvature operators, Lanczos, law fits, learning-rate search."""
