# waltport: two commands for a newcomer (see README): `make demo` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
export SOURCE_DATE_EPOCH ?= 1700000000
# Test modules run on this many pytest-xdist workers, one module per worker at a
# time (--dist loadfile: module fixtures such as a lab or built images are made
# once, and lab/namespace names carry the worker's pid). 2 = the cores here;
# TEST_JOBS=0 runs them in this process.
TEST_JOBS ?= 2

.PHONY: bootstrap demo test lint clean

bootstrap:
	@./scripts/bootstrap.sh

demo: bootstrap
	@$(PY) -m waltport.demo

test: bootstrap
	@$(VENV)/bin/ruff check waltport tests benchmarks
	@$(VENV)/bin/mypy waltport
	@$(PY) -m pytest -q $(if $(filter 0,$(TEST_JOBS)),,-n $(TEST_JOBS) --dist loadfile) $(PYTEST_ARGS)

lint: bootstrap
	@$(VENV)/bin/ruff check waltport tests benchmarks
	@$(VENV)/bin/mypy waltport

clean:
	rm -rf build reports/demo .pytest_cache
