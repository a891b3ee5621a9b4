"""Machine probes for the benchmark: the matmul rate, peak resident memory, device sync.

Every timing the benchmark reports is judged against what the machine could do at the
time (:func:`matmul_gflops`, measured in the same process and dtype where it matters)
and every phase reports its own peak memory (:class:`PeakRss`).
"""

from __future__ import annotations

import math
import threading
import time

import torch

try:  # optional: psutil is not a declared dependency; getrusage is the fallback
    import psutil
except ImportError:  # pragma: no cover - psutil ships with the environment
    psutil = None
try:  # POSIX only; the probes that need it are not used elsewhere
    import resource
except ImportError:  # pragma: no cover - not on Windows
    resource = None

__all__ = ["PeakRss", "matmul_gflops", "matmul_size", "max_rss_mb", "sync"]


def sync(device: torch.device) -> None:
    """Wait for the device's queued work, so a timer read after it counts that work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_size(device: str | torch.device) -> int:
    """The side of the square matmul that reaches the device's peak rate (8192 on a GPU,
    2048 on a CPU, where a larger one only takes longer)."""
    return 8192 if torch.device(device).type == "cuda" else 2048


def matmul_gflops(
    device: str | torch.device = "cpu",
    n: int = 2048,
    reps: int = 5,
    dtype: torch.dtype = torch.float32,
) -> float:
    """Best-of-``reps`` rate of an ``n × n`` by ``n × n`` matmul, in GFLOP/s (2n³ FLOPs)."""
    device = torch.device(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    b = torch.randn(n, n, generator=gen).to(device=device, dtype=dtype)
    best = math.inf
    for _ in range(reps + 1):  # the first is a warm-up
        sync(device)
        t = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


class PeakRss:
    """Peak resident memory of this process, sampled every ``interval`` seconds while the
    ``with`` block runs; :attr:`mb` after it (MiB)."""

    def __init__(self, interval: float = 0.005):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._proc = psutil.Process() if psutil is not None else None

    def _rss(self) -> int:
        if self._proc is not None:
            return self._proc.memory_info().rss
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def __enter__(self):
        self.peak = self._rss()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, self._rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def mb(self) -> float:
        return self.peak / 2**20


def max_rss_mb() -> float:
    """The process's peak resident memory since it started, in MiB (the kernel's record:
    catches a peak between two of :class:`PeakRss`'s samples)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
