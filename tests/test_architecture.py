"""The house's rules (docs/architecture.md): imports run downwards only, the runtime and the
API import without PyTorch, engines are asked for capabilities and never probed, every
package is installed, the benchmarks page is generated."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FLOOR_FOLDERS = {"runtime": "runtime", "training": "training", "export": "export", "benchmarks": "benchmarks", "stylize": "stylize"}
# floor -> the floors it may import (its own included)
ALLOWED = {
    "runtime": {"runtime"},
    "training": {"training", "runtime"},
    "export": {"export", "training", "runtime"},
    "benchmarks": {"benchmarks", "export", "training", "runtime"},
    "stylize": {"stylize", "benchmarks", "export", "training", "runtime"},
}
# the one arrow upwards: the torch engine builds its modules from the model definitions
EXCEPTIONS = {("runtime/backends/torch_backend.py", "stylize.training.models")}


def _modules() -> list[Path]:
    return sorted(p for folder in FLOOR_FOLDERS for p in (REPO / folder).rglob("*.py"))


def _floor_of_module(name: str) -> str | None:
    """``stylize.runtime.x`` -> runtime, ``stylize.cli`` / ``stylize`` -> stylize (the top floor)."""
    parts = name.split(".")
    if parts[0] != "stylize":
        return None
    if len(parts) > 1 and parts[1] in ("runtime", "training", "export", "benchmarks"):
        return parts[1]
    return "stylize"


def _package_of(path: Path) -> list[str]:
    """The installed package a source file sits in: runtime/video/x.py -> stylize.runtime.video."""
    parts = list(path.relative_to(REPO).parent.parts)
    return parts if parts[0] == "stylize" else ["stylize", *parts]


def _imports(path: Path, package: list[str] | None = None) -> list[str]:
    """Every module an import statement names, at any depth (lazy imports count too);
    relative imports resolved against ``package``."""
    tree = ast.parse(path.read_text())
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = (package or [])[: len(package or []) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.append(module)
            names += [f"{module}.{a.name}" for a in node.names]
    return names


def test_no_module_imports_upwards() -> None:
    wrong = []
    for path in _modules():
        rel = path.relative_to(REPO).as_posix()
        floor = rel.split("/")[0]
        for name in _imports(path, _package_of(path)):
            if name.split(".")[0] in ("runtime", "training", "export", "benchmarks"):
                wrong.append(f"{rel}: imports {name} by its bare name (use stylize.{name})")
                continue
            target = _floor_of_module(name)
            if target is None or target in ALLOWED[floor] or any(rel == r and (name == m or name.startswith(m + ".")) for r, m in EXCEPTIONS):
                continue
            if name.startswith(("stylize.runtime.", "stylize.training.", "stylize.export.", "stylize.benchmarks.")) or target == "stylize":
                wrong.append(f"{rel} ({floor}) imports {name} ({target})")
    assert not wrong, "\n".join(wrong)


def test_the_walk_sees_a_wrong_import(tmp_path: Path) -> None:
    """The rule above can fail: a runtime module that imported the API would be caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from stylize.api import Stylizer\n    import training.models\n    from ... import options\n")
    names = _imports(bad, ["stylize", "runtime", "video"])
    assert "stylize.api" in names and "training.models" in names and "stylize.options" in names
    assert _floor_of_module("stylize.api") == "stylize" not in ALLOWED["runtime"]


def test_engines_are_not_probed() -> None:
    """Capabilities are declared (runtime.engine.Capabilities): no hasattr in the runtime or the top floor."""
    probes = [
        f"{p.relative_to(REPO)}:{i}"
        for folder in ("runtime", "stylize")
        for p in (REPO / folder).rglob("*.py")
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "hasattr(" in line
    ]
    assert not probes, probes


# An install without PyTorch, as Python sees it: `import torch` fails, find_spec("torch") is None.
BLOCK_TORCH = "import sys\nsys.modules['torch'] = None\n"


def test_runtime_the_api_and_the_cli_import_without_torch() -> None:
    modules = [
        ".".join(("stylize", *p.relative_to(REPO).with_suffix("").parts)).removesuffix(".__init__")
        for p in sorted((REPO / "runtime").rglob("*.py"))
        if p.name not in ("torch_backend.py", "torch_blend.py")
    ]
    code = BLOCK_TORCH + textwrap.dedent(
        f"""
        import importlib
        for m in {modules!r}:
            importlib.import_module(m)
        import stylize
        from stylize import Stylizer, UserError
        from stylize.cli import build_parser, main
        import stylize.training.weights_io  # weights import without torch (.safetensors, .tflite)
        build_parser()
        for command in ("image", "video", "live", "weights", "train", "train-style", "paint", "export", "build-engine", "bench", "flicker"):
            assert main([command, "--help"]) == 0
        bad = [m for m in sys.modules if m.startswith("torch.") or m.startswith("stylize.training.") and m != "stylize.training.weights_io"
               and not m.startswith(("stylize.training.layouts", "stylize.training.magenta", "stylize.training.johnson"))]
        assert not bad, bad
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]


def test_torch_free_commands_say_what_to_install() -> None:
    code = BLOCK_TORCH + textwrap.dedent(
        """
        from stylize.cli import main
        assert main(["bench", "--quick"]) == 2
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pip install" in done.stderr and "Traceback" not in done.stderr


def test_every_package_is_installed() -> None:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = config["package-dir"]
    found = set()
    for name, folder in mapping.items():
        root = REPO / folder
        for init in root.rglob("__init__.py"):
            rel = init.parent.relative_to(root).parts
            found.add(".".join((name, *rel)))
    assert found == listed, f"missing: {sorted(found - listed)}, not packages: {sorted(listed - found)}"


def test_benchmarks_readme_is_generated_from_the_results() -> None:
    from stylize.benchmarks.report import README, render

    assert README.read_text() == render(), "benchmarks/README.md is out of date: python -m stylize.benchmarks.report"
