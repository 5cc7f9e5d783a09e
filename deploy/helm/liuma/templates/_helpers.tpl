{{/* Chart name. */}}
{{- define "liuma.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name (<= 63 chars; the headless/etcd suffixes stay DNS-valid). */}}
{{- define "liuma.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "liuma.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "liuma.labels" -}}
helm.sh/chart: {{ include "liuma.chart" . }}
{{ include "liuma.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "liuma.selectorLabels" -}}
app.kubernetes.io/name: {{ include "liuma.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{- define "liuma.etcd.labels" -}}
helm.sh/chart: {{ include "liuma.chart" . }}
{{ include "liuma.etcd.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "liuma.etcd.selectorLabels" -}}
app.kubernetes.io/name: {{ include "liuma.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: etcd
{{- end }}

{{- define "liuma.headless" -}}
{{- printf "%s-headless" (include "liuma.fullname" .) }}
{{- end }}

{{- define "liuma.etcd.fullname" -}}
{{- printf "%s-etcd" (include "liuma.fullname" .) }}
{{- end }}

{{- define "liuma.secretName" -}}
{{- default (printf "%s-secrets" (include "liuma.fullname" .)) .Values.secrets.existingSecret }}
{{- end }}

{{- define "liuma.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "liuma.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "liuma.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The etcd endpoints liuma uses, comma-separated ("" = embedded redb). */}}
{{- define "liuma.etcdEndpoints" -}}
{{- if .Values.etcd.bundled.enabled }}
{{- printf "http://%s:2379" (include "liuma.etcd.fullname" .) }}
{{- else }}
{{- join "," .Values.etcd.endpoints }}
{{- end }}
{{- end }}

{{/* Refuse settings that would lose data with the code as it is. */}}
{{- define "liuma.validate" -}}
{{- if and .Values.etcd.bundled.enabled (gt (len .Values.etcd.endpoints) 0) }}
{{- fail "etcd.bundled.enabled and etcd.endpoints are mutually exclusive" }}
{{- end }}
{{- range .Values.etcd.endpoints }}
{{- if not (hasPrefix "http://" .) }}
{{- fail (printf "etcd endpoint %q must be an http:// URL (liuma does not support TLS to etcd yet)" .) }}
{{- end }}
{{- end }}
{{- if gt (int .Values.replicas) 1 }}
{{- if include "liuma.etcdEndpoints" . }}
{{- fail "replicas > 1 with etcd is not supported yet: cluster mode (membership, placement across nodes, healing) is not implemented, so pods would share metadata but not data and lose objects. Use replicas: 1." }}
{{- end }}
{{- if not .Values.allowIndependentReplicas }}
{{- fail "replicas > 1 gives independent, unrelated nodes (cluster mode is not implemented yet). Use replicas: 1, or set allowIndependentReplicas: true if you address each pod on its own." }}
{{- end }}
{{- end }}
{{- end }}
