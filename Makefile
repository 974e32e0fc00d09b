# Two commands on a fresh machine: `make demo` and `make test`. Each sets itself up first.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.vnseg-setup-done
PYTEST_ARGS ?=
# The suite runs in TEST_WORKERS pytest-xdist processes (whole files per process: a module's fixtures are built once),
# each with one torch thread: two workers keep both cores of a small machine busy without oversubscribing them.
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
PYTEST_RUN = OMP_NUM_THREADS=1 $(PY) -m pytest tests -n $(TEST_WORKERS) --dist loadfile
# This checkout's vnseg comes first for every target and its subprocesses, whichever venv VENV names
# (tools import the installed vnseg; a venv shared by several checkouts has another one installed).
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
# GPU switch of the set-up (tools/setup_env.sh): VNSEG_CUDA=1 builds mmcv with CUDA ops, 0 without, auto (default)
# when nvidia-smi lists a GPU. `test-cuda-build` proves the CUDA build without a GPU, in its own venv, for one
# architecture (the visible GPU's, else 9.0 = H100/H200; TORCH_CUDA_ARCH_LIST overrides); about an hour on a small CPU
# machine the first time (docs/gpu.md, "How long it takes"), seconds once the wheel is cached.
CUDA_VENV ?= .venv-cuda
CUDA_TEST_ARCH = $(or $(TORCH_CUDA_ARCH_LIST),$(shell nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1),9.0)

.PHONY: setup lint test test-fast test-clients demo clean-demo test-cuda-build FORCE

setup: $(STAMP)

$(STAMP): tools/setup_env.sh setup.py requirements/runtime.txt requirements/tests.txt requirements/constraints.txt
	VENV=$(VENV) bash tools/setup_env.sh
	touch $@

# An explicit VNSEG_CUDA=1 re-runs the (idempotent) set-up, so an existing venv with CPU-only mmcv gets the CUDA build.
ifeq ($(VNSEG_CUDA),1)
$(STAMP): FORCE
endif
FORCE:

lint: setup
	$(VENV)/bin/ruff check .

# The suite; tests/clients/ are not collected here (pytest.ini norecursedirs), they are `test-clients`.
test: setup
	$(PYTEST_RUN) $(PYTEST_ARGS)

# The suite without the tests marked slow (training, export, whole-scene runs): a few minutes, for a developer.
test-fast: setup
	$(PYTEST_RUN) -m "not slow" $(PYTEST_ARGS)

# Client tests (tests/clients/): vnseg's outputs opened in QGIS 3.22, its ONNX export run by the Deepness
# plugin (../shared/clients/deepness) and its HTML report rendered by headless Chromium. tools/setup_clients.sh
# installs QGIS and Chromium (apt, as root) and the plugin's requirements into the system python first; without
# root they skip (fail under CI=true).
test-clients: setup
	bash tools/setup_clients.sh
	$(PY) -m pytest tests/clients $(PYTEST_ARGS)

demo: setup
	$(PY) demo/run_demo.py --work-dir work_dirs/demo

test-cuda-build:
	VENV=$(CUDA_VENV) VNSEG_CUDA=1 TORCH_CUDA_ARCH_LIST="$(CUDA_TEST_ARCH)" bash tools/setup_env.sh
	touch $(CUDA_VENV)/.vnseg-setup-done
	VNSEG_TEST_CUDA_BUILD=1 TORCH_CUDA_ARCH_LIST="$(CUDA_TEST_ARCH)" $(CUDA_VENV)/bin/python -m pytest tests/test_cuda_build.py -v -p no:cacheprovider

clean-demo:
	rm -rf work_dirs/demo
