"""``python -m taskfair.bench --phase ...``: one measured phase, in a child process of the
driver (:func:`taskfair.bench.phases.main`); users run ``python -m taskfair bench``."""

from taskfair.bench.phases import main

if __name__ == "__main__":
    raise SystemExit(main())
