# Two commands do all the set-up on a fresh machine with Python >= 3.10:
#   make report   build the environment if missing, execute every notebook (default profile)
#   make test     build the environment if missing, run every test (unit, notebooks, nbval)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rie-installed
PROFILE ?= default

.PHONY: env report test bench clean-cache

env: $(STAMP)

# Reinstall when the pins change; the stamp is written only after a complete install.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	$(BIN)/python -c "import torch, torchvision, pytorch_grad_cam; print('torch', torch.__version__, '| torchvision', torchvision.__version__, '| grad-cam ok')"
	@touch $@

# Executes every notebook in place with papermill: the only command that rewrites notebooks/.
# Another profile (PROFILE=smoke make report) writes to build/<profile>/ and leaves the reports alone.
report: $(STAMP)
	$(BIN)/python -m rie.report --profile $(PROFILE) $(if $(filter default,$(PROFILE)),,--output-dir build/$(PROFILE))

test: $(STAMP)
	$(BIN)/python -c "import torchvision, pytorch_grad_cam, torchvision.ops; print('torchvision', torchvision.__version__, 'and pytorch_grad_cam import')"
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval_sanitize.cfg -p no:cacheprovider --ignore-glob="notebooks/.*"

bench: $(STAMP)
	for b in benchmarks/*.py; do $(BIN)/python $$b || exit 1; done

clean-cache:
	rm -rf data/cache data/models
