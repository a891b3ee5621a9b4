"""Task vectors: the dense :class:`TaskVector` with its safetensors I/O (``vector``) and the
compact forms of one tensor, low-rank ``B·A`` and sparse, with their fused adds (``forms``)."""

from taskfair.vectors.vector import VECTOR_FORMAT, TaskVector, VectorError, read_forms, read_header

__all__ = ["VECTOR_FORMAT", "TaskVector", "VectorError", "read_forms", "read_header"]
