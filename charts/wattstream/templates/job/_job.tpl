{{/*
Settings shared by the Spark driver and executors: config mount, env, non-root contexts.
*/}}
{{- define "wattstream.job.podCommon" -}}
env:
  - name: WATTSTREAM_CONFIG
    value: {{ include "wattstream.config.dir" . }}/wattstream.yaml
volumeMounts:
  - name: config
    mountPath: {{ include "wattstream.config.dir" . }}
    readOnly: true
  - name: tmp
    mountPath: /tmp
  {{- include "wattstream.kafka.scramVolumeMounts" . | nindent 2 }}
podSecurityContext:
  runAsNonRoot: true
  runAsUser: {{ .Values.job.runAsUser }}
  runAsGroup: {{ .Values.job.runAsUser }}
  fsGroup: {{ .Values.job.runAsUser }}
  seccompProfile:
    type: RuntimeDefault
securityContext:
  allowPrivilegeEscalation: false
  runAsNonRoot: true
  capabilities:
    drop: ["ALL"]
  seccompProfile:
    type: RuntimeDefault
{{- end }}
