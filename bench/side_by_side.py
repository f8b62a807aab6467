"""This app beside Microsoft's ``msgraph-sdk`` and a seed-style client, onboarding the same new guests against the
simulator; prints the comparison table of docs/performance.md ("Side by side").

    .venv/bin/python bench/side_by_side.py [--runs 5] [--n 1000] [--n-k3 200]

The SDK runs in its own virtual environment, made here on first use (``.bench-venvs/msgraph-sdk``, git-ignored;
``--venv`` to put it elsewhere) with ``msgraph-sdk`` and ``azure-identity`` from PyPI: never a dependency of the
app. Each client runs in a fresh process against a fresh simulator (no added latency, Graph's throttling off,
its CA trusted through REQUESTS_CA_BUNDLE and an explicit ``ssl`` context: no verification is switched off).
For each run, each client is started twice: k=1 (N onboardings) and k=3 (N_K3 onboardings); the order of the
clients rotates between runs, so load on the machine falls on all of them. Figures are median (min-max) over
the runs; the ratio columns are medians of the per-run ratios to this app (paired: same run, same machine state).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import venv
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.host_model import ROOT, app_settings
from simulator import Simulator

CLIENT = ROOT / "bench" / "side_by_side_client.py"
SDK_PACKAGES = ("msgraph-sdk", "azure-identity")
CLIENTS = ("app", "sdk", "seed")
NAMES = {"app": "this app (functions path)", "sdk": "msgraph-sdk", "seed": "seed-style (token + connection per call)"}


def sdk_python(venv_dir: Path) -> Path:
    """The SDK environment's interpreter, making the environment (and installing the SDK) if it is missing."""
    python = venv_dir / "bin" / "python"
    if not python.exists():
        print(f"making {venv_dir} with {', '.join(SDK_PACKAGES)} from PyPI (once)", file=sys.stderr)
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        subprocess.run([python, "-m", "pip", "install", "-q", *SDK_PACKAGES], check=True)  # noqa: S603 (fixed)
    return python


def sdk_version(python: Path) -> str:
    code = "import importlib.metadata as m; print(m.version('msgraph-sdk'), m.version('azure-identity'))"
    sdk, identity = subprocess.run([python, "-c", code], capture_output=True, text=True,  # noqa: S603 (fixed)
                                   check=True).stdout.split()
    return f"msgraph-sdk {sdk}, azure-identity {identity}"


def one_client(client: str, python: Path, n: int, k: int) -> dict:
    """A fresh simulator and a fresh client process; the simulator's counts added to what the client reports."""
    with Simulator() as sim:
        sim.throttling = False  # the clients are compared, not Graph's invitation limit
        groups = [sim.graph.add_group(f"Side group {number}")["id"] for number in range(k)]
        app = sim.identity.default_app
        # addresses new to every run: the app's invitation claims (on a reused Azurite) outlive a fresh simulator
        tag = f"{client}{k}-{uuid.uuid4().hex[:8]}"
        config = {"client": client, "n": n, "groups": groups, "tag": tag, "root": str(ROOT),
                  "graph_endpoint": sim.graph_endpoint, "authority_host": sim.authority_host,
                  "tenant_id": sim.tenant_id, "client_id": app.client_id, "client_secret": app.secret,
                  "ca_path": str(sim.ca_path), "redirect_url": "https://myapplications.microsoft.com"}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(config, file)
        environment = {**os.environ, **app_settings(sim), "REQUESTS_CA_BUNDLE": str(sim.ca_path)}
        # The app writes each request's status record before answering: Azurite (default ports unless set).
        environment.setdefault("AzureWebJobsStorage", "UseDevelopmentStorage=true")
        environment.pop("PYTHONPATH", None)  # the SDK's environment must not see the app's packages
        try:
            spawned = time.time()
            done = subprocess.run([python, str(CLIENT), file.name], cwd=ROOT, env=environment,  # noqa: S603
                                  capture_output=True, text=True, check=False)
        finally:
            os.unlink(file.name)
        if done.returncode:
            raise RuntimeError(f"{client} k={k} failed:\n{done.stderr[-3000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        result["start_to_first_s"] = result["first_done"] - spawned
        result["connections"] = sim.stats.connections["graph"] + sim.stats.connections["login"]
        result["tokens"] = sim.stats.count(service="login", route="token")
        result["onboardings"] = n + 1  # the first one, and N measured
        # every client must really add each guest to each group (a held message skipped would flatter the app)
        result["memberships"] = sum(len(sim.graph.members_of(group)) for group in groups)
    return result


def shown(values: list[float], form: str) -> str:
    middle = form.format(statistics.median(values))
    return middle if len(values) == 1 else f"{middle} ({form.format(min(values))}-{form.format(max(values))})"


def table(runs: list[dict[str, dict]], n: int, n_k3: int) -> list[str]:
    def values(client: str, key: str, k: int = 1, scale: float = 1.0) -> list[float]:
        return [run[client][k][key] * scale for run in runs]

    def ratio(client: str, key: str, k: int = 1) -> str:
        if client == "app":
            return ""
        ratios = [run[client][k][key] / run["app"][k][key] for run in runs]
        return f" [{statistics.median(ratios):.1f}x]"

    lines = ["| measure | " + " | ".join(NAMES[client] for client in CLIENTS) + " |",
             "|---|" + "---|" * len(CLIENTS)]
    measures = [
        ("process start → first onboarding done (s)", lambda c: shown(values(c, "start_to_first_s"), "{:.2f}")
         + ratio(c, "start_to_first_s")),
        ("client CPU per onboarding, k=1 (ms)", lambda c: shown(values(c, "cpu_ms"), "{:.2f}") + ratio(c, "cpu_ms")),
        (f"wall per onboarding, k=1 (ms, N={n})", lambda c: shown(values(c, "wall_ms"), "{:.1f}")
         + ratio(c, "wall_ms")),
        (f"wall per onboarding, k=3 (ms, N={n_k3})", lambda c: shown(values(c, "wall_ms", 3), "{:.1f}")
         + ratio(c, "wall_ms", 3)),
        (f"RSS after {n + 1} onboardings (MB)", lambda c: shown(values(c, "rss_kib", scale=1 / 1024), "{:.1f}")),
        (f"TLS connections / token requests per {n + 1} onboardings, k=1",
         lambda c: shown(values(c, "connections"), "{:.0f}") + " / " + shown(values(c, "tokens"), "{:.0f}")),
    ]
    for title, cell in measures:
        lines.append(f"| {title} | " + " | ".join(cell(client) for client in CLIENTS) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--n", type=int, default=1000, help="onboardings after the first, k=1")
    parser.add_argument("--n-k3", type=int, default=200, help="onboardings after the first, k=3")
    parser.add_argument("--venv", type=Path, default=ROOT / ".bench-venvs" / "msgraph-sdk")
    args = parser.parse_args(argv)
    pythons = {"app": Path(sys.executable), "seed": Path(sys.executable), "sdk": sdk_python(args.venv)}
    load = os.getloadavg()
    runs: list[dict[str, dict]] = []
    for number in range(args.runs):
        order = CLIENTS[number % 3:] + CLIENTS[:number % 3]
        run: dict[str, dict] = {client: {} for client in CLIENTS}
        for client in order:
            run[client][1] = one_client(client, pythons[client], args.n, 1)
            run[client][3] = one_client(client, pythons[client], args.n_k3, 3)
        runs.append(run)
        print(f"run {number + 1}/{args.runs} done; load average {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(f"{args.runs} runs; {sdk_version(pythons['sdk'])}; Python {sys.version.split()[0]}; load average "
          f"{load[0]:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    print("\n".join(table(runs, args.n, args.n_k3)))
    print("median (min-max) over the runs; [Nx]: median of the per-run ratios to this app")
    return 0


if __name__ == "__main__":
    sys.exit(main())
