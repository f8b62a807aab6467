"""The app as the real Functions Python worker loads it: every function indexed and loaded, and a binding the worker
refuses fails the host loudly, naming the function and the worker's own message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import devhost

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = {"invite", "add_membership", "invite_from_queue", "openapi", "health", "sharepoint_notifications",
             "sharepoint_changes", "sharepoint_subscription_renewal", "expire_grants", "revoke_invitation",
             "invitation_status", "invitation_status_link", "sweep_invitation_status"}


def test_the_worker_indexes_and_loads_all_thirteen_functions() -> None:
    assert set(devhost.worker().functions) == FUNCTIONS


def _start_worker_on(app_source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "function_app.py").write_text(app_source, encoding="utf-8")
    code = ("import sys; from pathlib import Path; from devhost.worker import Worker, WorkerRefused\n"
            "try:\n    Worker(Path(sys.argv[1]))\nexcept WorkerRefused as refused:\n"
            "    print(refused); sys.exit(3)\n")
    return subprocess.run(  # noqa: S603 (our own interpreter, fixed code)
        [sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False)


def test_a_builtin_generic_output_annotation_is_refused_naming_the_function(tmp_path: Path) -> None:
    # What function_app.py had before: func.Out[list[str]], which Azure's worker refuses at load.
    source = (ROOT / "function_app.py").read_text(encoding="utf-8")
    source = source.replace("func.Out[typing.List[str]]", "func.Out[list[str]]")
    assert "func.Out[list[str]]" in source

    started = _start_worker_on(source, tmp_path)

    assert started.returncode == 3, started.stderr[-2000:]
    assert "cannot load the invite function" in started.stdout
    assert "binding memberships has invalid non-type annotation" in started.stdout
    assert "Out[list[str]]" in started.stdout


def test_the_app_as_it_is_loads_in_a_fresh_worker_process(tmp_path: Path) -> None:
    started = _start_worker_on((ROOT / "function_app.py").read_text(encoding="utf-8"), tmp_path)

    assert started.returncode == 0, started.stdout + started.stderr[-2000:]
