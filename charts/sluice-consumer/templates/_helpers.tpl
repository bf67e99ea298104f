{{/* Object names and labels. */}}
{{- define "sluice.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sluice.fullname" -}}
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

{{- define "sluice.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sluice.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sluice.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "sluice.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: consumer-host
app.kubernetes.io/part-of: sluice
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sluice.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sluice.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A DNS-label form of a broker name, for trigger names: "orders.email" -> "orders-email". */}}
{{- define "sluice.triggerName" -}}
{{- regexReplaceAll "[^a-z0-9-]+" (lower .) "-" | trunc 63 | trimAll "-" }}
{{- end }}

{{/*
Termination grace: above the host's drain deadline, so scale-in (SIGTERM) never kills a handler
mid-message. Computed when unset; a given value that is not above the deadline fails the render.
*/}}
{{- define "sluice.terminationGracePeriodSeconds" -}}
{{- $drain := int .Values.host.stopTimeoutSeconds }}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add $drain (int .Values.host.shutdownMarginSeconds) }}
{{- else }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- if le $grace $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be above host.stopTimeoutSeconds (%d): the kubelet would kill a host still stopping" $grace $drain) }}
{{- end }}
{{- $grace }}
{{- end }}
{{- end }}

{{/* Checks that hold across values (JSON schema checks each value alone). */}}
{{- define "sluice.checks" -}}
{{- $keda := .Values.keda }}
{{- if and $keda.enabled (gt (int $keda.minReplicaCount) (int $keda.maxReplicaCount)) }}
{{- fail (printf "keda.minReplicaCount (%d) must be <= keda.maxReplicaCount (%d)" (int $keda.minReplicaCount) (int $keda.maxReplicaCount)) }}
{{- end }}
{{- if and $keda.enabled (not (kindIs "invalid" $keda.idleReplicaCount)) (ge (int $keda.idleReplicaCount) (int $keda.minReplicaCount)) }}
{{- fail (printf "keda.idleReplicaCount (%d) must be below keda.minReplicaCount (%d)" (int $keda.idleReplicaCount) (int $keda.minReplicaCount)) }}
{{- end }}
{{- if and $keda.enabled (not $keda.brokerTriggers) }}
{{- if not $keda.prometheus.enabled }}
{{- fail "keda.brokerTriggers is false and keda.prometheus.enabled is false: the ScaledObject would have no trigger" }}
{{- end }}
{{- if eq (int $keda.minReplicaCount) 0 }}
{{- fail "keda.brokerTriggers is false with keda.minReplicaCount 0: the prometheus trigger alone cannot wake a host at zero replicas (it exposes no metrics); set minReplicaCount >= 1 or keep the broker triggers" }}
{{- end }}
{{- if and (not (kindIs "invalid" $keda.idleReplicaCount)) (eq (int $keda.idleReplicaCount) 0) }}
{{- fail "keda.brokerTriggers is false with keda.idleReplicaCount 0: the prometheus trigger alone cannot wake a host at zero replicas (it exposes no metrics); unset idleReplicaCount or keep the broker triggers" }}
{{- end }}
{{- end }}
{{- if and $keda.enabled (empty .Values.consumers) }}
{{- fail "consumers is empty: KEDA needs one trigger per consumed queue (generate the values with `sluice manifests`)" }}
{{- end }}
{{- end }}
