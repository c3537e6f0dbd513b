"""The notebooks' widgets work live: JupyterLab driven by headless Chromium.

Headless runs (papermill, nbval) take ``explore``'s static path; this module takes the live one. One
JupyterLab server for the module, started from this environment without ``RIE_HEADLESS``; each
notebook is copied with ``PROFILE = "smoke"``, run from the top in the browser, and every slider and
dropdown is moved once: the output under it must change, with no traceback. A fixture notebook whose
callback raises proves that the check sees a broken widget.

Chromium and chromedriver are Debian's (``make browser``, a step of ``make test``). Without them the
test skips, except under ``CI=true``, where a skip is a failure. ``RIE_BROWSER_SCREENSHOTS=docs/img``
writes the screenshots there (the README shows one) instead of a temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
NOTEBOOKS = ("02_ui_cluster_discovery", "05_toy_embedding")
RAISING = ROOT / "tests" / "fixtures" / "raising_widget.ipynb"

RUN_TIMEOUT_S = 300  # one notebook from the top at the smoke profile
CHANGE_TIMEOUT_S = 120  # one redraw (a slider of 05 retrains a toy model)
CONTROLS = ".widget-slider, .widget-hslider, .widget-dropdown"
STDERR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'


def _unavailable(reason: str):
    # On CI the browser test is the only proof of the live path: a missing browser must fail it.
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run under CI: {reason}")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smoke_copy(notebook: Path, folder: Path) -> Path:
    """A copy of ``notebook`` in ``folder`` whose ``parameters`` cell says ``PROFILE = "smoke"``.

    The committed notebook is left alone. Relative paths in that cell ("../data/cache") are made
    absolute, so the copy shares the caches of the notebook it was taken from.
    """
    nb = json.loads(notebook.read_text())
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and "parameters" in c["metadata"].get("tags", []))
    source = "".join(cell["source"])
    source, n = re.subn(r'(?m)^PROFILE\s*=.*$', 'PROFILE = "smoke"', source)
    assert n == 1, f"{notebook.name}: no PROFILE line in its parameters cell"
    source = re.sub(r'(?m)^(\w+)\s*=\s*"(\.\.?/[^"]*)"',
                    lambda m: f'{m.group(1)} = "{(notebook.parent / m.group(2)).resolve()}"', source)
    cell["source"] = source.splitlines(keepends=True)
    nb["metadata"]["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    out = folder / notebook.name
    out.write_text(json.dumps(nb, indent=1))
    return out


@dataclass
class Lab:
    url: str
    token: str
    work: Path  # inside the server's root (the repo root): the notebook copies
    shots: Path
    log: Path

    def open_url(self, path: Path) -> str:
        return f"{self.url}/lab/tree/{path.relative_to(ROOT).as_posix()}?token={self.token}&reset"


def _write_settings(settings: Path) -> None:
    # Every cell in the DOM (no virtual scrolling), no autosave of the copies, no news fetched offline.
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


@pytest.fixture(scope="module")
def lab():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        _unavailable(f"{CHROMIUM} or {CHROMEDRIVER} missing (make browser installs them)")
    for module in ("selenium", "jupyterlab", "ipykernel"):
        try:
            __import__(module)
        except ImportError:
            _unavailable(f"{module} is not installed (pip install -e '.[notebooks,test]')")

    (ROOT / "build").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="browser-", dir=ROOT / "build"))
    home = Path(tempfile.mkdtemp(prefix="rie-jupyter-"))
    shots = Path(os.environ["RIE_BROWSER_SCREENSHOTS"]) if os.environ.get("RIE_BROWSER_SCREENSHOTS") else home / "shots"
    shots = shots if shots.is_absolute() else ROOT / shots
    shots.mkdir(parents=True, exist_ok=True)

    # This environment's own kernel, first on the kernel path: a kernelspec elsewhere on the machine
    # could start another Python, without rie or without the widgets.
    kernel = home / "data" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3", "language": "python"}))
    _write_settings(home / "settings")

    env = {k: v for k, v in os.environ.items() if k != "RIE_HEADLESS"}  # the live path, not the static figure
    env.update(
        JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(home / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"), TQDM_DISABLE="1",
    )
    port, token = _free_port(), uuid.uuid4().hex
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
               "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = home / "jupyter.log"
    with log.open("w") as sink:
        server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
    deadline = time.monotonic() + 120
    while True:
        try:
            opener.open(f"{url}/api/status?token={token}", timeout=5).read()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.fail(f"JupyterLab did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
    try:
        yield Lab(url=url, token=token, work=work, shots=shots, log=log)
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(lab):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = Path(tempfile.mkdtemp(prefix="rie-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-proxy-server", "--window-size=1400,1000", f"--user-data-dir={profile}"):
        options.add_argument(arg)
    # Both paths given, so Selenium Manager is never run; were it run, it would neither download nor report.
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SE_AVOID_STATS", "true")
        env.setenv("SE_OFFLINE", "true")
        driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


# JupyterLab's own objects (window.jupyterapp, exposed by --LabApp.expose_app_in_browser): the open
# notebook, its kernel's status, and "Run All Cells", whose promise settles when the last cell is done.
# The panel is looked up by its path: a headless window has no focus, so "the current widget" is null.
_PANEL_JS = """
const app = window.jupyterapp;
const panel = app && [...app.shell.widgets('main')].find(w => w.context && w.context.path === arguments[0]);
"""
_STATE_JS = _PANEL_JS + """
const ctx = panel && panel.sessionContext;
const kernel = ctx && ctx.session && ctx.session.kernel;
return {ready: !!(ctx && ctx.isReady && panel.content && panel.content.widgets.length),
        kernel: kernel ? kernel.status : null, run: window.__rieRun || null};
"""
_RUN_ALL_JS = _PANEL_JS + """
window.__rieRun = 'running';
app.commands.execute('notebook:run-all-cells', {widgetId: panel.id, semanticWidget: panel.id, activate: false}).then(
    ok => { window.__rieRun = ok === false ? 'stopped' : 'done'; },
    err => { window.__rieRun = 'failed: ' + err; });
"""
_NODE_JS = _PANEL_JS + "return panel.node;"
_SHUTDOWN_JS = _PANEL_JS + "if (panel) panel.sessionContext.shutdown();"
# What a control's redraw changes: the images and printed text of the output area around it (the
# interact box, else the cell), never the control's own readout.
_SNAPSHOT_JS = """
const scope = arguments[0].closest('.widget-interact') || arguments[0].closest('.jp-Cell');
return [...scope.querySelectorAll('img')].map(i => i.src).concat(
       [...scope.querySelectorAll('.jp-RenderedText, .jp-RenderedHTMLCommon')].map(e => e.innerText));
"""
_SCOPE_JS = "return arguments[0].closest('.widget-interact') || arguments[0].closest('.jp-Cell');"


@dataclass
class Report:
    controls: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)


def _wait(predicate, timeout: float, what: str, poll: float = 0.5):
    from selenium.common.exceptions import TimeoutException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutException(f"{what} (after {timeout:.0f} s)")


def _errors(driver, path: str) -> list[str]:
    """Tracebacks shown in the notebook: error outputs render as stderr."""
    from selenium.webdriver.common.by import By

    root = driver.execute_script(_NODE_JS, path)
    texts = [e.text for e in root.find_elements(By.CSS_SELECTOR, STDERR)]
    return [t for t in texts if "Traceback" in t or "Error" in t]


def _idle(driver, path: str) -> bool:
    state = driver.execute_script(_STATE_JS, path)
    return state["ready"] and state["kernel"] == "idle"


def _change(driver, control) -> str:
    """Moves a slider one step (the arrow keys on its handle) or picks another dropdown option; returns what."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    selects = control.find_elements(By.TAG_NAME, "select")
    if selects:
        select = Select(selects[0])
        options = [o.text for o in select.options]
        current = select.first_selected_option.text
        other = next(o for o in options if o != current)
        select.select_by_visible_text(other)
        return f"{current} -> {other}"
    handle = control.find_element(By.CSS_SELECTOR, ".noUi-handle")
    readout = lambda: control.find_element(By.CSS_SELECTOR, ".widget-readout").text  # noqa: E731
    before = readout()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    handle.send_keys(Keys.ARROW_RIGHT)
    if readout() == before:  # already at the right end
        handle.send_keys(Keys.ARROW_LEFT)
    return f"{before} -> {readout()}"


def _problem(where: str, e: Exception) -> str:
    message = getattr(e, "msg", None) or str(e)
    return message if message.startswith(where) else f"{where}: {type(e).__name__}: {message}"


def run_and_check(driver, lab: Lab, notebook: Path, name: str, shots: Path | None = None) -> Report:
    """Opens ``notebook`` (inside the server's root), runs it from the top, moves every control once.

    Every failure is a line of ``Report.problems``, never an exception: the same function must be able
    to say what is wrong with a broken notebook (test_a_raising_callback_is_reported). Screenshots go
    to ``shots`` (default: the module's folder).
    """
    from selenium.common.exceptions import WebDriverException

    report = Report()
    try:
        _run_and_check(driver, lab, notebook, name, report, shots or lab.shots)
    finally:
        try:  # the next notebook's kernel gets the CPU
            driver.execute_script(_SHUTDOWN_JS, notebook.relative_to(ROOT).as_posix())
        except WebDriverException:
            pass
    return report


def _run_and_check(driver, lab: Lab, notebook: Path, name: str, report: Report, shots: Path) -> None:
    from selenium.webdriver.common.by import By

    path = notebook.relative_to(ROOT).as_posix()
    try:
        driver.get(lab.open_url(notebook))
        _wait(lambda: _idle(driver, path), 120, f"{name}: the notebook did not open with an idle kernel")
        driver.execute_script(_RUN_ALL_JS, path)
        _wait(lambda: driver.execute_script(_STATE_JS, path)["run"] != "running" and _idle(driver, path), RUN_TIMEOUT_S,
              f"{name}: Run All Cells did not finish")
        run = driver.execute_script(_STATE_JS, path)["run"]
        if run != "done":
            report.problems.append(f"{name}: Run All Cells {run}")
        report.problems += [f"{name}: traceback after Run All Cells: {t[:500]}" for t in _errors(driver, path)]
    except Exception as e:  # noqa: BLE001 (a report line, not a crash: see run_and_check)
        report.problems.append(_problem(name, e))
        return

    try:
        # widget views render after their model arrives: wait for the controls to stop appearing
        counts = []
        _wait(lambda: counts.append(len(driver.find_elements(By.CSS_SELECTOR, CONTROLS))) or
              (len(counts) >= 3 and counts[-1] == counts[-3] and counts[-1] > 0), 30,
              f"{name}: no slider or dropdown rendered")
    except Exception as e:  # noqa: BLE001
        report.problems.append(_problem(name, e))
        return

    seen_errors = _errors(driver, path)  # already reported after Run All Cells
    for i in range(len(driver.find_elements(By.CSS_SELECTOR, CONTROLS))):
        control = driver.find_elements(By.CSS_SELECTOR, CONTROLS)[i]
        label = (control.find_elements(By.CSS_SELECTOR, ".widget-label") or [control])[0].text.strip() or f"control{i}"
        where = f"{name} / {label}"
        report.controls.append(label)
        try:
            before = _wait(lambda: driver.execute_script(_SNAPSHOT_JS, control), 30,
                           f"{where}: nothing drawn under the control before the change")
            moved = _change(driver, control)
            _wait(lambda: driver.execute_script(_SNAPSHOT_JS, control) not in (before, []), CHANGE_TIMEOUT_S,
                  f"{where} ({moved}): the output under it did not change")
            _wait(lambda: _idle(driver, path), CHANGE_TIMEOUT_S, f"{where}: the kernel stayed busy after the change")
            # the last outputs (a traceback after the text printed before it) may render after "idle"
            samples = []
            _wait(lambda: samples.append((driver.execute_script(_SNAPSHOT_JS, control), _errors(driver, path))) or
                  (len(samples) >= 3 and samples[-1] == samples[-2] == samples[-3]), 30,
                  f"{where}: the output under it kept changing")
            # anywhere in the notebook: a callback's traceback need not land under its control
            seen = set(seen_errors)
            seen_errors = _errors(driver, path)
            report.problems += [f"{where} ({moved}): {t[:500]}" for t in seen_errors if t not in seen]
            scope = driver.execute_script(_SCOPE_JS, control)
            shot = shots / f"{name}_{re.sub(r'[^A-Za-z0-9]+', '_', label).strip('_') or i}.png"
            driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", scope)
            scope.screenshot(str(shot))
            report.screenshots.append(shot)
        except Exception as e:  # noqa: BLE001
            report.problems.append(_problem(where, e))


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_widget_redraws_in_the_browser(lab, browser, name):
    start = time.monotonic()
    report = run_and_check(browser, lab, smoke_copy(ROOT / "notebooks" / f"{name}.ipynb", lab.work), name)
    print(f"{name}: {len(report.controls)} controls {report.controls} in {time.monotonic() - start:.0f} s; "
          f"screenshots in {lab.shots}")
    assert not report.problems, "\n".join(report.problems)
    assert report.controls, f"{name}: no slider or dropdown found: the test would prove nothing"
    assert len(report.screenshots) == len(report.controls)


def test_a_raising_callback_is_reported(lab, browser, tmp_path):
    # The check must see a broken widget: a callback that raises on every change.
    copy = lab.work / RAISING.name
    shutil.copy(RAISING, copy)
    report = run_and_check(browser, lab, copy, "raising_widget", shots=tmp_path)  # never into docs/img
    assert report.controls == ["level"], report.problems
    assert report.problems, "a callback that raises was not reported"
    assert all("Traceback" in p or "RuntimeError" in p for p in report.problems), report.problems


def test_a_missing_browser_skips_here_and_fails_under_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        _unavailable("no chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no chromium"):
        _unavailable("no chromium")
