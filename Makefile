# Two commands do all the set-up on a fresh machine with Python >= 3.10:
#   make report   build the environment if missing, execute every notebook (default profile)
#   make test     build the environment if missing, run every test (unit, notebooks, nbval)
#   make lab      build the environment if missing, open the notebooks in JupyterLab
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rie-installed
PROFILE ?= default
LOCK   := constraints.txt

.PHONY: env browser report test lab bench clean-cache

env: $(STAMP)

# Reinstall when the ranges or the pins change; the stamp is written only after a complete install.
# pyproject.toml declares compatible ranges; $(LOCK) holds the exact versions the reports were made with.
$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e ".[notebooks,test]"
	$(BIN)/python -c "import torch, torchvision, pytorch_grad_cam; print('torch', torch.__version__, '| torchvision', torchvision.__version__, '| grad-cam ok')"
	@touch $@

# Executes every notebook in place with papermill: the only command that rewrites notebooks/.
# Another profile (PROFILE=smoke make report) writes to build/<profile>/ and leaves the reports alone.
report: $(STAMP)
	$(BIN)/python -m rie.report --profile $(PROFILE) $(if $(filter default,$(PROFILE)),,--output-dir build/$(PROFILE))
	$(if $(filter default,$(PROFILE)),$(BIN)/python docs/make_figures.py)

# tests/test_browser.py drives JupyterLab in the system's headless Chromium through its chromedriver,
# Debian's packages (Selenium's own browser download cannot work offline). Installed once; skipped when both are there.
# Without them the browser test skips, except under CI=true, where this step must succeed and a skip fails.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then echo "chromium and chromedriver: installed"; \
	else $(SUDO) apt-get update && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium chromium-driver \
	  || { echo "chromium could not be installed: tests/test_browser.py will skip"; [ "$$CI" != true ]; }; fi

test: $(STAMP) browser
	$(BIN)/python -c "import torchvision, pytorch_grad_cam, torchvision.ops; print('torchvision', torchvision.__version__, 'and pytorch_grad_cam import')"
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider --ignore-glob="notebooks/.*" --ignore=notebooks/solutions

# Opens JupyterLab on notebooks/ in the project's environment (Ctrl-C stops it). On a remote machine or in a
# container: make lab LAB_ARGS="--no-browser --ip=0.0.0.0" (as root, JupyterLab also asks for --allow-root).
LAB_ARGS ?=
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks $(LAB_ARGS)

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean-cache:
	rm -rf data/cache data/models
