# The two commands a new user needs (see README):
#   make demo   set up everything, then train -> evaluate on real Fashion-MNIST
#   make test   set up everything, lint (ruff check and ruff format --check), then run the whole test suite
#               on CPython 3.10 (.venv, with Lava), then the Lava-free suite on CPython 3.12 (test-lavafree)
# make test-lavafree alone: the wheel in .venv312 (CPython 3.12, no Lava, every `lava` import blocked):
#   its smoke test (scripts/smoke.sh), then the suite, where the tests that need Lava or SLAYER skip
PY := .venv/bin/python
DEMO_RUN ?= runs/demo

.PHONY: setup demo test test-lavafree lint

setup:
	@bash scripts/setup.sh

demo: setup
	@bash scripts/demo.sh $(DEMO_RUN)

test: setup lint
	$(PY) -m pytest -q tests
	$(MAKE) --no-print-directory test-lavafree

test-lavafree:
	@bash scripts/setup_lavafree.sh
	bash scripts/smoke.sh .venv312
	TNA_LAVA_FREE=1 .venv312/bin/python -m pytest -q tests

lint: setup
	.venv/bin/ruff check tna_deploy tests benchmarks scripts
	.venv/bin/ruff format --check tna_deploy tests benchmarks scripts
