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
{{- printf "%s://%s:2379" (ternary "https" "http" .Values.etcd.bundled.tls.enabled) (include "liuma.etcd.fullname" .) }}
{{- else }}
{{- join "," .Values.etcd.endpoints }}
{{- end }}
{{- end }}

{{/* Replicas: .Values.replicas, or when it is empty 3 with etcd (a cluster) and 1 without. */}}
{{- define "liuma.replicas" -}}
{{- $r := .Values.replicas }}
{{- if kindIs "invalid" $r }}{{- $r = "" }}{{- end }}
{{- if eq (toString $r) "" }}
{{- if include "liuma.etcdEndpoints" . }}3{{ else }}1{{ end }}
{{- else }}
{{- int $r }}
{{- end }}
{{- end }}

{{/* Erasure code pinned from the replica count (DESIGN table: 2 → 1+1, 3 → 2+1,
     4-5 → 2+2, 6-11 → 4+2, 12+ → 8+4), so blocks written while a fresh
     install is still starting pods get the cluster's full redundancy. */}}
{{- define "liuma.defaultErasure" -}}
{{- $n := int (include "liuma.replicas" .) }}
{{- if ge $n 12 }}8+4{{ else if ge $n 6 }}4+2{{ else if ge $n 4 }}2+2{{ else if eq $n 3 }}2+1{{ else if eq $n 2 }}1+1{{ else }}1+0{{ end }}
{{- end }}

{{/* The files liuma reads from <data>/secrets/; every node of a cluster needs the same ones. */}}
{{- define "liuma.secretFiles" -}}
root.key system.token admin.token cluster.secret
{{- end }}

{{/* Refuse settings that would lose data with the code as it is. */}}
{{- define "liuma.validate" -}}
{{- if and .Values.etcd.bundled.enabled (gt (len .Values.etcd.endpoints) 0) }}
{{- fail "etcd.bundled.enabled and etcd.endpoints are mutually exclusive" }}
{{- end }}
{{- range .Values.etcd.endpoints }}
{{- if hasPrefix "https://" . }}
{{- if not $.Values.etcd.client.tlsSecret }}
{{- fail (printf "etcd endpoint %q is https://: set etcd.client.tlsSecret (a Secret with ca.crt, tls.crt, tls.key)" .) }}
{{- end }}
{{- else if hasPrefix "http://" . }}
{{- if $.Values.etcd.client.tlsSecret }}
{{- fail (printf "etcd endpoint %q is http:// but etcd.client.tlsSecret is set: use https://" .) }}
{{- end }}
{{- else }}
{{- fail (printf "etcd endpoint %q must be an http:// or https:// URL" .) }}
{{- end }}
{{- end }}
{{- if and .Values.etcd.client.user (not .Values.etcd.client.passwordSecret) }}
{{- fail "etcd.client.user needs etcd.client.passwordSecret (a Secret with the key password)" }}
{{- end }}
{{- if gt (int (include "liuma.replicas" .)) 1 }}
{{- if include "liuma.etcdEndpoints" . }}
{{- /* A cluster: every node needs the same secrets, or each pod generates its own
       cluster.secret and the nodes cannot talk. Checked when the Secret can be
       looked up (helm install/upgrade; `helm template` sees no cluster). */}}
{{- with .Values.secrets.existingSecret }}
{{- $s := lookup "v1" "Secret" $.Release.Namespace . }}
{{- $data := dict }}
{{- if $s }}{{- $data = $s.data | default dict }}{{- end }}
{{- if $data }}
{{- range $f := splitList " " (include "liuma.secretFiles" $) }}
{{- if not (hasKey $data $f) }}
{{- fail (printf "secrets.existingSecret %s has no key %s: with replicas > 1 every node must get the same root.key, system.token, admin.token and cluster.secret" $.Values.secrets.existingSecret $f) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- else if not .Values.allowIndependentReplicas }}
{{- fail "replicas > 1 without etcd gives independent, unrelated nodes (a cluster needs etcd: set etcd.bundled.enabled or etcd.endpoints). Use replicas: 1, or set allowIndependentReplicas: true if you address each pod on its own." }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether liuma talks TLS to etcd ("true" or ""). */}}
{{- define "liuma.etcd.tls" -}}
{{- if .Values.etcd.bundled.enabled }}
{{- if .Values.etcd.bundled.tls.enabled }}true{{ end }}
{{- else if .Values.etcd.client.tlsSecret }}true{{ end }}
{{- end }}

{{/* Secret with ca.crt, tls.crt, tls.key for liuma's etcd client. */}}
{{- define "liuma.etcd.clientTlsSecret" -}}
{{- if .Values.etcd.bundled.enabled }}
{{- printf "%s-client-tls" (include "liuma.etcd.fullname" .) }}
{{- else }}
{{- .Values.etcd.client.tlsSecret }}
{{- end }}
{{- end }}

{{/* The etcd user liuma logs in as ("" = no authentication). */}}
{{- define "liuma.etcd.user" -}}
{{- if .Values.etcd.bundled.enabled }}
{{- if .Values.etcd.bundled.auth.enabled }}liuma{{ end }}
{{- else }}
{{- .Values.etcd.client.user }}
{{- end }}
{{- end }}

{{/* Secret whose key "password" is the etcd user's password. */}}
{{- define "liuma.etcd.passwordSecret" -}}
{{- if .Values.etcd.bundled.enabled }}
{{- printf "%s-auth" (include "liuma.etcd.fullname" .) }}
{{- else }}
{{- .Values.etcd.client.passwordSecret }}
{{- end }}
{{- end }}

{{/* The env of a container that talks to etcd (the server, and init-auth). */}}
{{- define "liuma.etcdClientEnv" -}}
- name: LIUMA_ETCD
  value: {{ include "liuma.etcdEndpoints" . | quote }}
{{- with .Values.etcd.prefix }}
- name: LIUMA_ETCD_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- if include "liuma.etcd.tls" . }}
- name: LIUMA_ETCD_CA
  value: /etcd-tls/ca.crt
- name: LIUMA_ETCD_CERT
  value: /etcd-tls/tls.crt
- name: LIUMA_ETCD_KEY
  value: /etcd-tls/tls.key
{{- end }}
{{- with include "liuma.etcd.user" . }}
- name: LIUMA_ETCD_USER
  value: {{ . | quote }}
- name: LIUMA_ETCD_PASSWORD_FILE
  value: /etcd-auth/password
{{- end }}
{{- end }}

{{/* The volume mounts of a container that talks to etcd. */}}
{{- define "liuma.etcdClientMounts" -}}
{{- if include "liuma.etcd.tls" . }}
- name: etcd-tls
  mountPath: /etcd-tls
  readOnly: true
{{- end }}
{{- if include "liuma.etcd.user" . }}
- name: etcd-auth
  mountPath: /etcd-auth
  readOnly: true
{{- end }}
{{- end }}

{{/* Secret holding the public listeners' certificate ("" = plain HTTP):
     tls.existingSecret, or the one the chart's cert-manager Certificate fills. */}}
{{- define "liuma.tlsSecret" -}}
{{- if .Values.tls.existingSecret }}
{{- .Values.tls.existingSecret }}
{{- else if .Values.tls.certManager.issuerRef.name }}
{{- printf "%s-tls" (include "liuma.fullname" .) }}
{{- end }}
{{- end }}
