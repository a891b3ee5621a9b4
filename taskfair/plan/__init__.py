"""The memory planner: what a model, its task vectors and the merge take on one device.

``shapes`` (:func:`model_tensors`: a classifier's tensors from its config on the meta
device; :data:`KNOWN_SHAPES`: the recipes' models, for offline use), ``memory``
(:func:`plan_memory` → :class:`MemoryPlan`, part by part). ``command`` is
``python -m taskfair plan`` and is not imported here.
"""

from taskfair.plan.memory import (
    GIB,
    RUNTIME_BYTES,
    MemoryPlan,
    VectorSpec,
    parse_device,
    plan_memory,
)
from taskfair.plan.shapes import (
    KNOWN_SHAPES,
    ModelTensors,
    model_config,
    model_tensors,
    numel,
    tensors_of,
)

__all__ = [
    "GIB",
    "KNOWN_SHAPES",
    "RUNTIME_BYTES",
    "MemoryPlan",
    "ModelTensors",
    "VectorSpec",
    "model_config",
    "model_tensors",
    "numel",
    "parse_device",
    "plan_memory",
    "tensors_of",
]
