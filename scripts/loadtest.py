"""Load test: K real browsers move the λ slider at once; how long until each redraw?

Starts the dashboard on a free loopback port (127.0.0.1 only), opens K pages in one
headless Chromium (Debian's, driven by Playwright; one browser context, hence one
Streamlit session, per client), and has every client press the λ slider's arrow key
again and again. A redraw is complete when the page shows the new "Current point λ = …"
(drawn with the curve, before any exact evaluation starts). Reports per K: p50 / p95 /
max latency from key press to redraw, errors (timeouts, exceptions shown, browser
errors), the server's peak RSS (VmHWM) and the load average. The server is restarted
for each K, so each peak is its own. Everything is bounded: at most 32 clients, a
per-move timeout and a global time limit; the script stops by itself.

    .venv/bin/python scripts/loadtest.py --bundle models/demo-viewer --clients 1,4,16

``--client ws`` replaces the browsers by clients that speak Streamlit's own websocket
protocol (the messages the browser sends when the slider moves: a rerun with the
slider's new widget state) and time the server alone: until the new current point is
sent ("redraw") and until the run finishes ("complete", every figure sent). On a small
machine K browsers cost more CPU than the server (each redraw re-renders two plotly
figures per page), so browser figures at large K measure the clients as much as the
server; real visitors render on their own machines.

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
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
MAX_CLIENTS = 32
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


@dataclass
class Phase:
    clients: int
    moves: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    complete_ms: list[float] = field(default_factory=list)  # ws clients: run finished
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
        out.pop("latencies_ms")
        out.pop("complete_ms")
        if self.complete_ms:
            out.update(
                complete_p50_ms=self.pct(50, self.complete_ms),
                complete_p95_ms=self.pct(95, self.complete_ms),
            )
        out.update(
            p50_ms=self.pct(50),
            p95_ms=self.pct(95),
            max_ms=max(self.latencies_ms, default=float("nan")),
            mean_ms=statistics.fmean(self.latencies_ms) if self.latencies_ms else float("nan"),
            errors=self.errors,
        )
        return out


# ----------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_kb(pid: int, field_name: str) -> int:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    return 0


@contextlib.contextmanager
def _server(bundle: Path, mode: str, log_path: Path, start_timeout: float):
    """The app on a free loopback port; yields (url, pid); terminated (then killed) on exit."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    env.update(TASKFAIR_BUNDLE=str(bundle), TASKFAIR_MODE=mode if mode == "viewer" else "")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
             "--server.port", str(port), "--server.headless", "true",
             "--browser.gatherUsageStats", "false"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + start_timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited: {log_path.read_text()[-2000:]}")
                with (
                    contextlib.suppress(OSError),
                    urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r,
                ):
                    if r.status == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"no health answer within {start_timeout:.0f} s")
                time.sleep(0.3)
            yield url, proc.pid
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)


# ----------------------------------------------------------------------------- clients


def _fmt(lam: float) -> str:
    return f"{round(lam, 10):g}"  # as the page prints it (f"{lam:g}")


async def _client(i: int, browser, url: str, args, phase: Phase, deadline: float) -> None:
    rng = random.Random(i)
    ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await ctx.new_page()
    page.set_default_timeout(args.move_timeout * 1000)

    def on_error(_exc):
        phase.browser_errors += 1

    page.on("pageerror", on_error)
    lam = args.start
    try:
        await page.goto(f"{url}/?page=tradeoff&lam={_fmt(lam)}", timeout=args.load_timeout * 1000)
        slider = page.get_by_role("slider", name=SLIDER)
        await slider.wait_for(timeout=args.load_timeout * 1000)
        await page.wait_for_function(
            MARKER_JS, arg=_fmt(lam), timeout=args.load_timeout * 1000, polling=50
        )
        direction = 1 if i % 2 == 0 else -1  # half the clients go down: different λ at once
        for _ in range(args.moves):
            if time.monotonic() > deadline:
                break
            if not 0 <= lam + direction * STEP <= 1 + 1e-9:
                direction = -direction
            target = round(lam + direction * STEP, 10)
            await slider.focus()
            t0 = time.perf_counter()
            await slider.press("ArrowRight" if direction > 0 else "ArrowLeft")
            try:
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
    except Exception as exc:  # a client that never got going: an error, not a crash
        phase.failed_clients += 1
        print(f"  client {i}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    finally:
        await ctx.close()


async def _ws_client(i: int, url: str, args, phase: Phase, deadline: float) -> None:
    """One session over Streamlit's websocket protocol, as the browser would drive it."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    done_ok = (
        ForwardMsg.ScriptFinishedStatus.FINISHED_SUCCESSFULLY,
        ForwardMsg.ScriptFinishedStatus.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
    )

    async def run(ws, lam: float, slider_id: str | None, timeout: float):
        """Send one rerun; return (slider id, ms to the marker, ms to the end of the run)."""
        msg = BackMsg()
        msg.rerun_script.query_string = f"page=tradeoff&lam={_fmt(lam)}"
        if slider_id:
            w = msg.rerun_script.widget_states.widgets.add()
            w.id = slider_id
            w.double_array_value.data.append(lam)
        t0 = time.perf_counter()
        await ws.send(msg.SerializeToString())
        want = f"Current point** λ = {_fmt(lam)} ("
        found = {"slider": slider_id, "marker": None}

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
                    elif what == "exception":
                        phase.exceptions_shown += 1
                elif kind == "script_finished":
                    if fm.script_finished not in done_ok:
                        phase.exceptions_shown += 1
                    return (time.perf_counter() - t0) * 1000

        complete = await asyncio.wait_for(receive(), timeout)
        return found["slider"], found["marker"], complete

    rng = random.Random(i)
    ws_url = url.replace("http://", "ws://", 1) + "/_stcore/stream"
    lam = args.start
    try:
        async with websockets.connect(
            ws_url, subprotocols=["streamlit"], origin=url, max_size=None
        ) as ws:
            slider_id, marker, _ = await run(ws, lam, None, args.load_timeout)
            if not slider_id or marker is None:
                raise RuntimeError("the first run showed no λ slider or current point")
            direction = 1 if i % 2 == 0 else -1
            for _ in range(args.moves):
                if time.monotonic() > deadline:
                    break
                if not 0 <= lam + direction * STEP <= 1 + 1e-9:
                    direction = -direction
                lam = round(lam + direction * STEP, 10)
                try:
                    _, marker, complete = await run(ws, lam, slider_id, args.move_timeout)
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


async def _ws_phase(k: int, url: str, args, phase: Phase, deadline: float) -> None:
    tasks = []
    for i in range(k):
        tasks.append(asyncio.create_task(_ws_client(i, url, args, phase, deadline)))
        await asyncio.sleep(min(0.1, 1.0 / k))
    await asyncio.wait_for(
        asyncio.gather(*tasks), timeout=max(1.0, deadline - time.monotonic() + 30)
    )


async def _phase(k: int, url: str, args, phase: Phase, deadline: float) -> None:
    from playwright.async_api import async_playwright

    if args.client == "ws":
        return await _ws_phase(k, url, args, phase, deadline)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.chromium, args=CHROME_ARGS)
        try:
            # Clients arrive over about a second, as people do, not in one instant.
            tasks = []
            for i in range(k):
                tasks.append(asyncio.create_task(_client(i, browser, url, args, phase, deadline)))
                await asyncio.sleep(min(0.1, 1.0 / k))
            await asyncio.wait_for(
                asyncio.gather(*tasks), timeout=max(1.0, deadline - time.monotonic() + 30)
            )
        finally:
            await browser.close()


def run_phase(k: int, args, deadline: float) -> Phase:
    phase = Phase(clients=k, load_before=os.getloadavg())
    log = Path(tempfile.gettempdir()) / f"taskfair-loadtest-{os.getpid()}-k{k}.log"
    t0 = time.monotonic()
    with _server(Path(args.bundle), args.mode, log, args.load_timeout) as (url, pid):
        stop = threading.Event()
        peak = [0]

        def sample():  # VmHWM is the kernel's own peak; sampling VmRSS is a cross-check
            while not stop.wait(0.25):
                peak[0] = max(peak[0], _rss_kb(pid, "VmRSS"))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            asyncio.run(_phase(k, url, args, phase, deadline))
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
    p.add_argument("--clients", default="1,4,16", help="comma-separated K values (max 32)")
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
    p.add_argument("--move-timeout", type=float, default=20.0, help="per redraw (s)")
    p.add_argument("--load-timeout", type=float, default=180.0, help="server start, page load (s)")
    p.add_argument("--time-limit", type=float, default=900.0, help="whole run (s)")
    p.add_argument("--chromium", default=CHROMIUM)
    p.add_argument("--json", default=None, help="also write the figures here")
    args = p.parse_args(argv)
    ks = [int(x) for x in args.clients.split(",") if x.strip()]
    if not ks or min(ks) < 1 or max(ks) > MAX_CLIENTS:
        p.error(f"--clients: between 1 and {MAX_CLIENTS} each")
    if not (Path(args.bundle) / "manifest.json").is_file():
        p.error(f"--bundle: no manifest.json in {args.bundle}")
    if args.client == "browser" and not Path(args.chromium).exists():
        p.error(f"--chromium: {args.chromium} not found (apt-get install -y chromium)")

    deadline = time.monotonic() + args.time_limit
    results = []
    print(
        f"bundle {args.bundle} ({args.mode} mode), {os.cpu_count()} CPUs, {args.client} "
        f"clients {ks}, {args.moves} moves each, think {args.think} s"
    )
    for k in ks:
        if time.monotonic() > deadline:
            print(f"K={k}: skipped (time limit)")
            continue
        ph = run_phase(k, args, deadline)
        s = ph.summary()
        results.append(s)
        print(
            f"K={k:>2}: {s['moves']:>4} moves  p50 {s['p50_ms']:7.0f} ms  p95 {s['p95_ms']:7.0f} ms"
            f"  max {s['max_ms']:7.0f} ms  errors {s['errors']} (timeouts {ph.timeouts}, "
            f"exceptions {ph.exceptions_shown}, browser {ph.browser_errors}, clients "
            f"{ph.failed_clients}, server {ph.server_tracebacks})  peak RSS "
            f"{s['peak_rss_mb']:.0f} MB  load {ph.load_before[0]:.1f}->{ph.load_after[0]:.1f}"
            f"  ({ph.wall_s:.0f} s)"
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
