#!/usr/bin/env python3
"""Queue-protocol throughput of the emulator against a bare Starlette app, and render time.

Run through ``benchmarks/queue_throughput`` (installs the venv and wrk). Each server is its own
process: the emulator is ``imgemu serve`` with its defaults (one worker), the bare app a
``uvicorn`` process (one worker, uvloop, httptools); wrk drives submit and status reads. The
render benchmark runs in this process. Optional servers in the same run: ``--granian`` (the
emulator's app under granian, one worker), ``--aimock`` (aimock's fal.ai-style queue, the
peer users would otherwise pick) and ``--bare-protocol`` (the bare app under uvicorn with
``imgemu serve``'s HTTP protocol, ``emulator.protocol.CoalescingProtocol``). See
``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import platform
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from emulator.domain.drawing import render
from emulator.domain.files import render_spec
from emulator.domain.records import Job, OutputFile

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "benchmarks"
# The seed body lives in the wrk script; the status job is submitted with the same one.
SEED_BODY = json.loads("".join(re.findall(r"'([^']*)'", (BENCH / "wrk/submit.lua").read_text())))
HEADERS = {"Authorization": "Key bench"}
SUBMIT_PATH = "/model/v1/queue/gpt_image_1"
# The emulator runs with its built-in defaults (16 slots per model, time scale 0.1): submits
# build a real backlog, and the status job, submitted after them, waits in it.
EMULATOR_ENV = {"IMGEMU_LOG_LEVEL": "warning"}
# The HTTP protocol ``imgemu serve`` runs (``--bare-protocol`` gives it to the bare app too).
PROTOCOL = "emulator.protocol:CoalescingProtocol"
TARGET_RATIO, TARGET_P99_MS, TARGET_RENDER_MS = 0.8, 15.0, 30.0
# aimock (npm @copilotkit/aimock, pinned in benchmarks/peers/package.json): its general fal
# handler answers under /fal/<model> when the request names the fal host it stands in for.
PEERS = BENCH / "peers"
AIMOCK_CLI = PEERS / "node_modules/@copilotkit/aimock/dist/aimock-cli.js"
AIMOCK_SUBMIT_PATH = "/fal/fal-ai/gpt-image-1/text-to-image"
AIMOCK_HEADERS = {"x-fal-target-host": "queue.fal.run"}
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine since boot."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)


def busy_percent(seconds: float = 1.0) -> float:
    """Share of the machine's CPU in use (by anything) over ``seconds``: 0 when it is quiet."""
    busy0, total0 = machine_ticks()
    time.sleep(seconds)
    busy1, total1 = machine_ticks()
    return 100.0 * (busy1 - busy0) / max(1, total1 - total0)


def uvicorn_command(factory: str, http: str = "httptools") -> Callable[[int], list[str]]:
    """A one-worker uvicorn server for ``factory`` (module:function in benchmarks/)."""

    def command(port: int) -> list[str]:
        cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--app-dir", str(BENCH)]
        cmd += ["--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--loop", "uvloop"]
        return [*cmd, "--http", http, "--no-access-log", "--log-level", "warning"]

    return command


def serve_command(port: int) -> list[str]:
    """``imgemu serve`` as a user starts it: its defaults, the port chosen here (the log level
    comes from ``EMULATOR_ENV``). Started in a tree's directory, it runs that tree's code."""
    return [sys.executable, "-c", "from imgemu.cli import main; main()", "serve",
            "--port", str(port)]  # fmt: skip


def granian_command(factory: str) -> Callable[[int], list[str]]:
    """The same factory under granian: ASGI, one worker, uvloop, HTTP/1, no access log."""

    def command(port: int) -> list[str]:
        cmd = [sys.executable, "-m", "granian", "--interface", "asgi", "--factory"]
        cmd += ["--working-dir", str(BENCH), "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--workers", "1", "--loop", "uvloop", "--http", "1", "--no-ws"]
        return [*cmd, "--no-access-log", "--log-level", "warning", factory]

    return command


def aimock_command(port: int) -> list[str]:
    """aimock from benchmarks/peers, its fixture and log level from aimock-config.json."""
    config = PEERS / "aimock-config.json"
    return ["node", str(AIMOCK_CLI), "-c", str(config), "-p", str(port), "--host", "127.0.0.1"]


@dataclass(frozen=True)
class Target:
    """A server the rounds drive: how to start it and where its queue answers."""

    name: str  # the key of its numbers in the results
    label: str
    command: Callable[[int], list[str]]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    submit_path: str = SUBMIT_PATH
    headers: Mapping[str, str] = field(default_factory=dict)  # on every request, wrk's too


EMULATOR = Target("emulator", "imgemu serve", serve_command, EMULATOR_ENV)
BARE = Target("bare", "bare Starlette (uvicorn)", uvicorn_command("bare_app:create_app"))
BARE_PROTOCOL = Target("bare_protocol", "bare Starlette (uvicorn, imgemu's protocol)",
                       uvicorn_command("bare_app:create_app", PROTOCOL))  # fmt: skip
GRANIAN = Target("granian", "imgemu (granian)", granian_command("emulator_app:create_app"),
                 EMULATOR_ENV)  # fmt: skip
AIMOCK = Target("aimock", "aimock 1.43 (fal queue)", aimock_command, cwd=PEERS,
                submit_path=AIMOCK_SUBMIT_PATH, headers=AIMOCK_HEADERS)  # fmt: skip


def tree_target(spec: str) -> Target:
    """``--tree LABEL=DIR``: the emulator of another source tree (an older commit exported
    with ``git archive``), served as ``EMULATOR`` is, its code first on the path."""
    label, sep, where = spec.partition("=")
    root = Path(where).resolve()
    if not sep or not label.isidentifier() or not (root / "emulator/app.py").is_file():
        raise SystemExit(f"--tree {spec!r}: want LABEL=DIR, DIR a tree with emulator/app.py")
    documents = root / "emulator" / "openapi"
    if not documents.exists() and (root / "openapi").is_dir():
        # The editable install maps ``emulator.openapi`` to this checkout's documents: the
        # tree reads its own through a link where a wheel would ship them.
        documents.symlink_to(Path("..") / "openapi")
    env = {**EMULATOR_ENV, "PYTHONPATH": str(root)}
    # Started from the tree: ``python -m`` puts the working directory first on the path, ahead
    # of PYTHONPATH and of this checkout's editable install.
    return Target(label, f"imgemu serve {label}", EMULATOR.command, env, cwd=root)


def missing(target: Target) -> str | None:
    """Why an optional server cannot run here, or None when it can."""
    if target is GRANIAN and importlib.util.find_spec("granian") is None:
        return "granian is not installed in this venv: .venv/bin/pip install -e '.[test,bench]'"
    if target is AIMOCK:
        if shutil.which("node") is None:
            return "node is not on PATH (aimock 1.43 needs Node.js >= 20.15)"
        if not AIMOCK_CLI.is_file():
            return "aimock is not installed: npm ci --prefix benchmarks/peers"
    return None


@contextmanager
def server(target: Target) -> Iterator[tuple[str, int]]:
    """``target`` on a free loopback port; yields its base URL and process id."""
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IMGEMU_")}
    proc = subprocess.Popen(target.command(port), cwd=target.cwd, env={**clean, **target.env})
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{target.label} did not start (exit code {proc.returncode})")
        yield base, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def parse_wrk(out: str) -> dict[str, Any]:
    """requests/s, p50/p99 (ms), non-2xx/3xx and socket errors from wrk --latency output."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    total = re.search(r"(\d+) requests in", out)
    if not (rps and p50 and p99 and total):
        raise RuntimeError(f"unreadable wrk output:\n{out}")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(n) for n in sock.groups()) if sock else 0
    return {"rps": float(rps[1]), "requests": int(total[1]), "p50_ms": _ms(p50[1]),
            "p99_ms": _ms(p99[1]), "non_2xx": int(non2xx[1]) if non2xx else 0,
            "socket_errors": errors}  # fmt: skip


def process_tree_ticks(pid: int) -> int:
    """User + system clock ticks of ``pid`` and its descendants (granian's worker is a child)."""
    stats: dict[int, tuple[int, int]] = {}  # pid -> (parent, ticks)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone since the listing
                continue
            stats[int(entry.name)] = (int(fields[1]), int(fields[11]) + int(fields[12]))
    tree, total, grew = {pid}, 0, True
    while grew:
        size = len(tree)
        tree |= {child for child, (parent, _) in stats.items() if parent in tree}
        grew = len(tree) > size
    for member in tree:
        total += stats.get(member, (0, 0))[1]
    return total


def http_scope(
    method: str,
    path: str,
    headers: list[tuple[bytes, bytes]],
    query: bytes = b"",
    root_path: str = "",
) -> dict[str, Any]:
    """An HTTP request's ASGI scope as uvicorn builds it (loopback client and server)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": root_path,
        "headers": headers,
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "state": {},
    }


def wrk(
    url: str,
    script: str,
    duration: str,
    connections: int,
    pid: int,
    headers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """One wrk run; adds the CPU the server, wrk and everything else used (% of one core).

    ``headers`` are sent on every request besides the script's (``wrk -H``).
    """
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}", "--latency"]
    for name, value in (headers or {}).items():
        cmd += ["-H", f"{name}: {value}"]
    cmd += ["-s", str(BENCH / "wrk" / script), url]
    (busy0, total0), srv0 = machine_ticks(), process_tree_ticks(pid)
    kids0, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    kids1, wall = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic() - start
    (busy1, total1), srv1 = machine_ticks(), process_tree_ticks(pid)
    run = parse_wrk(done.stdout)
    hz, cores = os.sysconf("SC_CLK_TCK"), os.cpu_count() or 1
    server_s = (srv1 - srv0) / hz
    wrk_s = kids1.ru_utime + kids1.ru_stime - kids0.ru_utime - kids0.ru_stime
    all_s = (busy1 - busy0) / max(1, total1 - total0) * wall * cores
    run["server_cpu_pct"] = 100 * server_s / wall
    run["wrk_cpu_pct"] = 100 * wrk_s / wall
    run["other_cpu_pct"] = max(0.0, 100 * (all_s - server_s - wrk_s) / wall)
    run["server_cpu_us_per_request"] = 1e6 * server_s / max(1, run["requests"])
    return run


def status_url(
    base: str, submit_path: str = SUBMIT_PATH, headers: Mapping[str, str] | None = None
) -> str:
    """A fresh job's status URL; on the emulator, after a submit run, it waits deep in line.

    Built from the request id (aimock's own URLs name the real fal host).
    """
    job = httpx.post(
        base + submit_path, json=SEED_BODY, headers={**HEADERS, **(headers or {})}, timeout=10
    )
    job.raise_for_status()
    return f"{base}{submit_path}/requests/{job.json()['request_id']}/status"


def job_status(url: str, headers: Mapping[str, str] | None = None) -> str:
    body = httpx.get(url, headers={**HEADERS, **(headers or {})}, timeout=10).json()
    return f"{body['status']} (queue_position {body.get('queue_position', '-')})"


def check_queue(target: Target, base: str) -> None:
    """Submit answers 200 with a request id and its status 200 or 202 (pending): else wrk
    would time errors."""
    url = status_url(base, target.submit_path, target.headers)  # raises on a non-2xx submit
    answer = httpx.get(url, headers={**HEADERS, **target.headers}, timeout=10)
    if answer.status_code not in (200, 202) or "status" not in answer.json():
        raise RuntimeError(f"status of a fresh job answered {answer.status_code}: {answer.text}")


def bench_servers(
    duration: str, connections: int, rounds: int, extra: Sequence[Target] = ()
) -> dict[str, Any]:
    """All servers up at once; each round drives emulator, bare app, then ``extra``, op by op.

    Interleaving the apps round by round spreads whatever else the machine does over all of
    them; the ratio of a round compares runs made seconds apart. An optional server that is
    missing, does not start or fails the submit/status check is skipped with a line saying why.
    """
    results: dict[str, Any] = {"emulator": {}, "bare": {}, "rounds": [], "servers": {},
                               "skipped": {}}  # fmt: skip
    with ExitStack() as stack:
        targets: dict[str, tuple[Target, str, int]] = {}
        for target in (EMULATOR, BARE, *extra):
            reason = missing(target)
            if reason is None:
                try:
                    with ExitStack() as attempt:  # stops the server if the check fails
                        base, pid = attempt.enter_context(server(target))
                        check_queue(target, base)
                        stack.enter_context(attempt.pop_all())
                    targets[target.name] = (target, base, pid)
                    continue
                except (RuntimeError, httpx.HTTPError, ValueError) as error:
                    if target in (EMULATOR, BARE):
                        raise
                    reason = f"{type(error).__name__}: {str(error).splitlines()[0]}"
            print(f"{target.name}: skipped ({reason})", flush=True)
            results["skipped"][target.name] = reason
        results["servers"] = {name: target.label for name, (target, _, _) in targets.items()}
        for target, base, pid in targets.values():  # warm-up: imports, JIT, caches, first jobs
            wrk(base + target.submit_path, "submit.lua", "2s", connections, pid, target.headers)
        status_job = ""
        for index in range(rounds):
            one: dict[str, Any] = {}
            for op in ("submit", "status"):
                for who, (target, base, pid) in targets.items():
                    if op == "submit":
                        url, script = base + target.submit_path, "submit.lua"
                    else:
                        url, script = (
                            status_url(base, target.submit_path, target.headers),
                            "status.lua",
                        )
                        status_job = job_status(url, target.headers)
                    run = wrk(url, script, duration, connections, pid, target.headers)
                    if op == "status":
                        run["job_status"] = [status_job, job_status(url, target.headers)]
                    one.setdefault(who, {})[op] = run
            one["ratios"] = {
                op: one["emulator"][op]["rps"] / one["bare"][op]["rps"]
                for op in ("submit", "status")
            }
            one["vs_bare"] = {
                who: {
                    op: one[who][op]["rps"] / one["bare"][op]["rps"] for op in ("submit", "status")
                }
                for who in targets
            }
            if "granian" in targets:
                one["granian_vs_uvicorn"] = {
                    op: one["granian"][op]["rps"] / one["emulator"][op]["rps"]
                    for op in ("submit", "status")
                }
            results["rounds"].append(one)
            ratios = ", ".join(f"{op} {r:.2f}" for op, r in one["ratios"].items())
            others = "".join(
                f"; {who} submit {r['submit']:.2f}, status {r['status']:.2f}"
                for who, r in one["vs_bare"].items()
                if who not in ("emulator", "bare")
            )
            print(f"round {index + 1}/{rounds}: ratios {ratios}{others}", flush=True)
        emu_base = targets["emulator"][1]
        jobs = httpx.get(emu_base + "/_emulator/jobs", params={"limit": 1}, timeout=30)
        results["emulator_jobs_stored"] = jobs.json().get("total") if jobs.is_success else None
    return results


def _median_ms(fn: Callable[[], object], runs: int = 20, warmups: int = 3) -> float:
    for _ in range(warmups):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_render() -> dict[str, float]:
    """``render`` of a 1024x1024 PNG vs Pillow encoding a plain image (PNG level 1)."""
    output = OutputFile(0, 1024, 1024, "png")
    params = {**SEED_BODY, "output_format": "png"}
    job = Job("mmsu_01m7zt47qhr84p57vfqvc2r1yd", "seacloud", "gpt_image_1", "bench", 1, params,
              0.0, 0.0, 0.0, n_outputs=1, width=1024, height=1024)  # fmt: skip
    spec = render_spec(job, output, seed=0)
    plain = Image.new("RGB", (1024, 1024), (200, 60, 50))

    def baseline() -> None:
        plain.save(io.BytesIO(), "PNG", compress_level=1)

    render_ms, base_ms = _median_ms(lambda: render(spec)), _median_ms(baseline)
    return {"render_ms": render_ms, "baseline_ms": base_ms, "ratio": render_ms / base_ms}


def machine() -> dict[str, Any]:
    models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    cpu = models[0] if models else platform.processor()
    return {"nproc": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Medians over the rounds, per operation."""
    summary: dict[str, Any] = {}
    rounds = results["rounds"]
    for op in ("submit", "status"):
        emu = [r["emulator"][op] for r in rounds]
        bare = [r["bare"][op] for r in rounds]
        summary[op] = {
            "emulator_rps": statistics.median(run["rps"] for run in emu),
            "bare_rps": statistics.median(run["rps"] for run in bare),
            "ratio": statistics.median(r["ratios"][op] for r in rounds),
            "ratio_min": min(r["ratios"][op] for r in rounds),
            "ratio_max": max(r["ratios"][op] for r in rounds),
            "p50_ms": statistics.median(run["p50_ms"] for run in emu),
            "p99_ms": statistics.median(run["p99_ms"] for run in emu),
            "p99_ms_worst": max(run["p99_ms"] for run in emu),
            "bare_p99_ms": statistics.median(run["p99_ms"] for run in bare),
            "emulator_us_per_request": statistics.median(
                run["server_cpu_us_per_request"] for run in emu
            ),
            "bare_us_per_request": statistics.median(
                run["server_cpu_us_per_request"] for run in bare
            ),
            "others_cpu_pct": max(run["other_cpu_pct"] for run in emu + bare),
            "errors": sum(run["non_2xx"] + run["socket_errors"] for run in emu),
        }
    summary["servers"] = {
        who: {op: _server_summary(rounds, who, op) for op in ("submit", "status")}
        for who in results["servers"]
    }
    if rounds and "granian_vs_uvicorn" in rounds[0]:
        summary["granian_vs_uvicorn"] = {
            op: _spread([r["granian_vs_uvicorn"][op] for r in rounds])
            for op in ("submit", "status")
        }
    return summary


def _spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def _server_summary(rounds: list[dict[str, Any]], who: str, op: str) -> dict[str, Any]:
    """One server's medians for ``op``, its ratio to the bare app's rps in the same rounds."""
    runs = [r[who][op] for r in rounds]
    return {
        "rps": statistics.median(run["rps"] for run in runs),
        "vs_bare": _spread([r["vs_bare"][who][op] for r in rounds]),
        "p50_ms": statistics.median(run["p50_ms"] for run in runs),
        "p99_ms": statistics.median(run["p99_ms"] for run in runs),
        "us_per_request": statistics.median(run["server_cpu_us_per_request"] for run in runs),
        "cpu_pct": statistics.median(run["server_cpu_pct"] for run in runs),
        "errors": sum(run["non_2xx"] + run["socket_errors"] for run in runs),
        "job_status": runs[-1].get("job_status"),
    }


def report(results: dict[str, Any]) -> bool:
    """Print the table; True when the emulator's runs were free of errors."""
    summary, rend = results["summary"], results["render"]
    print(f"\n{results['machine']}, {results['settings']}")
    print(
        f"{'':7}{'emu rps':>9}{'bare rps':>9}{'ratio':>6}{' (min-max)':>12}{'p50 ms':>7}"
        f"{'p99 ms':>7}{'emu us/req':>11}{'bare us/req':>12}  targets"
    )
    clean = True
    for op in ("submit", "status"):
        s = summary[op]
        met = [
            f"ratio>={TARGET_RATIO}: {'met' if s['ratio'] >= TARGET_RATIO else 'MISSED'}",
            f"p99<={TARGET_P99_MS:g}ms: {'met' if s['p99_ms'] <= TARGET_P99_MS else 'MISSED'}",
        ]
        spread = f"({s['ratio_min']:.2f}-{s['ratio_max']:.2f})"
        print(
            f"{op:7}{s['emulator_rps']:>9.0f}{s['bare_rps']:>9.0f}{s['ratio']:>6.2f}{spread:>12}"
            f"{s['p50_ms']:>7.2f}{s['p99_ms']:>7.1f}{s['emulator_us_per_request']:>11.0f}"
            f"{s['bare_us_per_request']:>12.0f}  {', '.join(met)}"
        )
        if s["errors"]:
            clean = False
            print(f"!!! emulator {op}: {s['errors']} errors: these runs measured errors !!!")
        if s["others_cpu_pct"] > 10:
            print(f"!!! {op}: other processes used up to {s['others_cpu_pct']:.0f}% of a core")
    clean = report_servers(results) and clean
    print(f"status job: {' -> '.join(results['rounds'][-1]['emulator']['status']['job_status'])}")
    print(f"jobs the emulator held at the end: {results['emulator_jobs_stored']}")
    ok = "met" if rend["render_ms"] <= TARGET_RENDER_MS else "MISSED"
    print(
        f"render 1024x1024 png: {rend['render_ms']:.1f} ms (median of 20); plain Pillow PNG "
        f"level 1: {rend['baseline_ms']:.1f} ms; ratio {rend['ratio']:.2f}; "
        f"<= {TARGET_RENDER_MS:g} ms: {ok}"
    )
    return clean


def report_servers(results: dict[str, Any]) -> bool:
    """The table of every server of the run, when optional ones ran; False on any error."""
    servers, summary = results["servers"], results["summary"]
    if set(servers) <= {"emulator", "bare"}:
        return True
    print(
        "\nevery server, same rounds (vs bare = rps / the bare app's rps in the same round; "
        "us/req and cpu % = the server's own CPU per request and per second of the run):"
    )
    print(f"{'':8}{'server':26}{'rps':>9}{'vs bare':>8}{' (min-max)':>12}{'p50 ms':>7}"
          f"{'p99 ms':>7}{'us/req':>8}{'cpu %':>6}  job polled")  # fmt: skip
    clean = True
    for op in ("submit", "status"):
        for who, label in servers.items():
            s = summary["servers"][who][op]
            ratio = s["vs_bare"]
            spread = f"({ratio['min']:.2f}-{ratio['max']:.2f})"
            polled = " -> ".join(s["job_status"] or [])
            print(
                f"{op:8}{label:26}{s['rps']:>9.0f}{ratio['median']:>8.2f}{spread:>12}"
                f"{s['p50_ms']:>7.2f}{s['p99_ms']:>7.1f}{s['us_per_request']:>8.0f}{s['cpu_pct']:>6.0f}"
                f"  {polled}"
            )
            if s["errors"]:
                clean = False
                print(f"!!! {who} {op}: {s['errors']} errors: these runs measured errors !!!")
    if "granian_vs_uvicorn" in summary:
        parts = [
            f"{op} {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})"
            for op, r in summary["granian_vs_uvicorn"].items()
        ]
        print(f"imgemu granian / uvicorn rps: {', '.join(parts)}")
    return clean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", default="10s", help="wrk duration per run (default 10s)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--json", type=Path, help="write every number to this JSON file")
    parser.add_argument(
        "--granian", action="store_true", help="also the emulator under granian (one worker)"
    )
    parser.add_argument(
        "--aimock", action="store_true", help="also aimock's fal queue (benchmarks/peers)"
    )
    parser.add_argument(
        "--bare-protocol",
        action="store_true",
        help="also the bare app under uvicorn with imgemu serve's HTTP protocol",
    )
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        metavar="LABEL=DIR",
        help="also the emulator of another source tree, under uvicorn (repeatable)",
    )
    args = parser.parse_args()
    wanted = ((GRANIAN, args.granian), (AIMOCK, args.aimock), (BARE_PROTOCOL, args.bare_protocol))
    extra = [target for target, asked in wanted if asked]
    extra += [tree_target(spec) for spec in args.tree]
    busy = busy_percent()
    if busy > 5:
        print(f"!!! the machine is {busy:.0f}% busy before the start: expect low numbers !!!")
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": {**machine(), "busy_before_pct": round(busy, 1)},
        "settings": {
            "duration": args.duration,
            "connections": args.connections,
            "rounds": args.rounds,
        },
        "emulator_env": EMULATOR_ENV,
    }
    results.update(bench_servers(args.duration, args.connections, args.rounds, extra))
    results["summary"] = summarize(results)
    results["render"] = bench_render()
    clean = report(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
