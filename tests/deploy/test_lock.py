"""The lock files (scripts/lock): what is installed is exactly pinned and hashed, and stays inside the ranges the
.in files accept. requirements.txt is what Azure's build installs; requirements-dev.txt what ./test and CI install."""

from __future__ import annotations

import re
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
REGENERATE = "run scripts/lock after editing requirements*.in"


def ranges(name: str) -> dict[str, Requirement]:
    """The requirements an .in file states (its -r includes followed)."""
    found: dict[str, Requirement] = {}
    for line in (ROOT / name).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= ranges(line[3:].strip())
        elif line:
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def locked(name: str) -> dict[str, tuple[str, int]]:
    """(version, number of hashes) of each package a lock file pins."""
    text = (ROOT / name).read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.\[\]-]+)==([^\s;\\]+)", block)
        if match:
            package = canonicalize_name(match[1].split("[")[0])
            pins[package] = (match[2], len(re.findall(r"--hash=sha256:[0-9a-f]{64}", block)))
    return pins


def test_every_package_installed_for_the_app_is_pinned_and_hashed() -> None:
    pins = locked("requirements.txt")
    assert pins and all(hashes >= 1 for _, hashes in pins.values()), REGENERATE


def test_the_app_lock_is_inside_the_ranges_requirements_in_accepts() -> None:
    pins = locked("requirements.txt")
    for package, requirement in ranges("requirements.in").items():
        assert package in pins, f"{package} is not in requirements.txt: {REGENERATE}"
        assert requirement.specifier.contains(pins[package][0], prereleases=True), f"{package}: {REGENERATE}"


def test_the_dev_lock_is_inside_its_ranges_hashed_and_installs_the_apps_versions() -> None:
    app, dev = locked("requirements.txt"), locked("requirements-dev.txt")
    assert all(hashes >= 1 for _, hashes in dev.values()), REGENERATE
    for package, requirement in ranges("requirements-dev.in").items():
        assert package in dev and requirement.specifier.contains(dev[package][0], prereleases=True), \
            f"{package}: {REGENERATE}"
    for package, (version, _) in app.items():
        if package in dev:
            assert dev[package][0] == version, f"{package}: the dev lock differs from the app's; {REGENERATE}"
