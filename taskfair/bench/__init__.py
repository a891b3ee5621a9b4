"""``python -m taskfair bench``: the paper's per-λ pipeline against ours, text and images."""
