{{/*
Pod-level settings shared by the NameNode and DataNodes: non-root hadoop user, config and
scratch volumes, no API token.
*/}}
{{- define "wattstream.hdfs.podSpecCommon" -}}
automountServiceAccountToken: false
enableServiceLinks: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: {{ .Values.hdfs.runAsUser }}
  runAsGroup: {{ .Values.hdfs.runAsUser }}
  fsGroup: {{ .Values.hdfs.runAsUser }}
  seccompProfile:
    type: RuntimeDefault
volumes:
  - name: config
    configMap:
      name: {{ include "wattstream.fullname" . }}-hdfs
  - name: tmp
    emptyDir: {}
{{- end }}

{{/*
Container settings shared by the HDFS containers: call with (dict "root" $ "resources" ...).
*/}}
{{- define "wattstream.hdfs.containerCommon" -}}
env:
  - name: HADOOP_LOG_DIR
    value: /tmp/logs
  - name: HADOOP_HEAPSIZE_MAX
    value: 512m
resources:
  {{- toYaml .resources | nindent 2 }}
securityContext:
  {{- include "wattstream.containerSecurityContext" .root | nindent 2 }}
volumeMounts:
  - name: data
    mountPath: /data
  - name: tmp
    mountPath: /tmp
  - name: config
    mountPath: /opt/hadoop/etc/hadoop/core-site.xml
    subPath: core-site.xml
  - name: config
    mountPath: /opt/hadoop/etc/hadoop/hdfs-site.xml
    subPath: hdfs-site.xml
{{- end }}
