# referral-bus: the two commands (`make run`, `make test`) do all the set-up on a fresh clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUS := $(VENV)/bin/referral-bus
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install broker broker-stop lint typecheck schemas k8s-tools k8s-validate jaeger promtool chromium test run bench faults clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install -q --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install -q --disable-pip-version-check -e ".[dev]"
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)  ## virtual environment with the project and its dev tools

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
	@bash scripts/k8s/install-tools.sh

k8s-validate: k8s-tools  ## build and validate every overlay
	.local/k8s-venv/bin/python scripts/k8s/validate.py

jaeger:  ## Jaeger v2 built from the Go module proxy into .local/bin (cached)
	@bash scripts/jaeger/install.sh

promtool:  ## promtool built from the Go module proxy into .local/bin (cached): `promtool test rules` on the alerts
	@bash scripts/promtool/install.sh

chromium:  ## headless Chromium for the dashboard test (Debian package), unless already installed
	@command -v chromium >/dev/null || apt-get install -y chromium || (apt-get update && apt-get install -y chromium)

test: install broker lint typecheck schemas k8s-tools jaeger promtool chromium  ## ruff, mypy, schema check, every test against the real broker
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

run: install  ## broker, four workers, local agencies, sample reports, delivery table, weekly statistics
	$(PY) -m referral_devstack.demo

bench: install broker  ## benchmarks → bench/results/
	$(PY) -m bench.run

faults: install broker  ## fault-injection suite: every scenario, >= 5,000 reports each (FAULTS_N / FAULTS_BACKLOG_N to change)
	FAULTS_FULL=1 $(PY) -m pytest -q -p no:cacheprovider -m faults tests/faults

clean:
	rm -rf .local/stacks .local/faust
