# wattstream — `make run` starts the embedded stack, `make test` installs everything and tests it.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
WS     := $(VENV)/bin/wattstream
JARS   := .cache/jars
TOOLS  := tools
JAR_PROFILES := kafka spark-kafka hdfs

##@ General

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make \033[36m<target>\033[0m\n"} \
	  /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } \
	  /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Set-up (each target installs once into the repo and is a no-op afterwards)

.PHONY: deps
deps: venv jars prometheus ## Install everything the local stack and tests need

.PHONY: venv
venv: $(VENV)/.installed ## Python virtualenv with wattstream and its test tools

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "wattstream needs Python >= 3.11 (set PYTHON=python3.11)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	@touch $@

.PHONY: java-check
java-check:
	@command -v java >/dev/null || { echo "Java 17+ is missing: apt-get install openjdk-17-jdk-headless (or set JAVA_HOME)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is missing: apt-get install maven (it fetches the Kafka, Spark-Kafka and HDFS jars once)"; exit 1; }

.PHONY: jars
jars: $(JARS)/.fetched ## Fetch the Kafka broker, Spark Kafka connector and HDFS jars (pom.xml)

$(JARS)/.fetched: pom.xml
	@$(MAKE) java-check
	@for p in $(JAR_PROFILES); do \
	  echo "fetching $$p jars"; rm -rf $(JARS)/$$p; \
	  mvn -q -B -Dstyle.color=never -P $$p dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(JARS)/$$p; \
	done
	@touch $@

.PHONY: prometheus
prometheus: ## Prometheus and promtool (Debian package)
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null; \
	  else \
	    echo "Prometheus is missing: run 'sudo apt-get install prometheus' (or put prometheus and promtool on PATH)"; exit 1; \
	  fi; \
	fi

##@ Local stack (loopback only)

.PHONY: up
up: deps ## Start Kafka (KRaft), HDFS and Prometheus
	$(WS) local up

.PHONY: down
down: ## Stop what `make up` started
	@if [ -x $(WS) ]; then $(WS) local down; fi

.PHONY: status
status: ## Show the local services
	$(WS) local status

.PHONY: run
run: deps ## Start the stack, the generator and the streaming job; live windows and alerts (Ctrl-C stops)
	$(WS) local run

##@ Quality

.PHONY: lint
lint: venv ## ruff
	$(VENV)/bin/ruff check .

.PHONY: test
test: deps lint ## Install what is missing, then run every test against real services
	$(VENV)/bin/pytest

.PHONY: bench
bench: deps ## Run the benchmarks in bench/ (tables printed, JSON in bench/results/)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b; done

.PHONY: clean
clean: down ## Remove the run folder (data, logs); keeps the installs
	rm -rf .run
