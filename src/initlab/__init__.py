"""initlab: how initialization, skip connections and normalization shape deep networks."""

__version__ = "0.1.0"
