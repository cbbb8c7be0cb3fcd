# Task runner. `make demo` and `make test` create .venv inside the checkout on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# CPU machines: the pinned CPU wheel. GPU users: make TORCH_SPEC='torch>=2.4' test
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.installed
# The torch request in force; rewritten only when it changes, so a new TORCH_SPEC reinstalls.
SPEC := $(VENV)/.torch-spec

.PHONY: install demo test check bench clean FORCE

$(SPEC): FORCE
	@mkdir -p $(VENV)
	@echo '$(TORCH_SPEC)' | cmp -s - $@ || echo '$(TORCH_SPEC)' > $@

$(STAMP): pyproject.toml $(SPEC)
	@echo "make: creating $(VENV) and installing $(TORCH_SPEC), then basis_compiler with its test and ray extras (a minute or two)"
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/pip install --quiet -e '.[test,ray]'
	@touch $(STAMP)
	@echo "make: $(VENV) is ready"

install: $(STAMP)

demo: install
	$(BIN)/basis-compiler demo

test: install
	$(BIN)/basis-compiler generate --check
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	$(BIN)/python benchmarks/compile_catalog.py

clean:
	rm -rf $(VENV)
