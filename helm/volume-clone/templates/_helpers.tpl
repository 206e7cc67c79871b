{{/* Names. Kubernetes names are at most 63 characters. */}}
{{- define "volume-clone.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "volume-clone.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "volume-clone.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "volume-clone.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: volume-clone
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Selects the operator Pods; never changes between upgrades (Deployment selectors are immutable). */}}
{{- define "volume-clone.operatorSelector" -}}
app.kubernetes.io/name: {{ include "volume-clone.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "volume-clone.operatorServiceAccount" -}}
{{- default (printf "%s-operator" (include "volume-clone.fullname" .)) .Values.operator.serviceAccount.name -}}
{{- end -}}

{{/* [registry/]repository:tag, or [registry/]repository@digest when a digest is given. */}}
{{- define "volume-clone.image" -}}
{{- $name := .image.repository -}}
{{- with .image.registry }}{{ $name = printf "%s/%s" . $name }}{{ end -}}
{{- if .image.digest -}}
{{- printf "%s@%s" $name .image.digest -}}
{{- else -}}
{{- printf "%s:%s" $name (default .appVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "volume-clone.operatorImage" -}}
{{- include "volume-clone.image" (dict "image" .Values.operator.image "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{- define "volume-clone.agentImage" -}}
{{- include "volume-clone.image" (dict "image" .Values.agent.image "appVersion" .Chart.AppVersion) -}}
{{- end -}}

{{/* Leader election: on when asked for, and always with more than one replica. */}}
{{- define "volume-clone.leaderElection" -}}
{{- if or .Values.leaderElection.enabled (gt (int .Values.operator.replicas) 1) -}}
true
{{- else -}}
false
{{- end -}}
{{- end -}}

{{- define "volume-clone.leaseNamespace" -}}
{{- default .Release.Namespace .Values.leaderElection.namespace -}}
{{- end -}}
