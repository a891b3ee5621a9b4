"""The λ slider every view shares: its label, default and how its value prints.

The server's slider (the dashboard) and a shipped view's slider (:mod:`taskfair.views.ship`)
read these, so a value prints the same way in both.
"""

from __future__ import annotations

import math

from taskfair import grid

__all__ = ["DEFAULT_LAM", "LAM_DECIMALS", "LAM_FORMAT", "LAM_LABEL", "lam_slider"]

#: The global λ a view opens at (a link without ``lam``).
DEFAULT_LAM = 0.3
# As many decimals as the grid's step has (0.1 -> "%.1f"), so the thumb reads 0.3, not 0.30.
LAM_DECIMALS = max(0, -math.floor(math.log10(grid.LAMBDA_STEP) + 1e-9))
LAM_FORMAT = f"%.{LAM_DECIMALS}f"
LAM_LABEL = "λ (task addition)"


def lam_slider(param: str = "lam", label: str = LAM_LABEL, default: float = DEFAULT_LAM) -> dict:
    """A shipped view's λ slider (:func:`taskfair.views.ship.ship_view`'s ``param``,
    ``label``, ``default`` and ``decimals``): the global λ unless told otherwise."""
    return {"param": param, "label": label, "default": default, "decimals": LAM_DECIMALS}
