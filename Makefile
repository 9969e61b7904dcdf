# CMKD Survey — developer entry points. The two that matter (see README):
#   make demo   run the main job on the embedded default scene
#   make test   set up what is missing, then run every test tier
SHELL := /bin/bash
PY    := .venv/bin/python
export PROJ_DATA ?= /usr/share/proj
export QT_QPA_PLATFORM ?= offscreen

.PHONY: setup test test-unit test-slow demo zip stage bench clean

setup:
	@bash scripts/setup.sh

test: setup stage
	$(PY) -m pytest tests -q

test-unit: setup
	$(PY) -m pytest -p no:pytest_qgis tests/unit -q

test-slow: setup stage
	$(PY) -m pytest tests -q -m slow

stage:
	@python3 scripts/build.py stage >/dev/null

zip: setup
	python3 scripts/build.py zip

demo: setup stage
	bash scripts/demo.sh

bench: setup stage
	bash scripts/bench.sh

clean:
	rm -rf build dist .pytest_cache .qgis-settings demo-output bench-output
