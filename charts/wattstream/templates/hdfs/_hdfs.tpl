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

{{/*
A StatefulSet's volumeClaimTemplates cannot change once installed: compare with the live object
(Helm's lookup; empty under `helm template`) and fail naming the value instead of letting the API
server refuse the whole upgrade. Call with (dict "root" $ "name" <StatefulSet> "path" "hdfs.datanode").
*/}}
{{- define "wattstream.hdfs.claimsUnchanged" -}}
{{- $live := lookup "apps/v1" "StatefulSet" .root.Release.Namespace .name -}}
{{- if $live -}}
{{- $values := index .root.Values.hdfs (last (splitList "." .path)) -}}
{{- range $live.spec.volumeClaimTemplates -}}
{{- $size := .spec.resources.requests.storage -}}
{{- if ne (toString $size) (toString $values.storageSize) -}}
{{- fail (printf "%s.storageSize: the installed release has %s, and a StatefulSet's volume claims cannot change in an upgrade; keep %s (or delete the StatefulSet with --cascade=orphan and resize its claims first)" $.path $size $size) -}}
{{- end -}}
{{- if ne (toString (.spec.storageClassName | default "")) (toString ($values.storageClass | default "")) -}}
{{- fail (printf "%s.storageClass: the installed release uses %q, and a StatefulSet's volume claims cannot change in an upgrade" $.path (.spec.storageClassName | default "")) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end }}
