# make setup | make demo [ARGS="--no-app --task detection|classification|segmentation" | "--production"]
# make test | make bench | make bench-map | make bench-planted | make bench-discovery | make bench-monitor
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-stamp

.PHONY: setup demo test bench bench-map bench-planted bench-discovery bench-monitor

setup: $(STAMP)

$(STAMP): requirements.txt scripts/setup.sh
	bash scripts/setup.sh
	touch $@

demo: setup
	$(PY) demo/run_demo.py $(ARGS)

test: setup
	$(PY) -m pytest tests --durations=25 $(PYTEST_ARGS)

bench: setup
	$(PY) benchmarks/bench_detection.py $(ARGS)

bench-map: setup
	$(PY) benchmarks/bench_error_map.py $(ARGS)

bench-planted: setup
	$(PY) benchmarks/bench_planted_failure.py $(ARGS)

bench-discovery: setup
	$(PY) benchmarks/bench_discovery.py $(ARGS)
bench-monitor: setup
	$(PY) benchmarks/bench_monitoring.py $(ARGS)
