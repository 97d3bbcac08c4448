{{- define "bk.labels" -}}
app.kubernetes.io/part-of: bright-kitchen
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
