"""Closed-form theory (pure numpy/scipy functions) for the claims reproduced in initlab."""
