"""Connecting to Ray, and what each task or actor asks of it.

``ray`` is an optional dependency: it is imported in :func:`connect` only, which every
Ray code path calls first, so taskfair imports, builds and sweeps without it.

:class:`RayOptions` says where (``address``: ``auto`` joins the cluster this machine
belongs to, or starts a local one; ``ray://HOST:10001`` or ``HOST:6379`` a given one)
and with what each task or actor runs (``num_cpus``, ``num_gpus``; ``actors`` for
sweeps). A task runs torch with as many threads as CPUs it declared, by default as many
as this process uses, so a run on the cluster does the same arithmetic as a local run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from taskfair.errors import ConfigError

__all__ = ["RayOptions", "add_ray_options", "connect", "package_dir", "ray_options"]


@dataclass(frozen=True)
class RayOptions:
    """Where Ray runs and what each task or actor declares (see the module docstring)."""

    address: str = "auto"
    num_cpus: int | None = None
    num_gpus: float | None = None
    actors: int | None = None

    def __post_init__(self):
        if self.num_cpus is not None and (not isinstance(self.num_cpus, int) or self.num_cpus < 1):
            raise ConfigError(f"--ray-cpus must be a whole number >= 1, got {self.num_cpus!r}.")
        if self.num_gpus is not None and not self.num_gpus >= 0:
            raise ConfigError(f"--ray-gpus must be >= 0, got {self.num_gpus!r}.")
        if self.actors is not None and (not isinstance(self.actors, int) or self.actors < 1):
            raise ConfigError(f"--ray-actors must be a whole number >= 1, got {self.actors!r}.")

    def cpus(self) -> int:
        """CPUs (and torch threads) per task: as declared, else this process's threads."""
        return int(self.num_cpus or torch.get_num_threads())

    def gpus(self, device: torch.device | str) -> float:
        """GPUs per task: as declared, else one when the build or sweep runs on a GPU."""
        if self.num_gpus is not None:
            return float(self.num_gpus)
        return 1.0 if torch.device(device).type == "cuda" else 0.0

    def resources(self, device) -> dict:
        return {"num_cpus": self.cpus(), "num_gpus": self.gpus(device)}


def package_dir() -> Path:
    """The taskfair package folder, shipped to the cluster's workers with each job."""
    return Path(__file__).resolve().parents[1]


def connect(options: RayOptions):
    """The ``ray`` module, initialised: an existing connection is kept (a caller that ran
    ``ray.init`` itself decides), else the cluster at ``options.address`` is joined with
    the taskfair package shipped to its workers."""
    try:
        # ray is optional (pip install "ray[default]"): only the --ray code paths need it.
        import ray
    except ImportError as exc:
        raise ConfigError(
            "--ray needs Ray, which is not installed: pip install 'ray[default]' (the same "
            "version on every node), or run without --ray."
        ) from exc
    if not ray.is_initialized():
        address = None if options.address in (None, "", "auto") else options.address
        try:
            ray.init(
                address=address,
                runtime_env={"py_modules": [str(package_dir())]},
                include_dashboard=False,
                log_to_driver=False,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"Could not connect to the Ray cluster at {options.address!r} ({exc}). Start it "
                "with `ray start --head` on the head node, or give its address: "
                "--ray ray://HOST:10001."
            ) from exc
    return ray


def add_ray_options(parser, unit: str) -> None:
    """``--ray [auto|ADDRESS]`` and the resources ``unit`` declares (shared with sweep)."""
    parser.add_argument(
        "--ray",
        nargs="?",
        const="auto",
        default=None,
        metavar="auto|ADDRESS",
        help="run on Ray: 'auto' joins this machine's cluster or starts a local one; or "
        "ray://HOST:10001 (needs: pip install 'ray[default]'; see docs/SCALE.md)",
    )
    parser.add_argument(
        "--ray-cpus", type=int, default=None, help=f"CPUs (torch threads) {unit} declares"
    )
    parser.add_argument(
        "--ray-gpus",
        type=float,
        default=None,
        help=f"GPUs {unit} declares (default: 1 on a GPU build)",
    )


def ray_options(args) -> RayOptions | None:
    """The :class:`RayOptions` of the parsed ``--ray*`` flags, or None without ``--ray``."""
    if args.ray is None:
        return None
    return RayOptions(
        address=args.ray,
        num_cpus=args.ray_cpus,
        num_gpus=args.ray_gpus,
        actors=getattr(args, "ray_actors", None),
    )
