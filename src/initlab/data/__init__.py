"""Data sets: each module registers one name in ``DATASETS``; ``build_data`` returns a bundle."""

from initlab.data.bundle import DATASETS, DataBundle, DataUnavailableError, build_data

__all__ = ["DATASETS", "DataBundle", "DataUnavailableError", "build_data"]
