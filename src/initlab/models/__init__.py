"""Models: each module registers names in ``MODELS``; ``build_model`` sizes them from the data."""

from initlab.models.base import MODELS, InitlabModel, ResidualBranch, build_model

__all__ = ["MODELS", "InitlabModel", "ResidualBranch", "build_model"]
