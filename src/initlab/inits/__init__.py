"""Initializers: each module registers names in ``INITS``; ``initialize`` applies one."""

from initlab.inits.base import INITS, InitConfig, InitContext, initialize

__all__ = ["INITS", "InitConfig", "InitContext", "initialize"]
