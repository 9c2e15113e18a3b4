{{/* Chart name, truncated to the DNS label limit. */}}
{{- define "hama-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name. */}}
{{- define "hama-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "hama-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "hama-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
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

{{/* Redis addresses: the bundled one when deployed, else the configured ones. */}}
{{- define "hama-operator.redisAddrs" -}}
{{- if .Values.redis.deploy }}
{{- printf "%s-redis:6379" (include "hama-operator.fullname" .) }}
{{- else }}
{{- join "," .Values.redis.addrs }}
{{- end }}
{{- end }}
