# Two entry points: `make demo` and `make test`. Each creates .venv and installs what it
# needs on first use.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test install clean

$(BIN)/deid: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/deid

demo: install
	rm -rf sample_out sample_out.report
	$(BIN)/deid run sample_data sample_out --workers 1

# exiftool is the independent metadata reader the tests check outputs with.
test: install
	@command -v exiftool >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq libimage-exiftool-perl >/dev/null; } || echo "exiftool not installed: its checks will be skipped"
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) sample_out sample_out.report build *.egg-info
