"""The documentation builds without warnings (`mkdocs build --strict`), and its code examples run."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# Pages whose ```python blocks form one runnable program each (blocks run in order, sharing one namespace).
RUNNABLE_PAGES = ["getting-started.md", "sparse-operator.md", "klu.md", "handles-and-caches.md", "amg.md"]


def _mkdocs_command() -> list[str] | None:
    exe = Path(sys.executable).with_name("mkdocs")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("mkdocs")
    return [found] if found else None


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install '.[docs]')")
    pytest.importorskip("material", reason="mkdocs-material is not installed (pip install '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python",
                        reason="mkdocstrings[python] is not installed (pip install '.[docs]')")
    cmd = _mkdocs_command()
    if cmd is None:
        pytest.skip("the mkdocs executable is not on PATH")
    site = tmp_path / "site"
    proc = subprocess.run(
        [*cmd, "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    assert (site / "index.html").exists()
    assert (site / "api" / "index.html").exists()
    api = (site / "api" / "index.html").read_text()
    for name in ("nativax.SparseOperator", "nativax.KLU", "nativax.klu", "nativax.SparsityPattern",
                 "nativax.caches"):
        assert f'id="{name}"' in api, f"API reference lacks {name}"


def _python_blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)]


@pytest.mark.parametrize("page", RUNNABLE_PAGES)
def test_doc_examples_run(page):
    """Each page's Python examples run top to bottom in a fresh interpreter (they assert their own results)."""
    blocks = _python_blocks(page)
    assert blocks, f"{page} has no python code blocks"
    program = "\n\n".join(blocks)
    proc = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{page}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
