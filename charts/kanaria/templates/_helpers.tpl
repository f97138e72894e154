{{/* The name every object of a release starts with. */}}
{{- define "kanaria.fullname" -}}
{{- if contains "kanaria" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-kanaria" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "kanaria.controllerName" -}}
{{- printf "%s-controller" (include "kanaria.fullname" .) -}}
{{- end -}}

{{- define "kanaria.serviceAccountName" -}}
{{- default (include "kanaria.controllerName" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "kanaria.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* Labels of every object; component is added per object. */}}
{{- define "kanaria.labels" -}}
app.kubernetes.io/name: kanaria
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "kanaria.selector" -}}
app.kubernetes.io/name: kanaria
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
