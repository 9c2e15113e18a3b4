{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "hama-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name alone when it already names the chart (it contains the
chart's name, or is the chart name's first word: hama for hama-operator), so that
`helm install hama` gives hama-api rather than hama-hama-operator-api.
*/}}
{{- define "hama-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if or (contains $name .Release.Name) (hasPrefix (printf "%s-" .Release.Name) $name) }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Namespace of every namespaced object. */}}
{{- define "hama-operator.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hama-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "hama-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "hama-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hama-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "hama-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hama-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The manager's image: by digest when one is set, else by tag (the appVersion by default). */}}
{{- define "hama-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* Redis addresses: the bundled one when deployed, else the configured ones. */}}
{{- define "hama-operator.redisAddrs" -}}
{{- if .Values.redis.deploy }}
{{- printf "%s-redis:6379" (include "hama-operator.fullname" .) }}
{{- else }}
{{- join "," .Values.redis.addrs }}
{{- end }}
{{- end }}

{{/* "true" when the ServiceMonitor is rendered: enabled, and its CRD is served (or the check skipped). */}}
{{- define "hama-operator.serviceMonitor.enabled" -}}
{{- $sm := .Values.serviceMonitor }}
{{- if and $sm.enabled (or $sm.skipCRDCheck (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor")) }}true{{ end }}
{{- end }}

{{/* "true" when the PrometheusRule is rendered, on the same terms. */}}
{{- define "hama-operator.prometheusRule.enabled" -}}
{{- $pr := .Values.prometheusRule }}
{{- if and $pr.enabled (or $pr.skipCRDCheck (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/PrometheusRule")) }}true{{ end }}
{{- end }}

{{- define "hama-operator.serviceMonitor.namespace" -}}
{{- default (include "hama-operator.namespace" .) .Values.serviceMonitor.namespace }}
{{- end }}

{{/* The ServiceAccount whose token the ServiceMonitor sends when metrics are secure. */}}
{{- define "hama-operator.metricsScraperName" -}}
{{- default (printf "%s-metrics-scraper" (include "hama-operator.fullname" .)) .Values.serviceMonitor.prometheusServiceAccount }}
{{- end }}
