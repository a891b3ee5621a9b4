"""The steps of a build, each one artifact: the base, the evaluation rows, each vector,
and last the sweep cache every page of the dashboard reads.

A step answers two questions. ``reuse(state)``: is my artifact recorded and intact? If
so it takes from it what later steps need (the base model, the eval rows) and the
build skips it. ``run(state)``: build the artifact and return the files to record.
Steps share one :class:`BuildState`; :mod:`taskfair.build.pipeline` runs them in order
and records each one's files and time as soon as it finishes.

The steps live in rooms of their own, gathered here: :mod:`taskfair.build.state`
(:class:`BuildState`, :class:`Step`), :mod:`taskfair.build.groundwork` (base, heads,
eval rows), :mod:`taskfair.build.vector_step` (:class:`Inputs`, each vector) and
:mod:`taskfair.build.sweep_step` (the sweep cache). A new kind of artifact is a new
step class and one entry in the pipeline's list.
"""

from taskfair.build.groundwork import BaseStep, EvalStep, HeadsStep
from taskfair.build.state import BuildState, Step
from taskfair.build.sweep_step import SweepStep
from taskfair.build.vector_step import Inputs, VectorStep, vector_steps

__all__ = [
    "BuildState",
    "Inputs",
    "Step",
    "BaseStep",
    "EvalStep",
    "HeadsStep",
    "VectorStep",
    "SweepStep",
    "vector_steps",
]
