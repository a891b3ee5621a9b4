"""Datasets: loading (``load_dataset``) and preparing (``prepare_data``)."""

from taskfair.data.columns import *  # noqa: F403
from taskfair.data.columns import __all__ as _columns_all
from taskfair.data.fetch import *  # noqa: F403
from taskfair.data.fetch import __all__ as _fetch_all

__all__ = [*_columns_all, *_fetch_all]
