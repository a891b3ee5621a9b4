"""Load test: K sessions move the λ slider at once; how long until each redraw, and what
does each move cost the server?

Starts the dashboard on a free loopback port (127.0.0.1 only), opens K sessions and has
every one move the Trade-off page's λ slider again and again. Reports per K: p50 / p95 /
max latency from move to redraw as the browser sees it, the server's CPU seconds per
move, errors (timeouts, exceptions shown, browser errors), the server's peak RSS (VmHWM)
and the load average. The server is restarted for each K, so each peak is its own. All
sessions open the page first (their open times are reported too); the moves start once
every session is in, and the server's CPU time is read around the moves only.
Everything is bounded: at most 64 clients, a per-move timeout and a global time limit;
the script stops by itself.

    .venv/bin/python scripts/loadtest.py --bundle models/demo-viewer --clients 1,16,64 --client ws
    .venv/bin/python scripts/loadtest.py --bundle models/demo-viewer --clients 16

Two ways a move is redrawn, and the script measures whichever the page does:

* **in the browser** (the page shipped every exact point of the view; the default when
  they are all cached): the slider lives in the page's scrub component; a move is timed
  inside the page, from the input event to the frame after the redraw
  (``window.taskfairScrub.redraws``), and from outside (key press until the page shows
  the new point). The server sends and receives nothing per move.
* **on the server** (``--scrub off``, i.e. ``TASKFAIR_SCRUB=off``, or a view with points
  still to evaluate): a move is a script rerun; latency is until the page shows the new
  "Current point λ = …".

``--client browser`` uses one headless Chromium page (Debian's, driven by Playwright)
per session. ``--client ws`` speaks Streamlit's own websocket protocol, so K sessions
cost the client machine almost nothing: with server redraws each move is the rerun a
browser sends (timed until the new current point is sent, "redraw", and until the run
finishes, "complete"); with browser redraws a move sends nothing (a browser sends
nothing), the sessions stay connected and count what the server sends them meanwhile,
and one real browser page (``--probe``, on by default there) moves the slider beside
them and gives the latency. On a small machine K browsers cost more CPU than the server,
so browser figures at large K measure the clients as much as the server; real visitors
render on their own machines.

A benchmark, not a test: the suite runs only a smoke of it (K=1, two moves).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import real_browser  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
MAX_CLIENTS = 64
SLIDER = "λ (task addition)"
STEP = 0.1  # taskfair.grid.LAMBDA_STEP; one arrow key press moves the slider one step
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Background pages must not be throttled: every client is "in front".
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]
# True once the page shows the current point at λ = arg (the tradeoff page's marker).
MARKER_JS = """(lam) => {
  const main = document.querySelector('[data-testid=stMain]');
  return !!main && main.innerText.includes('Current point λ = ' + lam + ' (');
}"""
ERRORS_JS = "() => document.querySelectorAll('[data-testid=stException]').length"
# The scrub component's frame (Streamlit titles a component's iframe with its name).
SCRUB_FRAME = "iframe[title*=scrub]"
# In the scrub frame: true once the redraw of position ``arg`` is complete.
SCRUB_AT_JS = "(i) => !!window.taskfairScrub && window.taskfairScrub.index === i"
SCRUB_READY_JS = "() => !!window.taskfairScrub && window.taskfairScrub.ready"
GRID = [round(i * STEP, 10) for i in range(11)]  # taskfair.grid.LAMBDA_GRID


@dataclass
class Phase:
    clients: int
    moves: int = 0
    warm: bool = False  # the page was opened once before these sessions (--warm)
    latencies_ms: list[float] = field(default_factory=list)  # as the browser sees it
    outside_ms: list[float] = field(default_factory=list)  # browser redraws: key to seen
    complete_ms: list[float] = field(default_factory=list)  # ws server redraws: run finished
    open_ms: list[float] = field(default_factory=list)  # session open to first complete page
    redraws: dict[str, int] = field(default_factory=dict)  # "browser" / "server": sessions
    frames_during_moves: int = 0  # what the server sent ws sessions while moves went on
    browser_frames_during_moves: int = 0  # websocket frames of browser pages (both ways)
    frame_kinds: dict[str, int] = field(default_factory=dict)  # of the ws sessions' frames
    cpu_s: float = 0.0  # server CPU seconds (user + system) over the moves
    moves_s: float = 0.0  # how long the moves took (wall)
    idle_cpu_s: float = 0.0  # server CPU seconds over as long with every session idle
    idle_s: float = 0.0
    timeouts: int = 0
    exceptions_shown: int = 0
    browser_errors: int = 0
    failed_clients: int = 0
    server_tracebacks: int = 0
    peak_rss_mb: float = 0.0
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    wall_s: float = 0.0

    @property
    def errors(self) -> int:
        return (
            self.timeouts
            + self.exceptions_shown
            + self.browser_errors
            + self.failed_clients
            + self.server_tracebacks
        )

    def pct(self, q: float, values: list[float] | None = None) -> float:
        xs = sorted(self.latencies_ms if values is None else values)
        if not xs:
            return float("nan")
        return xs[min(len(xs) - 1, max(0, math.ceil(q / 100 * len(xs)) - 1))]  # nearest rank

    def summary(self) -> dict:
        out = asdict(self)
        for name in ("latencies_ms", "outside_ms", "complete_ms", "open_ms"):
            out.pop(name)
        for name, values in (
            ("complete", self.complete_ms),
            ("outside", self.outside_ms),
            ("open", self.open_ms),
        ):
            if values:
                out[f"{name}_p50_ms"] = self.pct(50, values)
                out[f"{name}_p95_ms"] = self.pct(95, values)
        out.update(
            p50_ms=self.pct(50),
            p95_ms=self.pct(95),
            max_ms=max(self.latencies_ms, default=float("nan")),
            mean_ms=statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan"),
            cpu_ms_per_move=1000 * self.cpu_s / self.moves if self.moves else float("nan"),
            # What the moves cost beyond the server's idle rate over the same time.
            cpu_ms_per_move_over_idle=(
                1000 * (self.cpu_s - self.idle_cpu_s / self.idle_s * self.moves_s) / self.moves
                if self.moves and self.idle_s
                else float("nan")
            ),
            errors=self.errors,
        )
        return out


class Barrier:
    """Moves start once every session has opened its page (or failed to); ``all_done`` is
    set once every session is done moving (a session that does not move is done at once)."""

    def __init__(self, n: int):
        self.n, self.arrived, self.pending = n, 0, n
        self.go, self.all_done = asyncio.Event(), asyncio.Event()
        self.arrived_all = asyncio.Event()
        if n == 0:
            self.arrived_all.set()
            self.all_done.set()

    def arrive(self) -> None:
        self.arrived += 1
        if self.arrived >= self.n:
            self.arrived_all.set()  # the meter measures the idle rate, then sets ``go``

    async def wait(self) -> None:
        await self.go.wait()

    def done(self) -> None:
        self.pending -= 1
        if self.pending <= 0:
            self.all_done.set()


# ----------------------------------------------------------------------------- server


def _rss_kb(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (all its threads)."""
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return 0.0


@contextlib.contextmanager
def app_server(bundle: Path, mode: str, scrub: str, log_path: Path, start_timeout: float):
    """The app on a free loopback port; yields (url, pid); terminated (then killed) on exit."""
    env = {"TASKFAIR_MODE": mode if mode == "viewer" else "", "TASKFAIR_SCRUB": scrub}
    with real_browser.app_server(bundle, log_path, env=env, start_timeout=start_timeout) as up:
        yield up


# ----------------------------------------------------------------------------- clients


def _fmt(lam: float) -> str:
    return f"{round(lam, 10):g}"  # as the page prints it (f"{lam:g}")


def _next(lam: float, direction: int) -> tuple[float, int]:
    if not 0 <= lam + direction * STEP <= 1 + 1e-9:
        direction = -direction
    return round(lam + direction * STEP, 10), direction


async def _client(
    i: int, browser, url: str, args, phase: Phase, deadline: float, gate: Barrier
) -> None:
    """One Chromium page; its moves are timed as the page redraws them, in the browser
    (the scrub component) or after a server rerun (Streamlit's own slider)."""
    rng = random.Random(i)
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await ctx.new_page()
    page.set_default_timeout(args.move_timeout * 1000)

    def on_error(_exc):
        phase.browser_errors += 1

    page.on("pageerror", on_error)
    frames = {"n": 0, "counting": False}

    def on_ws(ws):
        def count(_frame):
            if frames["counting"]:
                frames["n"] += 1

        ws.on("framesent", count)
        ws.on("framereceived", count)

    page.on("websocket", on_ws)
    lam, arrived = args.start, False
    try:
        t_open = time.perf_counter()
        await page.goto(f"{url}/?page=tradeoff&lam={_fmt(lam)}", timeout=args.load_timeout * 1000)
        scrub_slider = page.frame_locator(SCRUB_FRAME).get_by_role("slider", name=SLIDER)
        server_slider = page.get_by_role("slider", name=SLIDER)
        until = time.monotonic() + args.load_timeout
        while True:  # which slider the page has: the browser's own, or the server's
            if await page.locator(SCRUB_FRAME).count():
                scrub = True
                break
            if await server_slider.count():
                scrub = False
                break
            if time.monotonic() > until:
                raise TimeoutError("the page showed no λ slider")
            await asyncio.sleep(0.1)
        if scrub:
            handle = await page.locator(SCRUB_FRAME).element_handle()
            inner = await handle.content_frame()
            await inner.wait_for_function(SCRUB_READY_JS, timeout=args.load_timeout * 1000)
            slider = scrub_slider
        else:
            await page.wait_for_function(
                MARKER_JS, arg=_fmt(lam), timeout=args.load_timeout * 1000, polling=50
            )
            slider = server_slider
        phase.open_ms.append((time.perf_counter() - t_open) * 1000)
        where = "browser" if scrub else "server"
        phase.redraws[where] = phase.redraws.get(where, 0) + 1
        gate.arrive()
        arrived = True
        await gate.wait()
        frames["counting"] = True
        direction = 1 if i % 2 == 0 else -1  # half the clients go down: different λ at once
        for _ in range(args.moves):
            if time.monotonic() > deadline:
                break
            target, direction = _next(lam, direction)
            await slider.focus()
            t0 = time.perf_counter()
            await slider.press("ArrowRight" if direction > 0 else "ArrowLeft")
            try:
                if scrub:
                    await inner.wait_for_function(
                        SCRUB_AT_JS, arg=GRID.index(target), timeout=args.move_timeout * 1000,
                        polling=5,
                    )  # fmt: skip
                    phase.outside_ms.append((time.perf_counter() - t0) * 1000)
                else:
                    await page.wait_for_function(
                        MARKER_JS, arg=_fmt(target), timeout=args.move_timeout * 1000, polling=10
                    )
                    phase.latencies_ms.append((time.perf_counter() - t0) * 1000)
            except Exception:  # playwright's TimeoutError: counted, the client goes on
                phase.timeouts += 1
            phase.moves += 1
            lam = target
            phase.exceptions_shown += int(await page.evaluate(ERRORS_JS) > 0)
            await asyncio.sleep(args.think * (0.5 + rng.random()))
        if scrub:  # the page's own timing of every redraw, input event to painted frame
            phase.latencies_ms.extend(await inner.evaluate("() => window.taskfairScrub.redraws"))
            await asyncio.sleep(1.0)  # a late frame (a rerun after the moves) still counts
        frames["counting"] = False
        phase.browser_frames_during_moves += frames["n"]
    except Exception as exc:  # a client that never got going: an error, not a crash
        phase.failed_clients += 1
        print(f"  client {i}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        if not arrived:
            gate.arrive()
        gate.done()
        await ctx.close()


async def _ws_client(i: int, url: str, args, phase: Phase, deadline: float, gate: Barrier):
    """One session over Streamlit's websocket protocol, as the browser would drive it."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    done_ok = (
        ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY,
        ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
    )
    rerun = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN

    async def run(ws, lam: float, slider_id: str | None, timeout: float):
        """Send one rerun; return (slider id, ms to the marker, ms to the end of the run,
        whether the page came as a scrub component)."""
        msg = BackMsg()
        msg.rerun_script.query_string = f"page=tradeoff&lam={_fmt(lam)}"
        msg.rerun_script.page_name = "tradeoff"  # as a browser opening /tradeoff sends
        if slider_id:
            w = msg.rerun_script.widget_states.widgets.add()
            w.id = slider_id
            w.double_array_value.data.append(lam)
        t0 = time.perf_counter()
        await ws.send(msg.SerializeToString())
        want = f"Current point** λ = {_fmt(lam)} ("
        found = {"slider": slider_id, "marker": None, "scrub": False}

        async def receive():
            while True:
                fm = ForwardMsg.FromString(await ws.recv())
                kind = fm.WhichOneof("type")
                if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                    el = fm.delta.new_element
                    what = el.WhichOneof("type")
                    if what == "slider" and el.slider.label == SLIDER:
                        found["slider"] = el.slider.id
                    elif what == "markdown" and not found["marker"] and want in el.markdown.body:
                        found["marker"] = (time.perf_counter() - t0) * 1000
                    elif (
                        what == "component_instance"
                        and "scrub" in el.component_instance.component_name
                    ):
                        found["scrub"] = True
                        found["marker"] = (time.perf_counter() - t0) * 1000
                    elif what == "exception":
                        phase.exceptions_shown += 1
                elif kind == "script_finished":
                    if fm.script_finished == rerun:  # e.g. the root page switching: go on
                        continue
                    if fm.script_finished not in done_ok:
                        phase.exceptions_shown += 1
                    return (time.perf_counter() - t0) * 1000

        complete = await asyncio.wait_for(receive(), timeout)
        return found["slider"], found["marker"], complete, found["scrub"]

    rng = random.Random(i)
    ws_url = url.replace("http://", "ws://", 1) + "/_stcore/stream"
    lam, arrived, done = args.start, False, False
    try:
        async with websockets.connect(
            ws_url, subprotocols=["streamlit"], origin=url, max_size=None
        ) as ws:
            slider_id, marker, complete, scrub = await run(ws, lam, None, args.load_timeout)
            if marker is None or not (slider_id or scrub):
                raise RuntimeError("the first run showed no λ slider or current point")
            phase.open_ms.append(complete)
            where = "browser" if scrub else "server"
            phase.redraws[where] = phase.redraws.get(where, 0) + 1
            gate.arrive()
            arrived = True
            if scrub:
                # A browser sends nothing when its slider moves: stay connected while the
                # probe moves, and count what the server sends meanwhile (nothing, if no
                # work is done per move; what trails the first run comes before the moves).
                async def listen():
                    while True:
                        fm = ForwardMsg.FromString(await ws.recv())
                        if not gate.go.is_set():
                            continue
                        phase.frames_during_moves += 1
                        kind = fm.WhichOneof("type") or "?"
                        phase.frame_kinds[kind] = phase.frame_kinds.get(kind, 0) + 1

                listener = asyncio.create_task(listen())
                gate.done()  # this session makes no moves
                done = True
                await gate.all_done.wait()
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listener
                return
            await gate.wait()
            direction = 1 if i % 2 == 0 else -1
            for _ in range(args.moves):
                if time.monotonic() > deadline:
                    break
                lam, direction = _next(lam, direction)
                try:
                    _, marker, complete, _ = await run(ws, lam, slider_id, args.move_timeout)
                    if marker is None:
                        phase.timeouts += 1
                    else:
                        phase.latencies_ms.append(marker)
                        phase.complete_ms.append(complete)
                except asyncio.TimeoutError:  # an alias of TimeoutError from 3.11 on
                    phase.timeouts += 1
                    break  # the session is out of step now: stop this client
                phase.moves += 1
                await asyncio.sleep(args.think * (0.5 + rng.random()))
    except Exception as exc:
        phase.failed_clients += 1
        print(f"  client {i}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        if not arrived:
            gate.arrive()
        if not done:
            gate.done()


async def _phase(k: int, url: str, args, phase: Phase, deadline: float, pid: int) -> None:
    """K sessions open the page; then, all at once, they move (CPU read around the moves)."""
    from playwright.async_api import async_playwright

    browsers = k if args.client == "browser" else (1 if args.probe else 0)
    ws = k if args.client == "ws" else 0
    gate = Barrier(ws + browsers)
    cpu = {}

    async def measure():
        await gate.arrived_all.wait()
        # Every session open and idle: the server's CPU rate with nothing to do.
        await asyncio.sleep(1.0)
        t0, c0 = time.monotonic(), cpu_seconds(pid)
        await asyncio.sleep(args.idle)
        phase.idle_s, phase.idle_cpu_s = time.monotonic() - t0, cpu_seconds(pid) - c0
        cpu["start"], t1 = cpu_seconds(pid), time.monotonic()
        gate.go.set()  # the moves start
        await gate.all_done.wait()
        cpu["end"], phase.moves_s = cpu_seconds(pid), time.monotonic() - t1

    async with contextlib.AsyncExitStack() as stack:
        browser = None
        if browsers:
            pw = await stack.enter_async_context(async_playwright())
            browser = await pw.chromium.launch(executable_path=args.chromium, args=CHROME_ARGS)
            stack.push_async_callback(browser.close)
        meter = asyncio.create_task(measure())
        tasks = []
        # Sessions arrive over about a second (a few at a time), as people do.
        for i in range(ws):
            tasks.append(asyncio.create_task(_ws_client(i, url, args, phase, deadline, gate)))
            await asyncio.sleep(min(0.1, 1.0 / k))
        for i in range(browsers):
            tasks.append(
                asyncio.create_task(_client(ws + i, browser, url, args, phase, deadline, gate))
            )
            await asyncio.sleep(min(0.1, 1.0 / k))
        await asyncio.wait_for(
            asyncio.gather(*tasks), timeout=max(1.0, deadline - time.monotonic() + 60)
        )
        gate.all_done.set()
        await asyncio.wait_for(meter, timeout=10)
    phase.cpu_s = cpu.get("end", 0.0) - cpu.get("start", 0.0)


def run_phase(k: int, args, deadline: float) -> Phase:
    phase = Phase(clients=k, load_before=os.getloadavg())
    log = Path(tempfile.gettempdir()) / f"taskfair-loadtest-{os.getpid()}-k{k}.log"
    t0 = time.monotonic()
    with app_server(Path(args.bundle), args.mode, args.scrub, log, args.load_timeout) as (url, pid):
        stop = threading.Event()
        peak = [0]

        def sample():  # VmHWM is the kernel's own peak; sampling VmRSS is a cross-check
            while not stop.wait(0.25):
                peak[0] = max(peak[0], _rss_kb(pid, "VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            if args.warm:  # one session opens the page first (not counted): a warm server
                once = argparse.Namespace(**{**vars(args), "client": "ws", "probe": False,
                                             "moves": 1, "idle": 0.1})  # fmt: skip
                asyncio.run(_phase(1, url, once, Phase(clients=1), deadline, pid))
                phase.warm = True
            asyncio.run(_phase(k, url, args, phase, deadline, pid))
        finally:
            stop.set()
            sampler.join(timeout=5)
            phase.peak_rss_mb = max(peak[0], _rss_kb(pid, "VmHWM")) / 1024
    phase.wall_s = time.monotonic() - t0
    phase.load_after = os.getloadavg()
    phase.server_tracebacks = log.read_text(errors="replace").count("Traceback")
    if phase.errors:
        print(f"  server log kept: {log}")
    else:
        log.unlink(missing_ok=True)
    return phase


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bundle", required=True, help="bundle folder (a viewer copy, typically)")
    p.add_argument(
        "--clients", default="1,16", help=f"comma-separated K values (max {MAX_CLIENTS})"
    )
    p.add_argument("--moves", type=int, default=12, help="λ moves per client")
    p.add_argument("--think", type=float, default=0.3, help="mean pause between moves (s)")
    p.add_argument("--start", type=float, default=0.3, help="starting λ")
    p.add_argument("--mode", choices=["viewer", "full"], default="viewer")
    p.add_argument(
        "--client",
        choices=["browser", "ws"],
        default="browser",
        help="headless Chromium pages, or Streamlit's websocket protocol (server time only)",
    )
    p.add_argument(
        "--scrub",
        choices=["on", "off"],
        default="on",
        help="TASKFAIR_SCRUB for the server: on (a view whose points are all cached moves "
        "its slider in the browser) or off (every move is a server redraw)",
    )
    p.add_argument(
        "--probe",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="with --client ws: one Chromium page that moves the slider beside the ws "
        "sessions (default: on with --scrub on, where ws sessions send nothing per move)",
    )
    p.add_argument(
        "--warm",
        action="store_true",
        help="one session opens the page before the K sessions (not counted), so page "
        "opens are a warm server's; without it each K meets a fresh server",
    )
    p.add_argument("--move-timeout", type=float, default=20.0, help="per redraw (s)")
    p.add_argument(
        "--idle", type=float, default=5.0, help="idle window before the moves (s): CPU baseline"
    )
    p.add_argument("--load-timeout", type=float, default=180.0, help="server start, page load (s)")
    p.add_argument("--time-limit", type=float, default=900.0, help="whole run (s)")
    p.add_argument("--chromium", default=CHROMIUM)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    if args.probe is None:
        args.probe = args.client == "ws" and args.scrub == "on"
    ks = [int(x) for x in args.clients.split(",") if x.strip()]
    if not ks or min(ks) < 1 or max(ks) > MAX_CLIENTS:
        p.error(f"--clients: between 1 and {MAX_CLIENTS} each")
    if not (Path(args.bundle) / "manifest.json").is_file():
        p.error(f"--bundle: no manifest.json in {args.bundle}")
    if (args.client == "browser" or args.probe) and not Path(args.chromium).exists():
        p.error(f"--chromium: {args.chromium} not found (apt-get install -y chromium)")

    deadline = time.monotonic() + args.time_limit
    results = []
    print(
        f"bundle {args.bundle} ({args.mode} mode, scrub {args.scrub}), {os.cpu_count()} CPUs, "
        f"{args.client} clients {ks}{' + 1 browser probe' if args.probe else ''}, "
        f"{args.moves} moves each, think {args.think} s"
    )
    for k in ks:
        if time.monotonic() > deadline:
            print(f"K={k}: skipped (time limit)")
            continue
        ph = run_phase(k, args, deadline)
        s = ph.summary()
        results.append(s)
        where = "/".join(f"{n} {w}" for w, n in sorted(ph.redraws.items())) or "none"
        print(
            f"K={k:>2}: {s['moves']:>4} moves  p50 {s['p50_ms']:7.1f} ms  p95 {s['p95_ms']:7.1f} ms"
            f"  max {s['max_ms']:7.1f} ms  errors {s['errors']} (timeouts {ph.timeouts}, "
            f"exceptions {ph.exceptions_shown}, browser {ph.browser_errors}, clients "
            f"{ph.failed_clients}, server {ph.server_tracebacks})  peak RSS "
            f"{s['peak_rss_mb']:.0f} MB  load {ph.load_before[0]:.1f}->{ph.load_after[0]:.1f}"
            f"  ({ph.wall_s:.0f} s)"
        )
        print(
            f"       redraws: {where} session(s); server CPU {ph.cpu_s:.2f} s over the moves "
            f"({ph.moves_s:.1f} s) = {s['cpu_ms_per_move']:.1f} ms per move, "
            f"{s['cpu_ms_per_move_over_idle']:.1f} ms over the idle rate "
            f"({ph.idle_cpu_s:.2f} s per {ph.idle_s:.1f} s idle)"
        )
        if "browser" in ph.redraws:  # server redraws are messages by definition
            print(
                f"       websocket frames during the moves: browser pages "
                f"{ph.browser_frames_during_moves}, to ws sessions {ph.frames_during_moves} "
                f"{ph.frame_kinds or ''}"
            )
        if ph.open_ms:
            print(
                f"       page open (session start to complete page): p50 {s['open_p50_ms']:7.0f}"
                f" ms  p95 {s['open_p95_ms']:7.0f} ms"
            )
        if ph.outside_ms:
            print(
                f"       seen from outside the page (key press to redrawn): p50 "
                f"{s['outside_p50_ms']:7.1f} ms  p95 {s['outside_p95_ms']:7.1f} ms"
            )
        if ph.complete_ms:
            print(
                f"       run complete (every figure sent): p50 {s['complete_p50_ms']:7.0f} ms"
                f"  p95 {s['complete_p95_ms']:7.0f} ms"
            )
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "phases": results}, indent=2))
    return 0 if results and all(r["errors"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
