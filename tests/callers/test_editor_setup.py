"""The editor set-up (issue 16): .vscode/ (extensions, a debugpy attach to the local host, tasks starting Azurite and
the simulator) and test.http (REST Client) with every HTTP endpoint, matching README's local run."""

from __future__ import annotations

import json
import re
from pathlib import Path

import devhost
from shared.requests_model import INVITATION_FIELDS

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def vscode(name: str) -> dict:
    return json.loads((ROOT / ".vscode" / name).read_text(encoding="utf-8"))


def http_routes() -> set[tuple[str, str]]:
    """(method, route) of every HTTP trigger, as the real worker reports the app's bindings to the host (the
    app's own triggers and its blueprints' alike)."""
    routes = set()
    for function in devhost.worker().functions.values():
        trigger = function.trigger()
        if trigger["type"] == "httpTrigger":
            routes |= {(method.upper(), trigger["route"]) for method in trigger.get("methods") or ["GET", "POST"]}
    return routes


def http_requests() -> list[tuple[str, str, str, str]]:
    """(method, path after {{baseUrl}}, headers, body) of each request in test.http."""
    text = (ROOT / "test.http").read_text(encoding="utf-8")
    requests = []
    for block in text.split("\n###")[1:]:
        lines = block.split("\n")[1:]
        method, url = lines[0].split(" ", 1)
        headers, _, body = "\n".join(lines[1:]).partition("\n\n")
        assert url.startswith("{{baseUrl}}/"), url
        requests.append((method, url.removeprefix("{{baseUrl}}/").split("?")[0], headers, body.strip()))
    return requests


def test_test_http_calls_every_http_endpoint_with_its_method():
    assert len(http_routes()) >= 4
    called = {(method, path) for method, path, _, _ in http_requests()}
    matched = {(method, route) for method, route in http_routes()
               if any(method == m and re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(route)), path)
                      for m, path in called)}
    assert matched == http_routes()
    assert all(any(m == method and re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(route)), path)
                   for method, route in http_routes()) for m, path in called), "test.http calls only real routes"


def test_test_http_points_at_the_local_host_of_the_readme():
    base = re.search(r"^@baseUrl = (\S+)$", (ROOT / "test.http").read_text(encoding="utf-8"), re.MULTILINE)[1]
    assert f"`{base}/invitations`" in README


def test_test_http_bodies_are_json_and_the_first_invitation_is_valid():
    fields = {field.name for field in INVITATION_FIELDS}
    invitations = [json.loads(body.replace("{{partners}}", "x")) for _, path, _, body in http_requests()
                   if path == "invitations"]
    assert set(invitations[0]) <= fields and "email" in invitations[0]
    assert set(invitations[1]) - fields == {"groupID"}  # the deliberate mistake the comment promises
    for _method, path, headers, body in http_requests():
        if body:
            json.loads(body.replace("{{partners}}", "x"))
            assert "Content-Type: application/json" in headers, path


def test_launch_attaches_debugpy_to_the_local_host_after_starting_it():
    (config,) = vscode("launch.json")["configurations"]
    assert (config["type"], config["request"], config["connect"]["host"]) == ("debugpy", "attach", "localhost")
    labels = {task["label"] for task in vscode("tasks.json")["tasks"]}
    assert config["preLaunchTask"] in labels


def test_tasks_start_azurite_and_the_simulator_as_the_readme_does():
    tasks = {task["label"]: task for task in vscode("tasks.json")["tasks"]}
    for task in tasks.values():
        depends = task.get("dependsOn", [])
        assert set([depends] if isinstance(depends, str) else depends) <= set(tasks)
    assert tasks["Azurite: start"]["command"] in README  # same flags as terminal 1
    simulator = tasks["Simulator: start"]["command"].removeprefix(".venv/bin/python ")
    assert simulator in README  # same workdir as terminal 2, where the README's script reads simulator.env
    assert set(tasks["func: host start"]["dependsOn"]) == {"Azurite: start", "Simulator: start"}


def test_the_recommended_extensions_cover_functions_python_azurite_and_http_files():
    recommended = set(vscode("extensions.json")["recommendations"])
    assert {"ms-azuretools.vscode-azurefunctions", "ms-python.python", "ms-python.debugpy", "Azurite.azurite",
            "humao.rest-client"} <= recommended
