# Every target builds .venv on its own so a fresh clone needs nothing but python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test lint demo bench reliability clean browser

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# The report test loads the HTML page in a real headless Chromium. Where none is on PATH (or in
# PANPIN_CHROMIUM) and apt-get can be used (root), Debian's chromium is installed; otherwise make
# stops here with one line saying what to install, rather than letting a test fail later.
CHROMIUM_NAMES := chromium chromium-browser google-chrome google-chrome-stable
browser:
	@found="$$PANPIN_CHROMIUM"; for n in $(CHROMIUM_NAMES); do \
		[ -n "$$found" ] || found="$$(command -v $$n || true)"; done; \
	if [ -n "$$found" ]; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| { echo "make: apt-get could not install chromium; install Debian's chromium (or set PANPIN_CHROMIUM) and re-run"; exit 1; }; \
	else \
		echo "make: make test needs headless Chromium for the report test: install Debian's chromium (apt-get install chromium) or set PANPIN_CHROMIUM=/path/to/chrome"; exit 1; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict
	$(BIN)/lint-imports

demo: $(STAMP)
	$(BIN)/panpin demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The fault matrix and the rest of tests/reliability in full mode (every cell repeated, SIGKILL at
# every step), then the whole suite once with the secret audit, then docs/reliability.md from
# both runs' results. `make test` runs the same suite in its fast mode.
RELIABILITY_OUT := build/reliability
reliability: $(STAMP)
	rm -rf $(RELIABILITY_OUT) && mkdir -p $(RELIABILITY_OUT)
	PANPIN_RELIABILITY=full PANPIN_RELIABILITY_OUT=$(CURDIR)/$(RELIABILITY_OUT) \
		$(BIN)/python -m pytest -n 2 -q -p no:cacheprovider tests/reliability \
		--junitxml=$(RELIABILITY_OUT)/suite.xml
	PANPIN_SECRET_AUDIT=1 $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider \
		--junitxml=$(RELIABILITY_OUT)/audit.xml
	$(BIN)/python tests/reliability/report.py $(RELIABILITY_OUT) docs/reliability.md

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
