{{/*
Names, labels and checks shared by the templates.
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "arcane-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's resources: fullnameOverride, else the release name when it already contains the
chart name, else "<release>-<chart name>". Truncated to 52 characters so that the metrics Service
("<fullname>-metrics") stays a DNS label of at most 63 characters.
*/}}
{{- define "arcane-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "name-version" for the helm.sh/chart label. */}}
{{- define "arcane-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "arcane-operator.labels" -}}
helm.sh/chart: {{ include "arcane-operator.chart" . }}
{{ include "arcane-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: arcane
{{- end }}

{{/* Labels that select the operator pods (immutable in a Deployment: never add to them). */}}
{{- define "arcane-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "arcane-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "arcane-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "arcane-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name the existing ServiceAccount the operator runs as" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The image reference: repository@digest, else repository:tag (tag defaults to appVersion). */}}
{{- define "arcane-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The ConfigMap holding the rules: the user's (rules.existingConfigMap) or the chart's. */}}
{{- define "arcane-operator.rulesConfigMapName" -}}
{{- default (printf "%s-rules" (include "arcane-operator.fullname" .)) .Values.rules.existingConfigMap }}
{{- end }}

{{/* The name of the leader-election Lease. */}}
{{- define "arcane-operator.leaseName" -}}
{{- default (include "arcane-operator.fullname" .) .Values.leaderElection.id }}
{{- end }}

{{/* The label that aggregates plugin ClusterRoles into the operator's stream-kinds ClusterRole. */}}
{{- define "arcane-operator.aggregationLabel" -}}
streaming.sneaksanddata.com/aggregate-to-arcane-operator
{{- end }}

{{/*
Checks of value combinations the schema cannot explain well. Each failure says what to change.
*/}}
{{- define "arcane-operator.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail (printf "replicaCount=%d needs leaderElection.enabled=true: without leader election every replica would act on every stream" (int .Values.replicaCount)) }}
{{- end }}
{{- if and .Values.rules.existingConfigMap .Values.rules.extra }}
{{- fail "rules.extra cannot be combined with rules.existingConfigMap: put the extra rule files in that ConfigMap" }}
{{- end }}
{{- end }}
