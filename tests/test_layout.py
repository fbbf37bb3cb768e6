"""The layout holds: layers import only downwards, pure models import no Kafka, Redis or
Bytewax, no package's modules import each other in a cycle (import-linter contracts in
pyproject.toml), and the engine's folders hold what their names say."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("offerflow", "flows", "config", "operators", "state", "models", "schemas")


def _modules(*packages: str) -> list[Path]:
    return sorted(p for pkg in packages for p in (ROOT / pkg).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_import_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "3 kept, 0 broken" in done.stdout


def test_flows_holds_dataflows_and_their_wiring_only():
    """Every module in flows/ builds on Bytewax or is the per-process wiring a flow starts
    (placement of single-key models, the operations endpoint); the shell lives in offerflow/."""
    wiring = {"__init__.py", "placement.py", "ops.py"}
    for path in _modules("flows"):
        if path.name not in wiring:
            assert "bytewax" in _imports(path), f"{path.name} is not a dataflow module"
        assert "offerflow" not in _imports(path), f"{path.name} imports the application shell"


def test_no_module_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*_modules(*PACKAGES), *sorted((ROOT / "tests").glob("*.py"))]
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert not long, long


def test_code_and_docs_speak_of_this_repository_only():
    """No file points at notes that live outside the repository."""
    texts = [*_modules(*PACKAGES), ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in texts:
        text = path.read_text()
        for outside in ("DESIGN.md", "shared/notes", "../shared"):
            assert outside not in text, f"{path.relative_to(ROOT)} mentions {outside}"
        for page in re.findall(r"docs/[\w.-]+\.(?:md|png)", text):
            assert (ROOT / page).exists(), f"{path.relative_to(ROOT)} points at missing {page}"
