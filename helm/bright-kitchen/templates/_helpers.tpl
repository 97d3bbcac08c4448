{{/* Common names and labels. Every object carries part-of and instance so policies can select them. */}}
{{- define "bk.fullname" -}}
{{- printf "%s-%s" .Release.Name .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bk.labels" -}}
app.kubernetes.io/part-of: bright-kitchen
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* selector labels of one component: (dict "root" $ "name" "detector") */}}
{{- define "bk.selector" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{- define "bk.componentLabels" -}}
{{ include "bk.labels" .root }}
{{ include "bk.selector" . }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* Image of a service: per-service repository/tag override the global ones. */}}
{{- define "bk.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := default (printf "%s/%s" $img.registry .name) .svc.image.repository -}}
{{- $tag := default $img.tag .svc.image.tag -}}
{{- if .svc.image.digest -}}{{ $repo }}@{{ .svc.image.digest }}{{- else -}}{{ $repo }}:{{ $tag }}{{- end -}}
{{- end -}}

{{- define "bk.secretName" -}}
{{- required "existingSecret is required: create the Secret with BK_JWT_PUBLIC_KEYS, BK_URL_SIGNING_SECRET, BK_DATABASE_URL, BK_S3_ACCESS_KEY, BK_S3_SECRET_KEY before installing" .Values.existingSecret -}}
{{- end -}}

{{- define "bk.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "bk.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
capabilities: {drop: [ALL]}
{{- end -}}

{{/* The comma list of gateway replica ids (pod names) each replica hashes cameras over. */}}
{{- define "bk.gatewayReplicas" -}}
{{- $svc := index .Values.services "stream-gateway" -}}
{{- $name := include "bk.fullname" (dict "Release" .Release "name" "stream-gateway") -}}
{{- $ids := list -}}
{{- range $i := until (int $svc.replicas) -}}{{- $ids = append $ids (printf "%s-%d" $name $i) -}}{{- end -}}
{{- join "," $ids -}}
{{- end -}}

{{/* NetworkPolicy peers: a component of this release, or a namespace. */}}
{{- define "bk.np.from" -}}
- podSelector:
    matchLabels: {app.kubernetes.io/name: {{ .name }}, app.kubernetes.io/instance: {{ .rel }}}
{{- end }}
{{- define "bk.np.ns" -}}
- namespaceSelector:
    matchLabels: {kubernetes.io/metadata.name: {{ . }}}
{{- end }}
