"""Installs use the hashed lock in requirements/, compiled from pyproject.toml: a dependency
added to or narrowed in pyproject.toml without `make lock` must fail here, not install an
unlocked version on the next machine."""

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def _locked(name: str) -> dict[str, str]:
    """`{package: version}` of requirements/<name>.txt, each entry checked to carry hashes."""
    pins: dict[str, str] = {}
    entries = (REPO_ROOT / "requirements" / name).read_text().replace("\\\n", " ").splitlines()
    for entry in entries:
        if not entry.strip() or entry.lstrip().startswith("#"):
            continue
        requirement, _, rest = entry.partition(" ")
        package, _, version = requirement.partition("==")
        assert version, f"{name}: {requirement} is not pinned to one version"
        assert "--hash=sha256:" in rest, f"{name}: {requirement} has no hash"
        pins[canonicalize_name(package)] = version.split(";")[0]
    return pins


@pytest.mark.parametrize(
    ("lock", "declared"),
    [
        ("app.txt", PROJECT["dependencies"]),
        ("test.txt", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["test"]),
    ],
)
def test_every_declared_dependency_is_locked_within_its_range(
    lock: str, declared: list[str]
) -> None:
    pins = _locked(lock)
    for line in declared:
        requirement = Requirement(line)
        version = pins.get(canonicalize_name(requirement.name))
        assert version is not None, f"{requirement.name} is missing from {lock}: run make lock"
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock} pins {requirement.name}=={version} outside {requirement.specifier}"
        )


def test_the_test_lock_keeps_the_app_locks_versions() -> None:
    app, test = _locked("app.txt"), _locked("test.txt")
    assert {name: test.get(name) for name in app} == app


def test_the_uv_that_installs_the_rest_is_the_test_locks() -> None:
    assert _locked("uv.txt") == {"uv": _locked("test.txt")["uv"]}
