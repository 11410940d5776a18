{{/*
Pod templates of the Spark driver and executors. spark-submit applies them itself
(spark.kubernetes.{driver,executor}.podTemplateFile), so the config mount, env, ports and
security contexts do not depend on the spark-operator's mutating webhook: with a template the
operator does not even ask the webhook to mutate the pod.
Call with (dict "root" $ "container" "spark-kubernetes-driver" "ports" (list ...)
"livenessProbe" (dict ...)); the streaming job's driver alone passes a probe (its /healthz).
*/}}
{{- define "wattstream.job.podTemplate" -}}
{{- $root := .root -}}
metadata:
  labels:
    {{- include "wattstream.componentSelectorLabels" (dict "root" $root "component" "job") | nindent 4 }}
spec:
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ $root.Values.job.runAsUser }}
    runAsGroup: {{ $root.Values.job.runAsUser }}
    fsGroup: {{ $root.Values.job.runAsUser }}
    seccompProfile:
      type: RuntimeDefault
  containers:
    # Spark fills in image, command, resources and its own env, ports and volumes.
    - name: {{ .container }}
      env:
        - name: WATTSTREAM_CONFIG
          value: {{ include "wattstream.config.dir" $root }}/wattstream.yaml
      {{- with .ports }}
      ports:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .livenessProbe }}
      livenessProbe:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: {{ include "wattstream.config.dir" $root }}
          readOnly: true
        - name: tmp
          mountPath: /tmp
        {{- with include "wattstream.kafka.scramVolumeMounts" $root | trim }}
        {{- . | nindent 8 }}
        {{- end }}
      securityContext:
        allowPrivilegeEscalation: false
        runAsNonRoot: true
        capabilities:
          drop: ["ALL"]
        seccompProfile:
          type: RuntimeDefault
  volumes:
    - name: config
      configMap:
        name: {{ include "wattstream.config.name" $root }}
    - name: tmp
      emptyDir: {}
    {{- with include "wattstream.kafka.scramVolumes" $root | trim }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end }}

{{/*
HDFS client settings the job writes with, the same the chart's HDFS runs with (spark.hadoop.*):
without them Spark writes 3 replicas and replaces failed DataNodes that a small cluster lacks.
*/}}
{{- define "wattstream.job.hadoopConf" -}}
{{- if .Values.hdfs.enabled }}
dfs.replication: {{ .Values.hdfs.replication | toString | quote }}
dfs.client.block.write.replace-datanode-on-failure.policy: {{ ternary "NEVER" "DEFAULT" (lt (int .Values.hdfs.datanode.replicas) 3) | quote }}
{{- end }}
{{- end }}

{{/*
A CPU quantity ("500m", "1", "1.5") in millicores.
*/}}
{{- define "wattstream.millicores" -}}
{{- $q := toString . -}}
{{- if hasSuffix "m" $q -}}{{ trimSuffix "m" $q | int }}{{- else -}}{{ mulf (float64 $q) 1000 | int }}{{- end -}}
{{- end }}
