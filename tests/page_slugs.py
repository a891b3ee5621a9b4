"""The dashboard's pages by URL slug, read from app.py's ``PAGES`` without running the app
(importing app.py would start a Streamlit script): a page added there is visited by every
test that walks the pages."""

from __future__ import annotations

import ast
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app.py"


def _app_pages() -> tuple[str, ...]:
    for node in ast.parse(APP.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets
        ):
            return tuple(ast.literal_eval(node.value))
    raise LookupError(f"{APP} has no PAGES assignment")


PAGES = _app_pages()
