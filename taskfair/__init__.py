"""taskfair: steer a model's accuracy-fairness trade-off with task arithmetic.

Importing the package has no side effects: no directories, no environment variables,
no warning filters. Submodules are imported on use (``from taskfair import merge``).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
