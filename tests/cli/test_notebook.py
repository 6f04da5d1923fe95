"""The quickstart notebook runs from top to bottom and still agrees with the reference.

``notebooks/quickstart.ipynb`` is executed with nbclient in a Jupyter kernel
started from this interpreter (a kernelspec written to a temporary
JUPYTER_PATH, so a user-level ``python3`` kernelspec pointing at another
Python cannot hijack the run). The kernel's working directory and TMPDIR are
the test's temporary directory, so nothing lands in the repository.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys

import pytest

nbformat = pytest.importorskip("nbformat", reason="nbformat is in the [test] extra")
nbclient = pytest.importorskip("nbclient", reason="nbclient is in the [test] extra")
pytest.importorskip("ipykernel", reason="ipykernel is in the [test] extra")
pytest.importorskip("matplotlib", reason="matplotlib is in the [test] extra")

REPO = pathlib.Path(__file__).resolve().parents[2]  # tests/cli/test_notebook.py
NOTEBOOK = REPO / "notebooks" / "quickstart.ipynb"
CELL_TIMEOUT = 300  # seconds; a cold Numba cache compiles the kernels in the first mosaic cell
PROBE = "import sys; print('KERNEL-PREFIX', sys.prefix)"  # the venv, not just the binary


def _kernelspec_dir(root):
    """A ``python3`` kernelspec that starts ipykernel with this very interpreter."""
    spec = root / "kernels" / "python3"
    spec.mkdir(parents=True)
    kernel = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (tiledrizzle tests)",
        "language": "python",
    }
    (spec / "kernel.json").write_text(json.dumps(kernel))
    return root


def _text(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def _cell_with(nb, needle):
    cells = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(cells) == 1, f"expected one code cell containing {needle!r}, found {len(cells)}"
    return cells[0]


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code cells"
    for c in code:
        assert c.outputs == [] and c.execution_count is None, c.source[:60]


@pytest.mark.slow
def test_quickstart_notebook_runs(tmp_path, monkeypatch):
    jupyter_dir = _kernelspec_dir(tmp_path / "jupyter")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("JUPYTER_PATH", str(jupyter_dir))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # silences jupyter_core's path notice
    monkeypatch.setenv("TMPDIR", str(work))  # the notebook's temporary files
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no display; the notebook draws inline anyway

    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=CELL_TIMEOUT, resources={"metadata": {"path": work}}
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        pytest.fail(f"a notebook cell failed:\n{exc}")

    errors = [
        (c.source[:60], o.get("ename"), o.get("evalue"))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "error"
    ]
    assert not errors, errors

    probe = _text(nb.cells[-1])
    assert os.path.realpath(probe.split("KERNEL-PREFIX", 1)[1].strip()) == os.path.realpath(
        sys.prefix
    ), probe

    # The mosaic used every input; the figure was drawn.
    report = _text(_cell_with(nb, "result.report.items()"))
    assert re.search(r"inputs_used\s*:\s*4\b", report), report
    assert re.search(r"scheduler\s*:\s*threads\b", report), report
    plot = _cell_with(nb, "plt.subplots")
    assert any("image/png" in o.get("data", {}) for o in plot.outputs), "no figure drawn"

    # The context names the exposures of the most covered pixel (all demo files).
    ctx = _text(_cell_with(nb, "decode_context(ctx"))
    m = re.search(r"(\d+) inputs contributed: (.+)", ctx)
    assert m, ctx
    names = m.group(2).strip().split(", ")
    assert int(m.group(1)) == len(names) >= 2, ctx
    assert all(re.fullmatch(r"demo_\d\d\.fits", n) for n in names), names

    # The comparison with the reference drizzle is within the parity tolerance.
    parity = _text(_cell_with(nb, "from drizzle.resample import Drizzle"))
    assert "parity with drizzle: OK (within rtol 1e-05)" in parity, parity
    m = re.search(r"max relative difference img: (\S+), wht: (\S+)", parity)
    assert m, parity
    assert float(m.group(1)) <= 1e-5 and float(m.group(2)) <= 1e-5, parity

    # The notebook cleaned up after itself; nothing was left in the kernel's TMPDIR.
    assert not any(p.name.startswith("tiledrizzle-quickstart-") for p in work.iterdir())


def test_the_notebook_extra_installs_what_the_notebook_imports():
    """README names ``pip install ".[notebook]"``: every module a cell imports is the
    standard library's, the package's own or a requirement of that extra."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extra = project["optional-dependencies"]["notebook"]
    wanted = {re.split(r"[<>=\[ ]", r)[0] for r in project["dependencies"] + extra}
    nb = nbformat.read(NOTEBOOK, as_version=4)
    modules = set()
    for cell in nb.cells:
        if cell.cell_type == "code":
            modules |= set(re.findall(r"^\s*(?:from|import) (\w+)", cell.source, re.M))
    third_party = modules - set(sys.stdlib_module_names) - {"tiledrizzle"}
    assert third_party, "the notebook imports nothing but the standard library?"
    assert third_party <= wanted, f"not in the [notebook] extra: {third_party - wanted}"
    assert 'pip install ".[notebook]"' in (REPO / "README.md").read_text()
