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
prometheus: ## Prometheus, promtool, Alertmanager and amtool (Debian packages)
	@if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null \
	    || ! command -v prometheus-alertmanager >/dev/null || ! command -v amtool >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus prometheus-alertmanager >/dev/null; \
	  else \
	    echo "Prometheus or Alertmanager is missing: run 'sudo apt-get install prometheus prometheus-alertmanager' (or put prometheus, promtool, prometheus-alertmanager and amtool on PATH)"; exit 1; \
	  fi; \
	fi

.PHONY: chromium
chromium: ## Chromium for the report's browser test (Debian package; Playwright drives it)
	@if ! command -v chromium >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else \
	    echo "Chromium is missing: run 'sudo apt-get install chromium' (the report's browser test opens the page in it)"; exit 1; \
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

.PHONY: report
report: deps ## The energy report of what `make run` stored: .run/report.html (open it in a browser)
	@mkdir -p .run
	$(WS) generate buildings --demo --output .run/buildings.csv
	$(WS) report --buildings .run/buildings.csv --output .run/report.html

##@ Quality

.PHONY: lint
lint: venv ## ruff
	$(VENV)/bin/ruff check .

.PHONY: test
test: deps chromium k8s-tools controlplane-tools lint ## Install what is missing, then run every test against real services
	$(VENV)/bin/pytest

.PHONY: unit
unit: venv jars k8s-tools lint ## The tests that need no service (no broker, HDFS, Prometheus, control plane): a quick run
	$(VENV)/bin/pytest -m "not integration"

.PHONY: bench
bench: deps ## Run the benchmarks in bench/ (tables printed, JSON in bench/results/)
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b; done

.PHONY: clean
clean: down ## Remove the run folder (data, logs); keeps the installs
	rm -rf .run

##@ Kubernetes (chart tools build with `go install` into tools/; cluster targets need Docker)

HELM_VERSION           ?= v3.22.0
KUBECONFORM_VERSION    ?= v0.7.0
KUBE_SCORE_VERSION     ?= v1.20.0
KIND_VERSION           ?= v0.33.0
CHECKOV_VERSION        ?= 3.3.30
STRIMZI_VERSION        ?= 1.2.0
SPARK_OPERATOR_VERSION ?= 2.5.2
# kube-prometheus-stack 90.x ships prometheus-operator 0.93 (the CRDs the chart is tested against).
KPS_VERSION            ?= 90.2.0
PROMETHEUS_OPERATOR_VERSION ?= v0.93.0
K8S_MINOR              ?= 33
KIND_CLUSTER           ?= wattstream
K8S_NAMESPACE          ?= wattstream
K8S_RELEASE            ?= ws
IMAGE_TAG              ?= 0.1.0-kind

HELM        := $(TOOLS)/helm-$(HELM_VERSION)
KUBECONFORM := $(TOOLS)/kubeconform-$(KUBECONFORM_VERSION)
KUBE_SCORE  := $(TOOLS)/kube-score-$(KUBE_SCORE_VERSION)
KIND        := $(TOOLS)/kind-$(KIND_VERSION)
CHECKOV     := $(TOOLS)/checkov-venv/.installed-$(CHECKOV_VERSION)
# kind-up writes its own kubeconfig: a user's ~/.kube/config and context are never touched.
KIND_KUBECONFIG := $(abspath .run/kind-$(KIND_CLUSTER).kubeconfig)
KHELM   := $(HELM) --kubeconfig $(KIND_KUBECONFIG)
KUBECTL := kubectl --kubeconfig $(KIND_KUBECONFIG)

# go install <module>/<cmd>@<version> into tools/<name>-<version> (Go module proxy only).
define go-install
	@command -v go >/dev/null || { echo "Go is missing: install Go >= 1.24 (https://go.dev/doc/install or apt-get install golang)"; exit 1; }
	@mkdir -p $(TOOLS)/.gobin-$(notdir $@)
	GOBIN=$(abspath $(TOOLS))/.gobin-$(notdir $@) GOFLAGS=-buildvcs=false go install $(3) $(1)@$(2)
	@mv $(TOOLS)/.gobin-$(notdir $@)/$(notdir $(1)) $@ && rm -rf $(TOOLS)/.gobin-$(notdir $@)
endef

.PHONY: k8s-tools
k8s-tools: venv $(HELM) $(KUBECONFORM) $(KUBE_SCORE) $(CHECKOV) ## helm, kubeconform, kube-score, checkov into tools/ (hadolint: test extra)

$(HELM):
	$(call go-install,helm.sh/helm/v3/cmd/helm,$(HELM_VERSION),-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$(K8S_MINOR) -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$(K8S_MINOR)")

$(KUBECONFORM):
	$(call go-install,github.com/yannh/kubeconform/cmd/kubeconform,$(KUBECONFORM_VERSION),-ldflags "-s -w")

$(KUBE_SCORE):
	$(call go-install,github.com/zegl/kube-score/cmd/kube-score,$(KUBE_SCORE_VERSION),-ldflags "-s -w")

$(KIND):
	$(call go-install,sigs.k8s.io/kind,$(KIND_VERSION),-ldflags "-s -w")

# checkov gets its own venv: its dependency pins conflict with the test tools' (packaging).
$(CHECKOV):
	rm -rf $(TOOLS)/checkov-venv
	$(PYTHON) -m venv $(TOOLS)/checkov-venv
	$(TOOLS)/checkov-venv/bin/pip install -q --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

##@ Loopback control plane (real API server, scheduler, controllers, spark-operator; fake kubelets)

K8S_VERSION    ?= v1.35.4
ETCD_VERSION   ?= v3.6.16
KWOK_VERSION   ?= v0.8.0
CP_DIR         := k8s-tests/controlplane
CP_BIN         := $(TOOLS)/controlplane
KUBE_BINS      := kube-apiserver kube-controller-manager kube-scheduler kubectl
CP_KUBECONFIG  := $(abspath .run/controlplane/kubeconfig)
# Release stamps: unstamped builds report v0.0.0-master, which kubectl and the chart's kubeVersion reject.
KUBE_LDFLAGS := -s -w $(foreach p,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
  -X $(p).gitVersion=$(K8S_VERSION) -X $(p).gitMajor=1 -X $(p).gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION))) \
  -X $(p).gitTreeState=clean -X $(p).buildDate=1970-01-01T00:00:00Z)

# Built binaries are also kept in CP_CACHE, keyed by name, version and go.sum, so a fresh clone
# on the same machine copies them instead of relinking ~500 MB of Go.
CP_CACHE ?= $(HOME)/.cache/wattstream/controlplane

# go build <pkg> inside one of $(CP_DIR)'s pinned modules into tools/controlplane/<name>-<version>.
define go-build
	@command -v go >/dev/null || { echo "Go is missing: install Go >= 1.24 (https://go.dev/doc/install or apt-get install golang)"; exit 1; }
	@mkdir -p $(CP_BIN) $(CP_CACHE)
	@key=$(CP_CACHE)/$(3)-$$(sha256sum $(CP_DIR)/$(1)/go.sum | cut -c1-12); \
	if [ -x "$$key" ]; then cp "$$key" $(CP_BIN)/$(3) && echo "$(3): cached in $(CP_CACHE)"; \
	else echo "building $(3) (cold: minutes)"; \
	  (cd $(CP_DIR)/$(1) && GOFLAGS=-buildvcs=false go build -trimpath -ldflags "$(4)" \
	    -o $(abspath $(CP_BIN))/.$(3).tmp $(2)) && mv $(CP_BIN)/.$(3).tmp $(CP_BIN)/$(3) \
	  && cp $(CP_BIN)/$(3) "$$key.tmp" && mv "$$key.tmp" "$$key"; fi
endef

CP_TOOLS := $(foreach b,$(KUBE_BINS),$(CP_BIN)/$(b)-$(K8S_VERSION)) \
  $(CP_BIN)/etcd-$(ETCD_VERSION) $(CP_BIN)/kwok-$(KWOK_VERSION) $(CP_BIN)/kwok-stages-$(KWOK_VERSION).yaml \
  $(CP_BIN)/spark-operator-v$(SPARK_OPERATOR_VERSION)

.PHONY: controlplane-tools
controlplane-tools: $(CP_TOOLS) ## Build etcd, Kubernetes, kwok and the spark-operator from the Go module proxy (cached by version)

$(CP_BIN)/kube-%-$(K8S_VERSION): $(CP_DIR)/kubernetes/go.mod
	$(call go-build,kubernetes,k8s.io/kubernetes/cmd/kube-$*,kube-$*-$(K8S_VERSION),$(KUBE_LDFLAGS))

$(CP_BIN)/kubectl-$(K8S_VERSION): $(CP_DIR)/kubernetes/go.mod
	$(call go-build,kubernetes,k8s.io/kubernetes/cmd/kubectl,kubectl-$(K8S_VERSION),$(KUBE_LDFLAGS))

$(CP_BIN)/etcd-$(ETCD_VERSION): $(CP_DIR)/etcd/go.mod
	$(call go-build,etcd,go.etcd.io/etcd/server/v3,etcd-$(ETCD_VERSION),-s -w)

# kwok does nothing without stages: keep the ones its module ships (nodes Ready with heartbeats,
# pods Running) next to the binary.
$(CP_BIN)/kwok-$(KWOK_VERSION): $(CP_DIR)/kwok/go.mod
	$(call go-build,kwok,sigs.k8s.io/kwok/cmd/kwok,kwok-$(KWOK_VERSION),-s -w)

$(CP_BIN)/kwok-stages-$(KWOK_VERSION).yaml: $(CP_DIR)/kwok/go.mod
	@mkdir -p $(CP_BIN)
	@d=$$(cd $(CP_DIR)/kwok && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage; \
	  for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready \
	    pod/fast/pod-complete pod/fast/pod-delete; do echo "---"; cat $$d/$$f.yaml; done \
	  > $(CP_BIN)/kwok-stages-$(KWOK_VERSION).yaml

$(CP_BIN)/spark-operator-v$(SPARK_OPERATOR_VERSION): $(CP_DIR)/spark-operator/go.mod
	$(call go-build,spark-operator,github.com/kubeflow/spark-operator/v2/cmd/operator,spark-operator-v$(SPARK_OPERATOR_VERSION),-s -w)

.PHONY: cluster-local
cluster-local: venv $(HELM) $(CP_TOOLS) ## Start the loopback control plane (kubeconfig in .run/controlplane/)
	$(PY) k8s-tests/loopback.py up

.PHONY: cluster-local-down
cluster-local-down: ## Stop the loopback control plane (by pid)
	@if [ -x $(PY) ]; then $(PY) k8s-tests/loopback.py down; fi

.PHONY: chart-docs
chart-docs: venv ## Regenerate the chart's generated files: config schema and comments, values table, alert types
	$(PY) charts/wattstream/gen_config.py
	$(PY) charts/wattstream/gen_values_doc.py
	$(PY) charts/wattstream/gen_alert_types.py

.PHONY: chart-test
chart-test: venv k8s-tools ## Lint, render, validate and security-check the chart; promtool rule tests
	$(VENV)/bin/pytest tests/charts

.PHONY: docker-check
docker-check:
	@command -v docker >/dev/null && docker info >/dev/null 2>&1 || { echo "a running Docker engine is needed for kind (none here)"; exit 1; }
	@command -v kubectl >/dev/null || { echo "kubectl is missing: https://kubernetes.io/docs/tasks/tools/"; exit 1; }

.PHONY: images
images: docker-check jars ## Build the generator and job images (tag $(IMAGE_TAG))
	docker build -f images/generator/Dockerfile -t wattstream/generator:$(IMAGE_TAG) .
	docker build -f images/job/Dockerfile -t wattstream/job:$(IMAGE_TAG) .

.PHONY: kind-up
kind-up: docker-check $(KIND) $(HELM) images ## kind cluster + Strimzi, spark-operator, kube-prometheus-stack; load the images
	@mkdir -p $(dir $(KIND_KUBECONFIG))
	@$(KIND) get clusters | grep -qx $(KIND_CLUSTER) || \
	  $(KIND) create cluster --name $(KIND_CLUSTER) --config kind-config.yaml --kubeconfig $(KIND_KUBECONFIG) --wait 120s
	$(KIND) export kubeconfig --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG)
	$(KUBECTL) create namespace $(K8S_NAMESPACE) --dry-run=client -o yaml | $(KUBECTL) apply -f -
	$(KHELM) upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
	  --version $(STRIMZI_VERSION) -n strimzi --create-namespace \
	  --set "watchNamespaces={$(K8S_NAMESPACE)}" --wait --timeout 10m
	$(KHELM) upgrade --install spark-operator spark-operator --repo https://kubeflow.github.io/spark-operator \
	  --version $(SPARK_OPERATOR_VERSION) -n spark-operator --create-namespace \
	  --set "spark.jobNamespaces={$(K8S_NAMESPACE)}" --set webhook.enable=true --wait --timeout 10m
	$(KHELM) upgrade --install kube-prometheus-stack kube-prometheus-stack \
	  --repo https://prometheus-community.github.io/helm-charts --version $(KPS_VERSION) \
	  -n monitoring --create-namespace \
	  --set prometheus.service.type=NodePort --set prometheus.service.nodePort=30090 \
	  --set grafana.service.type=NodePort --set grafana.service.nodePort=30300 \
	  --set grafana.sidecar.dashboards.enabled=true --set grafana.sidecar.dashboards.searchNamespace=ALL \
	  --set grafana.sidecar.dashboards.folderAnnotation=grafana_folder \
	  --set grafana.sidecar.dashboards.provider.foldersFromFilesStructure=true \
	  --set prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=true --wait --timeout 15m
	$(KIND) load docker-image wattstream/generator:$(IMAGE_TAG) wattstream/job:$(IMAGE_TAG) --name $(KIND_CLUSTER)
	@echo "kind cluster '$(KIND_CLUSTER)' is up: export KUBECONFIG=$(KIND_KUBECONFIG); Grafana http://localhost:3000, Prometheus http://localhost:9091"

.PHONY: deploy
deploy: $(HELM) ## helm upgrade --install the chart on the kind cluster (values-kind.yaml)
	@test -f $(KIND_KUBECONFIG) || { echo "no kind cluster: run make kind-up first"; exit 1; }
	$(KHELM) upgrade --install $(K8S_RELEASE) charts/wattstream -n $(K8S_NAMESPACE) --create-namespace \
	  -f charts/wattstream/values-kind.yaml \
	  --set generator.image.tag=$(IMAGE_TAG) --set job.image.tag=$(IMAGE_TAG)
	$(KUBECTL) -n $(K8S_NAMESPACE) wait kafka/$(K8S_RELEASE)-wattstream-kafka --for=condition=Ready --timeout=15m

.PHONY: k8s-test
k8s-test: venv ## Tests against the deployed kind cluster (k8s-tests/; skipped without a cluster)
	KUBECONFIG=$(KIND_KUBECONFIG) KIND_CLUSTER=$(KIND_CLUSTER) WATTSTREAM_NAMESPACE=$(K8S_NAMESPACE) \
	  WATTSTREAM_RELEASE=$(K8S_RELEASE) $(VENV)/bin/pytest k8s-tests/kind -v

.PHONY: kind-down
kind-down: ## Delete the kind cluster and its kubeconfig
	@if [ -x $(KIND) ]; then $(KIND) delete cluster --name $(KIND_CLUSTER) --kubeconfig $(KIND_KUBECONFIG); fi
	rm -f $(KIND_KUBECONFIG)
