"""The wheel works on its own: built from the repository's files, installed with --no-deps
into a fresh venv, and run from a folder outside the repository.

The fresh venv borrows the dependencies of the venv running the tests (a `.pth` line naming
its site-packages) instead of downloading them. A plain path line adds that folder to
sys.path without processing the `.pth` files inside it, so the editable install living
there cannot shadow the wheel; the test checks that the installed copy is imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "What did Japan say about tariffs?"
# Folders the wheel must carry: code as packages, the rest as package data (pyproject.toml).
CODE = ("bot", "retrieval")
SHIPPED = ("config", "prompts", "corpus")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kwargs)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
    return proc


def _repo_files() -> list[str]:
    """Tracked and new (not ignored) files: what a clean clone plus this change holds."""
    out = _run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT).stdout
    return sorted(f for f in out.split("\0") if f and (ROOT / f).is_file())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy so the build leaves nothing in the repository."""
    src = tmp_path_factory.mktemp("src")
    for name in _repo_files():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes((ROOT / name).read_bytes())
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(src)])
    (built,) = dist.glob("briefbot-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel; its dependencies come from the test runner's venv."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"])
    deps = dict.fromkeys(sysconfig.get_path(k) for k in ("purelib", "platlib"))
    Path(site.stdout.strip(), "_briefbot_test_deps.pth").write_text("\n".join(deps) + "\n")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(python)]
    _run([*pip, "install", "--no-deps", "--no-index", "-q", str(wheel)])
    return env_dir


def _outside_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "BRIEFBOT_DATA_DIR")}
    return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def test_wheel_holds_all_code_and_shipped_files(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    files = _repo_files()
    code = [f for f in files if f.split("/")[0] in CODE and f.endswith(".py")]
    data = [f"retrieval/data/{f}" for f in files if f.split("/")[0] in SHIPPED]
    assert code and data
    missing = [f for f in [*code, *data] if f not in names]
    assert not missing, f"not in the wheel: {missing}"


def test_installed_wheel_answers_from_outside_the_repo(installed: Path, tmp_path: Path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = _outside_env()
    where = _run(
        [
            str(installed / "bin" / "python"),
            "-c",
            "import bot, retrieval, retrieval.paths as c; "
            "print(retrieval.__file__); print(bot.__file__); print(c.ROOT)",
        ],
        cwd=work,
        env=env,
    ).stdout.split()
    site = installed.resolve()
    assert all(Path(p).resolve().is_relative_to(site) for p in where), where
    assert Path(where[2]).name == "data"  # the shipped copy, not a checkout's top level

    briefbot = [str(installed / "bin" / "briefbot"), "--data-dir", str(tmp_path / "d")]
    proc = _run(
        [*briefbot, "ask", QUESTION, "--json"],
        cwd=work,
        env=env,
    )
    result = json.loads(proc.stdout)
    assert not result["abstained"], result
    cited = {s["article"] for s in result["answer"]}
    assert result["answer"] and cited <= {a["id"] for a in result["articles"]}
    assert any("Japan" in s["text"] for s in result["answer"])
    assert "ingested the bundled corpus" in proc.stderr

    # The console's words come from the wheel's copy of prompts/.
    about = _run([*briefbot, "chat"], cwd=work, env=env, input="/about\n").stdout
    assert "About briefbot" in about and "nothing is generated" in about and "corpus as of" in about
