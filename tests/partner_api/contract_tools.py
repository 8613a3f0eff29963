"""The pinned dev tools that check the API contract as partners meet it (none written here):
openapi-python-client (PyPI, the dev extras), and Spectral, openapi-typescript and TypeScript (npm,
`tools/node`). `.ci/run` installs them all; elsewhere a test that needs a missing one is skipped with the
command that installs it, and under CI (`CI` set) it fails instead.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_BIN = ROOT / "tools" / "node" / "node_modules" / ".bin"
NPM_INSTALL = "npm ci --prefix tools/node"


def dev_tool(path: Path, install: str) -> Path:
    if path.exists():
        return path
    message = f"{path.name} is not installed (install it with `{install}`)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}: .ci/run installs it before the tests")
    pytest.skip(message)


def node_tool(name: str) -> Path:
    return dev_tool(NODE_BIN / name, NPM_INSTALL)


def python_client_generator() -> Path:
    return dev_tool(Path(sys.executable).parent / "openapi-python-client", "pip install -e '.[dev]'")


def run(command: list, *, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The tool's run, its output attached to the assertion when it fails."""
    done = subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command[0]} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done
