# referral-bus: the two commands (`make run`, `make test`) do all the set-up on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUS := $(VENV)/bin/referral-bus
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
# Each set-up step says what it does and, the first time in a clone, how long it usually takes.
STEP := bash scripts/setup/step.sh
PIP := $(PY) -m pip install -q --disable-pip-version-check

.PHONY: install broker broker-stop lint typecheck schemas k8s-tools k8s-validate jaeger promtool chromium kafka-jars registry-build setup-run setup-test test run bench faults clean

$(STAMP): pyproject.toml
	@$(STEP) venv "2 min" "Python environment .venv: the project and its dev tools from PyPI" \
	  bash -c 'test -x $(PY) || $(PYTHON) -m venv $(VENV); $(PIP) --upgrade pip && $(PIP) -e ".[dev]"'
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)  ## virtual environment with the project and its dev tools
	@:

broker: install  ## start the local Kafka broker (KRaft, 127.0.0.1), unless KAFKA_BOOTSTRAP_SERVERS points elsewhere
	@$(BUS) broker start

broker-stop: install
	@$(BUS) broker stop

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

schemas: install
	$(BUS) schemas check

k8s-tools:  ## kustomize (Go module proxy), kubernetes-validate and checkov (own venv), cached in .local/
	@$(STEP) k8s-tools "2-3 min" "kustomize (Go module proxy), checkov and kubernetes-validate (own venv) in .local/" \
	  bash scripts/k8s/install-tools.sh

k8s-validate: k8s-tools  ## build and validate every overlay
	.local/k8s-venv/bin/python scripts/k8s/validate.py

jaeger:  ## Jaeger v2 built from the Go module proxy into .local/bin (cached)
	@$(STEP) jaeger "6 min on 2 cores" "Jaeger v2 built from the Go module proxy into .local/bin" \
	  bash scripts/jaeger/install.sh

promtool:  ## promtool built from the Go module proxy into .local/bin (cached): `promtool test rules` on the alerts
	@$(STEP) promtool "about 20 min on 2 cores" "promtool built from the Go module proxy into .local/bin" \
	  bash scripts/promtool/install.sh

kafka-jars:  ## the local Kafka broker's jars from Maven Central (cached in ~/.m2)
	@$(STEP) kafka-jars "1 min" "Apache Kafka broker jars from Maven Central into deploy/local/target/lib" \
	  bash scripts/setup/kafka-jars.sh

registry-build:  ## the local schema registry (Apicurio) built from Maven Central (cached in ~/.m2)
	@$(STEP) registry-build "2 min" "schema registry (Apicurio) built from Maven Central into deploy/local/target/registry" \
	  bash scripts/setup/registry-build.sh

chromium:  ## headless Chromium for the dashboard test (Debian package), unless already installed
	@$(STEP) chromium "1 min" "headless Chromium (Debian package chromium) for the dashboard test, unless installed" \
	  bash -c 'command -v chromium >/dev/null || apt-get install -y chromium || (apt-get update && apt-get install -y chromium)'

setup-run:  ## the slow set-up steps of `make run`, in parallel
	@$(MAKE) --no-print-directory -j3 install kafka-jars jaeger

setup-test:  ## the slow set-up steps of `make test`, in parallel
	@$(MAKE) --no-print-directory -j7 install kafka-jars jaeger promtool chromium k8s-tools registry-build

# pytest processes of `make test` (pytest-xdist; each test file stays in one process, so its module fixtures
# start once): most broker tests wait on workers and the broker, not on the CPU (a serial run: 7.5 CPU-minutes
# in 22 minutes), so 2 processes fit 2 cores with room for the time-window tests. PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= 2

test: setup-test  ## ruff, mypy, schema check (in parallel), every test against the real broker
	@$(MAKE) --no-print-directory -j3 --output-sync=target lint typecheck schemas
	@# the broker (and a schema registry a test starts) are stopped afterwards only if they were not running before
	$(PY) -m referral_devstack.lifecycle -- $(PY) -m pytest -q -p no:cacheprovider \
	  -n $(PYTEST_WORKERS) --dist loadfile --durations=25 $(PYTEST_ARGS)

run: setup-run  ## broker, four workers, local agencies, sample reports, delivery table, weekly statistics; stays up until Ctrl-C
	@$(PY) -m referral_devstack.demo

bench: install broker  ## benchmarks → bench/results/
	$(PY) -m bench.run

faults: install broker  ## fault-injection suite: every scenario, >= 5,000 reports each (FAULTS_N / FAULTS_BACKLOG_N to change)
	FAULTS_FULL=1 $(PY) -m pytest -q -p no:cacheprovider -m faults tests/faults

clean:
	rm -rf .local/stacks .local/faust
