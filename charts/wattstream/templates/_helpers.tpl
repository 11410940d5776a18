{{/*
Chart name, truncated to the 63-character DNS label limit.
*/}}
{{- define "wattstream.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: release-chart unless the release name already holds the chart name.
At most 38 characters, so "<fullname>-hdfs-datanode" stays within the 52 of a StatefulSet name
(its pods' controller-revision-hash label appends 11 more, and label values hold 63). A longer
name fails instead of being cut: a cut name may collide with another release's.
*/}}
{{- define "wattstream.fullname" -}}
{{- $max := 38 }}
{{- if .Values.fullnameOverride }}
{{- $full := .Values.fullnameOverride }}
{{- if gt (len $full) $max }}
{{- fail (printf "fullnameOverride: %q has %d characters; at most %d fit Kubernetes' name limits once suffixes such as -hdfs-datanode are added" $full (len $full) $max) }}
{{- end }}
{{- $full }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- $full := ternary .Release.Name (printf "%s-%s" .Release.Name $name) (contains $name .Release.Name) }}
{{- if gt (len $full) $max }}
{{- fail (printf "release name %q makes the name prefix %q (%d characters); at most %d fit Kubernetes' name limits once suffixes such as -hdfs-datanode are added: use a shorter release name or set fullnameOverride" .Release.Name $full (len $full) $max) }}
{{- end }}
{{- $full }}
{{- end }}
{{- end }}

{{/*
Chart name and version, for the helm.sh/chart label.
*/}}
{{- define "wattstream.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object. Never used as a selector (helm.sh/chart changes on upgrade).
*/}}
{{- define "wattstream.labels" -}}
helm.sh/chart: {{ include "wattstream.chart" . }}
{{ include "wattstream.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wattstream
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Selector labels: stable across upgrades.
*/}}
{{- define "wattstream.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wattstream.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels of one component: call with (dict "root" $ "component" "generator").
*/}}
{{- define "wattstream.componentLabels" -}}
{{ include "wattstream.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Selector labels of one component: call with (dict "root" $ "component" "generator").
*/}}
{{- define "wattstream.componentSelectorLabels" -}}
{{ include "wattstream.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
An image reference "repository:tag"; refuses the floating "latest" tag (kind-loaded images
tagged latest get pull policy Always and fail with ErrImagePull).
*/}}
{{- define "wattstream.image" -}}
{{- $tag := default .root.Chart.AppVersion .image.tag -}}
{{- if eq $tag "latest" -}}
{{- fail (printf "%s.tag: 'latest' is not allowed; pin a version" .path) -}}
{{- end -}}
{{- printf "%s:%s" .image.repository $tag -}}
{{- end }}

{{/*
Name of the ConfigMap holding wattstream.yaml.
*/}}
{{- define "wattstream.config.name" -}}
{{- printf "%s-config" (include "wattstream.fullname" .) }}
{{- end }}

{{/*
Where the config file is mounted in every wattstream container.
*/}}
{{- define "wattstream.config.dir" -}}
/etc/wattstream
{{- end }}

{{/*
Strimzi Kafka cluster name (Strimzi appends up to 16 characters: <name>-kafka-bootstrap,
<name>-entity-operator, <name>-cluster-ca-cert; the schema caps kafka.clusterName at 47).
*/}}
{{- define "wattstream.kafka.clusterName" -}}
{{- default (printf "%s-kafka" (include "wattstream.fullname" .)) .Values.kafka.clusterName }}
{{- end }}

{{/*
The port of the release's only Kafka client listener: 9093 (TLS + SCRAM) with kafka.tls, else 9092.
*/}}
{{- define "wattstream.kafka.port" -}}
{{- ternary 9093 9092 (.Values.kafka.tls.enabled | default false) -}}
{{- end }}

{{/*
Bootstrap servers the apps use: the Strimzi listener when the chart runs Kafka,
else config.kafka.bootstrap_servers as given.
*/}}
{{- define "wattstream.kafka.bootstrapServers" -}}
{{- if .Values.kafka.enabled -}}
{{- printf "%s-kafka-bootstrap.%s.svc.%s:%s" (include "wattstream.kafka.clusterName" .) .Release.Namespace .Values.clusterDomain (include "wattstream.kafka.port" .) -}}
{{- else -}}
{{- .Values.config.kafka.bootstrap_servers -}}
{{- end -}}
{{- end }}

{{/*
HDFS resource names and the NameNode URI (stable pod DNS through the headless Service).
*/}}
{{- define "wattstream.hdfs.namenode" -}}
{{- printf "%s-hdfs-namenode" (include "wattstream.fullname" .) }}
{{- end }}

{{- define "wattstream.hdfs.datanode" -}}
{{- printf "%s-hdfs-datanode" (include "wattstream.fullname" .) }}
{{- end }}

{{- define "wattstream.hdfs.uri" -}}
{{- $nn := include "wattstream.hdfs.namenode" . -}}
{{- printf "hdfs://%s-0.%s.%s.svc.%s:%d" $nn $nn .Release.Namespace .Values.clusterDomain (int .Values.hdfs.namenode.rpcPort) -}}
{{- end }}

{{/*
Storage and checkpoint URIs: on the chart's HDFS when enabled, else config.storage as given.
*/}}
{{- define "wattstream.storage.uri" -}}
{{- if .Values.hdfs.enabled -}}
{{- printf "%s%s" (include "wattstream.hdfs.uri" .) .Values.hdfs.paths.warehouse -}}
{{- else -}}
{{- .Values.config.storage.uri -}}
{{- end -}}
{{- end }}

{{- define "wattstream.storage.checkpointUri" -}}
{{- if .Values.hdfs.enabled -}}
{{- printf "%s%s" (include "wattstream.hdfs.uri" .) .Values.hdfs.paths.checkpoints -}}
{{- else -}}
{{- .Values.config.storage.checkpoint_uri -}}
{{- end -}}
{{- end }}

{{/*
Spark job resource names.
*/}}
{{- define "wattstream.job.name" -}}
{{- printf "%s-job" (include "wattstream.fullname" .) }}
{{- end }}

{{- define "wattstream.job.serviceAccountName" -}}
{{- if .Values.job.serviceAccount.create }}
{{- default (printf "%s-spark" (include "wattstream.fullname" .)) .Values.job.serviceAccount.name }}
{{- else }}
{{- required "job.serviceAccount.name: required when job.serviceAccount.create is false" .Values.job.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "wattstream.generator.name" -}}
{{- printf "%s-generator" (include "wattstream.fullname" .) }}
{{- end }}

{{/*
Labels that make kube-prometheus-stack select a monitoring object (its `release` label).
*/}}
{{- define "wattstream.monitoring.labels" -}}
{{- with .Values.monitoring.release }}
release: {{ . }}
{{- end }}
{{- with .Values.monitoring.labels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
True when monitoring objects render: enabled and the prometheus-operator API is present.
*/}}
{{- define "wattstream.monitoring.enabled" -}}
{{- if and .Values.monitoring.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}
true
{{- end -}}
{{- end }}

{{/*
The restricted container security context shared by the chart's own containers.
*/}}
{{- define "wattstream.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
Egress rule allowing DNS lookups (any resolver, port 53).
*/}}
{{- define "wattstream.networkPolicy.dnsEgress" -}}
- ports:
    - protocol: UDP
      port: 53
    - protocol: TCP
      port: 53
{{- end }}

{{/*
Egress rule to the Kafka brokers: the release's listener on the Strimzi pods when the chart runs
Kafka, else 9092 and 9093 on any host.
*/}}
{{- define "wattstream.networkPolicy.kafkaEgress" -}}
- ports:
    {{- if .Values.kafka.enabled }}
    - protocol: TCP
      port: {{ include "wattstream.kafka.port" . }}
  to:
    - podSelector:
        matchLabels:
          strimzi.io/cluster: {{ include "wattstream.kafka.clusterName" . }}
    {{- else }}
    - protocol: TCP
      port: 9092
    - protocol: TCP
      port: 9093
    {{- end }}
{{- end }}

{{/*
Ingress rule for TCP ports from the given peers, or from any source when there are none: call
with (dict "ports" (list 9108 4040) "from" .Values.networkPolicy.metricsFrom).
*/}}
{{- define "wattstream.networkPolicy.ingress" -}}
- ports:
    {{- range .ports }}
    - protocol: TCP
      port: {{ . }}
    {{- end }}
  {{- with .from }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/*
True when the apps talk to the release's Kafka over its TLS + SCRAM-SHA-512 listener.
*/}}
{{- define "wattstream.kafka.scram" -}}
{{- if and .Values.kafka.enabled .Values.kafka.tls.enabled }}true{{ end -}}
{{- end }}

{{/*
Where the KafkaUser's password and the cluster CA are mounted in the apps' pods.
*/}}
{{- define "wattstream.kafka.userDir" -}}
/etc/wattstream/kafka-user
{{- end }}
{{- define "wattstream.kafka.caDir" -}}
/etc/wattstream/kafka-ca
{{- end }}

{{/*
Volumes of the KafkaUser Secret (Strimzi writes its `password`) and the cluster CA certificate.
*/}}
{{- define "wattstream.kafka.scramVolumes" -}}
{{- if include "wattstream.kafka.scram" . }}
- name: kafka-user
  secret:
    secretName: {{ .Values.kafka.tls.user }}
    items:
      - key: password
        path: password
- name: kafka-ca
  secret:
    secretName: {{ include "wattstream.kafka.clusterName" . }}-cluster-ca-cert
    items:
      - key: ca.crt
        path: ca.crt
{{- end }}
{{- end }}

{{- define "wattstream.kafka.scramVolumeMounts" -}}
{{- if include "wattstream.kafka.scram" . }}
- name: kafka-user
  mountPath: {{ include "wattstream.kafka.userDir" . }}
  readOnly: true
- name: kafka-ca
  mountPath: {{ include "wattstream.kafka.caDir" . }}
  readOnly: true
{{- end }}
{{- end }}
