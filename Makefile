# The README's commands. `make demo` and `make test` bootstrap this machine first (idempotently).
VENV := .venv
BOOTSTRAPPED := $(VENV)/.bootstrapped
PYTEST_ARGS ?=
# Extra options for the demo's `rolloutlab run`, e.g. DEMO_ARGS='--time-scale 0.5' (CI shortens it).
DEMO_ARGS ?=

.PHONY: demo test unit bench docs down clean help

help:  ## list the targets
	@grep -E '^[a-z]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

demo: $(BOOTSTRAPPED)  ## run the default canary scenario on the local target and print the verdict
	$(VENV)/bin/rolloutlab run canary-basic $(DEMO_ARGS)

test: $(BOOTSTRAPPED)  ## run the whole test suite (unit, integration on real processes, infra)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: $(BOOTSTRAPPED)  ## only the fast unit tests
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

bench: $(BOOTSTRAPPED)  ## run the benchmarks in bench/
	@for b in bench/bench_*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

docs: $(BOOTSTRAPPED)  ## build the documentation site into site/ (strict: a broken link or anchor fails it)
	$(VENV)/bin/mkdocs build --strict

down: $(BOOTSTRAPPED)  ## stop a lab left running
	$(VENV)/bin/rolloutlab down

clean: down  ## stop the lab and remove its state, runs and model store
	rm -rf .rolloutlab

$(BOOTSTRAPPED): uv.lock pyproject.toml scripts/bootstrap.sh
	scripts/bootstrap.sh
	@touch $@
