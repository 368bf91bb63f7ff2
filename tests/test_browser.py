"""The course in a real browser: JupyterLab on 127.0.0.1 driven by headless Chromium.

Papermill runs the notebooks without a front end, where no widget renders. These tests start
JupyterLab with the course's Jupyter set-up (``jupyter/``: the extension that opens
``notebooks/*.py`` as notebooks, the kernel transport settings), open it in Debian's
``chromium`` through Playwright (no browser download), run small notebooks that display the
course's widgets, move their sliders and selectors, and check that the picture changes and
that no cell fails. Screenshots go to ``build/browser/``.

Run them alone with ``pytest -m browser``. Without Chromium or Playwright they are skipped.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = REPO / "build" / "browser"
INSTALL = ("install them with `apt-get install -y chromium` (Debian/Ubuntu) and "
           "`pip install playwright==1.65.2` (no `playwright install`: the system Chromium is "
           "used), or point REFACING_CHROMIUM at a Chromium binary")
CHROMIUM = (os.environ.get("REFACING_CHROMIUM") or shutil.which("chromium")
            or shutil.which("chromium-browser"))
try:
    from playwright.sync_api import sync_playwright
except ImportError:
    pytest.skip(f"the browser tests need Playwright and Chromium: {INSTALL}",
                allow_module_level=True)
if not CHROMIUM:
    pytest.skip(f"no Chromium found for the browser tests: {INSTALL}", allow_module_level=True)


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(path: Path, *sources: str) -> None:
    """Write a notebook of code cells (a markdown cell first) for the Python 3 kernel."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem}")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab serving a temporary folder, with a token, on a free port of 127.0.0.1.

    The folder holds a copy of notebook 01 and its paired ``.py``, a plain Python file outside
    ``notebooks/``, and the widget notebooks the tests write. Jupyter's user folders (config,
    settings, workspaces, runtime) are temporary too, so nothing of this machine's set-up
    leaks in; the course's own set-up comes from ``jupyter/`` as ``make lab`` passes it.
    """
    root = tmp_path_factory.mktemp("lab_root")
    state = tmp_path_factory.mktemp("lab_state")
    (root / "notebooks").mkdir()
    for name in ("01_ixi_exploration.py", "01_ixi_exploration.ipynb", "jupytext.toml"):
        shutil.copy(REPO / "notebooks" / name, root / "notebooks" / name)
    (root / "tools").mkdir()
    (root / "tools" / "helper.py").write_text('"""A library file: opens as text."""\n\n'
                                              "def answer():\n    return 42\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "MPLBACKEND"))}
    env.update(
        JUPYTER_PATH=str(REPO / "jupyter"), JUPYTER_CONFIG_PATH=str(REPO / "jupyter"),
        JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_DATA_DIR=str(state / "data"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        OMP_NUM_THREADS="1", TF_CPP_MIN_LOG_LEVEL="2",
    )
    port, token = _free_port(), secrets.token_hex(16)
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root; JupyterLab refuses otherwise
    log = state / "jupyterlab.log"
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    yield Lab(url, token, root, log)
    request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
    try:
        urllib.request.urlopen(request, timeout=5).close()
    except OSError:
        process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=["--no-sandbox", "--disable-gpu",
                                           "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def lab_page(browser, lab):
    """One JupyterLab page for all tests (loading it takes seconds); each test leaves it with
    every tab closed and every kernel shut down (fixture ``page``)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(f"{lab.url}/lab?reset&token={lab.token}")
    page.wait_for_selector(".jp-DirListing-content", state="visible")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started")
    yield page
    context.close()


@pytest.fixture
def page(lab_page, lab):
    yield lab_page
    lab_page.evaluate("""async () => {
        const app = window.jupyterapp;
        for (const widget of Array.from(app.shell.widgets('main'))) {
            if (widget.context) { await widget.context.sessionContext.shutdown(); }
            widget.dispose();
        }
        await app.commands.execute('filebrowser:go-to-path', {path: '/'});
    }""")


def _screenshot(page, name: str, locator=None) -> bytes:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    target = locator if locator is not None else page
    return target.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def _open(page, path: str) -> None:
    page.evaluate("async path => { await window.jupyterapp.commands.execute('docmanager:open', "
                  "{path}); }", path)
    page.wait_for_selector(".jp-NotebookPanel:visible .jp-Cell")


_RUN_STATE = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
    const prompts = [...panel.node.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
    return kernel && kernel.status === 'idle'
        && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
}"""

_ERRORS = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
    const errors = [];
    for (let i = 0; i < cells.length; i++) {
        const cell = cells.get(i);
        if (cell.type !== 'code') continue;
        for (let j = 0; j < cell.outputs.length; j++) {
            const out = cell.outputs.get(j);
            if (out.type === 'error') errors.push(JSON.stringify(out.toJSON()).slice(0, 2000));
        }
    }
    return errors;
}"""


def _run_all(page, timeout_s: float = 120) -> None:
    """Run every cell of the open notebook and wait until all have run; fail on an error."""
    page.wait_for_function("""() => {
        const s = window.jupyterapp.shell.currentWidget.sessionContext;
        return s.session && s.session.kernel && s.session.kernel.status === 'idle'; }""")
    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    page.wait_for_function(_RUN_STATE, timeout=timeout_s * 1000, polling=500)
    errors = page.evaluate(_ERRORS)
    assert not errors, "a cell failed in JupyterLab:\n" + "\n".join(errors)


def _image_source(locator) -> str:
    return locator.locator("img").first.get_attribute("src") or ""


def _wait_for_new_image(widget, before: str, what: str) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        source = _image_source(widget)
        if source and source != before:
            return source
        time.sleep(0.25)
    raise AssertionError(f"the widget's picture did not change after {what}")


def _drag_slider(page, widget, pixels: float) -> None:
    handle = widget.locator(".widget-slider .noUi-handle").first
    box = handle.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + pixels, y, steps=8)
    page.mouse.up()


def _slider_value(widget) -> int:
    return int(widget.locator(".widget-readout").first.inner_text())


# ---- the paired .py sources open as notebooks, and only they --------------------------------

def test_course_py_opens_as_notebook_and_other_py_as_text(page, lab):
    assert page.evaluate("() => document.body.dataset.refacingCourse") == "active"
    listing = page.locator(".jp-DirListing-content")
    listing.get_by_text("notebooks", exact=True).dblclick()
    listing.get_by_text("01_ixi_exploration.py", exact=True).dblclick()
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.locator(".jp-Cell").first.wait_for()
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.context.isReady")
    types = page.evaluate("""() => {
        const cells = window.jupyterapp.shell.currentWidget.content.model.cells;
        return Array.from({length: cells.length}, (_, i) => cells.get(i).type); }""")
    assert types.count("markdown") >= 5 and types.count("code") >= 5   # the percent cells
    heading = panel.locator(".jp-MarkdownCell .jp-RenderedMarkdown h1").first
    heading.wait_for()                           # the markdown cells render as text
    assert "The IXI T1 heads" in heading.inner_text()
    page.wait_for_timeout(500)
    tab = page.locator("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
    assert tab.inner_text() == "01_ixi_exploration.py"
    assert page.locator(".jp-FileEditor:visible").count() == 0
    _screenshot(page, "01_py_opens_as_notebook")

    page.evaluate("async () => { await window.jupyterapp.commands.execute("
                  "'filebrowser:go-to-path', {path: '/tools'}); }")
    listing.get_by_text("helper.py", exact=True).dblclick()
    page.locator(".jp-FileEditor:visible").wait_for()
    assert page.locator(".jp-NotebookPanel:visible").count() == 0
    _screenshot(page, "library_py_opens_as_text")


def test_no_jupyter_news_prompt_greets_a_student(page, lab):
    """The course's set-up (``jupyter/labconfig/page_config.json``) disables JupyterLab's
    announcements plugin, which otherwise asks at the first start "Would you like to get
    notified about official Jupyter news?" (this lab has fresh user settings)."""
    plugin = "@jupyterlab/apputils-extension:announcements"
    assert page.evaluate("id => window.jupyterapp.hasPlugin(id)", plugin) is False
    assert page.evaluate("() => window.jupyterapp.hasPlugin("
                         "'@jupyterlab/apputils-extension:notification')") is True
    page.wait_for_timeout(2000)
    assert page.get_by_text("official Jupyter news").count() == 0
    _screenshot(page, "no_news_prompt")


# ---- the widgets of notebooks 01-03 ---------------------------------------------------------

@pytest.fixture(scope="module")
def small_head(tmp_path_factory):
    """One synthetic head at low resolution (60 x 96 x 96 voxels) and its true face mask."""
    from refacing_lib.data.synthetic import make_cohort

    folder = tmp_path_factory.mktemp("browser_head")
    (path,) = make_cohort(folder, subjects=1, seed=0, progress=False, shape=(60, 96, 96))
    face = folder / "truth" / path.name.replace("-T1.nii.gz", "-T1_face.nii.gz")
    return path, face


def test_slice_browser_slider_and_view(page, lab, small_head):
    head, face = small_head
    _notebook(lab.root / "slice_browser.ipynb",
              "from refacing_lib.data.io import load_volume\n"
              "from refacing_lib.viz.widgets import SliceBrowser\n"
              f"vol = load_volume({str(head)!r})\n"
              f"face = load_volume({str(face)!r}).data > 0",
              "SliceBrowser({'original': vol.data, 'face removed': vol.data * ~face}, vol.zooms)")
    _open(page, "slice_browser.ipynb")
    _run_all(page)
    widget = page.locator(".jp-NotebookPanel:visible .widget-vbox").first
    widget.locator("img").first.wait_for()
    first = _image_source(widget)
    start = _slider_value(widget)
    before = _screenshot(page, "slice_browser_1_start", widget)

    _drag_slider(page, widget, 24)          # about 12 slices towards the right: the cheek
    moved = _wait_for_new_image(widget, first, "dragging the slice slider")
    assert _slider_value(widget) > start
    after = _screenshot(page, "slice_browser_2_slider_moved", widget)
    assert after != before

    widget.locator("select").first.select_option(index=2)           # the axial view
    _wait_for_new_image(widget, moved, "choosing the axial view")
    assert "axial" in widget.locator("select").first.evaluate("s => s.selectedOptions[0].text")
    _screenshot(page, "slice_browser_3_axial", widget)
    assert not page.evaluate(_ERRORS)


def test_dataset_browser_slider_and_split(page, lab, slice_dataset):
    _notebook(lab.root / "dataset_browser.ipynb",
              "from refacing_lib.slicing.datasets import open_dataset\n"
              "from refacing_lib.viz.widgets import DatasetBrowser\n"
              f"ds = open_dataset({str(slice_dataset.folder)!r})",
              "DatasetBrowser(ds, split='test')")
    _open(page, "dataset_browser.ipynb")
    _run_all(page)
    widget = page.locator(".jp-NotebookPanel:visible .widget-vbox").first
    widget.locator("img").first.wait_for()
    first = _image_source(widget)
    _screenshot(page, "dataset_browser_1_test_0", widget)

    _drag_slider(page, widget, 150)
    moved = _wait_for_new_image(widget, first, "dragging the image slider")
    assert _slider_value(widget) > 0
    _screenshot(page, "dataset_browser_2_slider_moved", widget)

    widget.locator("select").first.select_option("train")
    _wait_for_new_image(widget, moved, "choosing the train split")
    assert _slider_value(widget) == 0
    _screenshot(page, "dataset_browser_3_train", widget)
    assert not page.evaluate(_ERRORS)


def _picture(source: str):
    """The pixels (h, w, channels) of an <img> data URI (PNG)."""
    import base64
    import io

    import matplotlib.image as mpimg

    assert source.startswith("data:image/png;base64,"), source[:40]
    return mpimg.imread(io.BytesIO(base64.b64decode(source.split(",", 1)[1])), format="png")


def test_head_viewer_renders_and_turns(page, lab, small_head):
    head, face = small_head
    _notebook(lab.root / "head_viewer.ipynb",
              "from refacing_lib.data.io import load_volume\n"
              "from refacing_lib.viz.widgets import HeadViewer\n"
              f"vol = load_volume({str(head)!r})\n"
              f"face = load_volume({str(face)!r}).data > 0",
              "HeadViewer({'original': vol.data, 'face removed': vol.data * ~face}, vol.zooms)")
    _open(page, "head_viewer.ipynb")
    _run_all(page)
    widget = page.locator(".jp-NotebookPanel:visible .widget-vbox").first
    widget.locator("img").first.wait_for()
    first = _image_source(widget)
    pixels = _picture(first)[..., :3].mean(axis=-1)
    skin = (pixels < 0.97) & (pixels > 0.05)          # shaded skin: neither background nor ink
    assert skin.mean() > 0.05, "the 3-D view is blank"
    assert pixels.std() > 0.05
    _screenshot(page, "head_viewer_1_start", widget)

    _drag_slider(page, widget, 12)                   # turn by about 30 degrees
    turned = _wait_for_new_image(widget, first, "turning the heads")
    assert int(widget.locator(".widget-readout").first.inner_text()) > 60
    _screenshot(page, "head_viewer_2_turned", widget)
    changed = np.abs(_picture(turned)[..., :3].mean(axis=-1) - pixels)
    assert (changed > 0.1).mean() > 0.01               # the surfaces moved, not only the title
    assert not page.evaluate(_ERRORS)


def test_loss_monitor_redraws_in_place(page, lab):
    _notebook(lab.root / "loss_monitor.ipynb",
              "import numpy as np\n"
              "from refacing_lib.viz.widgets import LossMonitor\n"
              "rng = np.random.default_rng(0)\n"
              "def losses(step):\n"
              "    return {name: float(v) for name, v in zip(\n"
              "        ('g_AB', 'g_BA', 'cycle', 'd_A', 'd_B', 'supervised'),\n"
              "        np.exp(-step / 40) * (1 + 0.1 * rng.random(6))"
              " * [1, 1, 0.5, 0.25, 0.25, 0.1])}\n"
              "monitor = LossMonitor(every=10)",
              "for step in range(1, 21):\n    monitor(step, losses(step))",
              "for step in range(21, 121):\n    monitor(step, losses(step))")
    _open(page, "loss_monitor.ipynb")
    page.wait_for_function("""() => {
        const s = window.jupyterapp.shell.currentWidget.sessionContext;
        return s.session && s.session.kernel && s.session.kernel.status === 'idle'; }""")
    page.evaluate("""() => {                     // run all cells but the last, as a student would
        const panel = window.jupyterapp.shell.currentWidget;
        panel.content.activeCellIndex = panel.content.widgets.length - 1;
        window.jupyterapp.commands.execute('notebook:run-all-above'); }""")
    page.wait_for_function("""() => {
        const prompts = [...window.jupyterapp.shell.currentWidget.node
                         .querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
        return /\\[2\\]/.test(prompts[1].textContent); }""", polling=500)
    assert not page.evaluate(_ERRORS)
    plot = page.locator(".jp-NotebookPanel:visible .jp-CodeCell").nth(0).locator("img").first
    plot.wait_for()
    after_20 = plot.get_attribute("src")
    assert _picture(after_20)[..., :3].std() > 0.05
    _screenshot(page, "loss_monitor_1_step_20", plot)

    page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-cell'); }")
    page.wait_for_function(_RUN_STATE, polling=500)
    deadline = time.monotonic() + 30
    while plot.get_attribute("src") == after_20 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert plot.get_attribute("src") != after_20, "the loss plot was not redrawn in place"
    # one plot, in the cell that created the monitor: the later cells show nothing of their own
    assert page.locator(".jp-NotebookPanel:visible .jp-CodeCell img").count() == 1
    _screenshot(page, "loss_monitor_2_step_120", plot)
    assert not page.evaluate(_ERRORS)
