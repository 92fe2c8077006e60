"""The three top-level code folders install as one namespaced package, ``ordertrail``, and
nothing generic (``domain``, ``adapters``, ``projections``) reaches site-packages.

Every folder with an ``__init__.py`` must be importable from the *installed* package (a folder
missing from pyproject's ``packages`` fails here), a wheel built from the tree must hold only
``ordertrail/``, and the domain must stay pure (no clock, randomness, uuid4 or file I/O).
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import json
import shutil
import site
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CODE_FOLDERS = ("domain", "adapters", "projections")
# The folder that installs as ``ordertrail`` itself (docs/adr/0031-top-level-package.md).
TOP_FOLDER = "toplevel"


def package_folders() -> list[str]:
    """Dotted names of every package folder in the tree, e.g. ``ordertrail.adapters.store``."""
    names = ["ordertrail"]
    for top in CODE_FOLDERS:
        for init in sorted((REPO / top).rglob("__init__.py")):
            rel = init.parent.relative_to(REPO)
            if "__pycache__" in rel.parts:
                continue
            names.append("ordertrail." + ".".join(rel.parts))
    return names


PACKAGES = package_folders()


def is_editable() -> bool:
    dist = importlib.metadata.distribution("ordertrail")
    text = dist.read_text("direct_url.json")
    return bool(text and json.loads(text).get("dir_info", {}).get("editable"))


def test_tree_has_the_three_code_folders() -> None:
    assert {"ordertrail.domain", "ordertrail.adapters", "ordertrail.projections"} <= set(PACKAGES)


def test_pyproject_lists_every_package_folder() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert set(config["packages"]) == set(PACKAGES)
    assert config["package-dir"] == {
        "ordertrail": TOP_FOLDER,
        **{f"ordertrail.{top}": top for top in CODE_FOLDERS},
    }


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_folder_is_importable_from_the_installed_package(name: str) -> None:
    module = importlib.import_module(name)
    assert module.__file__ is not None
    source = REPO.joinpath(*name.split(".")[1:]) if name != "ordertrail" else REPO / TOP_FOLDER
    # Through the install: a strict editable install maps files from build/__editable__, a
    # regular one from site-packages; neither imports the source folder itself.
    assert Path(module.__file__).parent != source
    assert Path(module.__file__).resolve() == (source / "__init__.py").resolve() or (
        not is_editable()
    )


def test_no_generic_top_level_module_reaches_site_packages() -> None:
    dist = importlib.metadata.distribution("ordertrail")
    files = [str(f) for f in importlib.metadata.files("ordertrail") or []]
    # Run from the repository root with '' on sys.path, a stale in-tree egg-info would answer
    # instead of the installed distribution: make that mistake loud, not mysterious.
    assert Path(str(dist.locate_file(""))).resolve() != REPO, "metadata from the source tree"
    for top in (*CODE_FOLDERS, TOP_FOLDER):
        assert not [f for f in files if f.split("/")[0] == top], top
    top_level = (dist.read_text("top_level.txt") or "ordertrail").split()
    assert set(top_level) <= {"ordertrail"}
    for folder in site.getsitepackages():
        for top in (*CODE_FOLDERS, TOP_FOLDER):
            assert not (Path(folder) / top).exists(), f"{top} in {folder}"


def test_wheel_holds_only_the_namespaced_package(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, src / name)
    for top in (*CODE_FOLDERS, TOP_FOLDER):
        shutil.copytree(REPO / top, src / top, ignore=ignore)
    out = tmp_path / "wheel"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(src), "-w", str(out)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = out.glob("ordertrail-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"ordertrail", wheel.name.split("-py3")[0]
                                                 + ".dist-info"}  # fmt: skip
    for package in PACKAGES:
        path = "/".join(package.split(".")) + "/__init__.py"
        assert path in names, f"{package} is missing from the wheel"
    for top in CODE_FOLDERS:
        assert f"ordertrail/{top}/py.typed" in names
    assert "ordertrail/py.typed" in names

    # Installed from the wheel (not editable), every package imports from the install.
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
         str(wheel)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    probe = (
        "import importlib, json, sys\n"
        f"sys.path = [{str(target)!r}] + [p for p in sys.path if '__editable__' not in p]\n"
        f"names = {PACKAGES!r}\n"
        "print(json.dumps({n: importlib.import_module(n).__file__ for n in names}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    for name, file in json.loads(result.stdout).items():
        assert Path(file).is_relative_to(target), (name, file)


# ---- purity of the domain ----------------------------------------------------------------------

FORBIDDEN_CALLS = (
    "datetime.now",
    "datetime.utcnow",
    "datetime.today",
    "date.today",
    "time.time",
    "time.monotonic",
    "time.perf_counter",
    "uuid.uuid1",
    "uuid.uuid4",
    "uuid1",
    "uuid4",
    "open",
    "os.urandom",
)
FORBIDDEN_MODULES = ("random", "secrets", "time", "socket", "sqlite3", "os")


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def impurities(source: str) -> list[str]:
    """Clock, randomness, uuid4 and file I/O in a module's source, by line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            name = _dotted(node.func)
            if any(name == f or name.endswith("." + f) for f in FORBIDDEN_CALLS) or (
                name.startswith("random.") or name.endswith("utcnow")
            ):
                found.append(f"{node.lineno}: {name}()")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FORBIDDEN_MODULES:
                    found.append(f"{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            names = {a.name for a in node.names}
            if module in FORBIDDEN_MODULES or (module == "uuid" and names & {"uuid1", "uuid4"}):
                found.append(f"{node.lineno}: from {node.module} import {', '.join(names)}")
    return found


@pytest.mark.parametrize("path", sorted((REPO / "domain").glob("*.py")), ids=lambda p: p.name)
def test_domain_is_pure(path: Path) -> None:
    assert impurities(path.read_text()) == []


@pytest.mark.parametrize(
    "snippet",
    [
        "from datetime import datetime\nx = datetime.now()",
        "import datetime\nx = datetime.datetime.utcnow()",
        "import time\nx = time.time()",
        "from uuid import uuid4\nx = uuid4()",
        "import uuid\nx = uuid.uuid4()",
        "import random\nx = random.random()",
        "x = open('f').read()",
    ],
)
def test_purity_check_catches_impurities(snippet: str) -> None:
    assert impurities(snippet)


def test_purity_check_allows_uuid5_and_injected_time() -> None:
    assert impurities("from uuid import UUID, uuid5\ndef f(ts):\n    return uuid5(NS, ts)") == []
