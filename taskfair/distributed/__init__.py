"""Builds and sweeps on Ray, when one machine is not enough.

``cluster`` (:class:`RayOptions`: address and per-task resources; :func:`connect`, the
one place ``ray``, an optional dependency, is imported), ``build`` (the fine-tunes of
``build --ray`` as Ray tasks), ``sweep`` (``sweep --ray``: λ grids and bundles spread
over actors that each hold one model on one device). Results are the same as a local
run's; docs/SCALE.md says how to point them at a cluster.
"""

from taskfair.distributed.cluster import RayOptions, connect

__all__ = ["RayOptions", "connect"]
