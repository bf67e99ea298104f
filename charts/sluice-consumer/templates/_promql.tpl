{{/*
Every PromQL expression of the chart lives here: the ScaledObject's prometheus trigger and the
PrometheusRule render these templates, and the chart README quotes them (a test checks the quotes
against `helm template`). Metric names are those of @sluice/core's host metrics.
*/}}

{{/*
Backlog of one queue as the hosts report it: `sluice_queue_depth` is sampled from the broker on
every scrape, so each replica reports the same broker queue; max() takes one of them.
Argument: (dict "queue" <the queue name> "selector" <keda.prometheus.extraSelector>).
*/}}
{{- define "sluice.promql.queueDepth" -}}
max(sluice_queue_depth{queue="{{ .queue }}"{{ with .selector }}, {{ . }}{{ end }}})
{{- end }}

{{/* The optional extra label matchers of prometheusRule.extraSelector, braces included. */}}
{{- define "sluice.promql.selector" -}}
{{- with .Values.prometheusRule.extraSelector }}{{ printf "{%s}" . }}{{ end }}
{{- end }}

{{/* Messages dead-lettered within the window, per queue (fires on any growth). */}}
{{- define "sluice.promql.deadLetterGrowth" -}}
sum by (queue) (increase(sluice_messages_dead_lettered_total{{ include "sluice.promql.selector" . }}[{{ .Values.prometheusRule.deadLetterWindow }}])) > 0
{{- end }}

{{/*
A backlog that does not drain: above the threshold at every minute of the window, and not falling
over it (a large backlog that is shrinking is work in progress, not an incident).
*/}}
{{- define "sluice.promql.backlogNotDraining" -}}
{{- $depth := printf "max by (queue) (sluice_queue_depth%s)" (include "sluice.promql.selector" .) -}}
{{- $window := .Values.prometheusRule.backlogWindow -}}
min_over_time({{ $depth }}[{{ $window }}:1m]) > {{ .Values.prometheusRule.backlogThreshold }} and deriv({{ $depth }}[{{ $window }}:1m]) >= 0
{{- end }}
