# The two commands a new user needs (see README):
#   make demo   set up everything, then train -> evaluate on real Fashion-MNIST
#   make test   set up everything, lint (ruff check and ruff format --check), then run the whole test suite
PY := .venv/bin/python
DEMO_RUN ?= runs/demo

.PHONY: setup demo test lint

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh $(DEMO_RUN)

test: setup lint
	$(PY) -m pytest -q tests

lint: setup
	.venv/bin/ruff check tna_deploy tests benchmarks scripts
	.venv/bin/ruff format --check tna_deploy tests benchmarks scripts
