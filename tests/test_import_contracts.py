"""The package boundaries written in pyproject.toml ([tool.importlinter]) hold."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout, result.stdout[-3000:]


def test_only_user_dirs_asks_platformdirs():
    """distill_engine.user_dirs is the one module that asks platformdirs for the per-user folders."""
    import ast

    askers = []
    for package in ("distill_engine", "distill_desktop"):
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module] if isinstance(node, ast.ImportFrom) else []
                if any(n and n.split(".")[0] == "platformdirs" for n in names):
                    askers.append(str(path.relative_to(ROOT)))
    assert sorted(set(askers)) == ["distill_engine/user_dirs.py"]
