{{- define "loraplex.systemNamespace" -}}
{{- default .Release.Namespace .Values.systemNamespace -}}
{{- end -}}

{{- define "loraplex.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "loraplex.labels" -}}
app.kubernetes.io/part-of: loraplex
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Non-root, read-only root filesystem, no capabilities: every Loraplex container. */}}
{{- define "loraplex.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "loraplex.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Postgres, Redis and S3 settings, all secrets read from existing Secrets. */}}
{{- define "loraplex.serviceEnv" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.postgres.existingSecret }}, key: {{ .Values.postgres.urlKey }}}
{{- with .Values.postgres.schema }}
- name: DATABASE_SCHEMA
  value: {{ . | quote }}
{{- end }}
- name: REDIS_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.redis.existingSecret }}, key: {{ .Values.redis.urlKey }}}
- name: S3_ENDPOINT
  value: {{ .Values.s3.endpoint | quote }}
- name: S3_BUCKET
  value: {{ .Values.s3.bucket | quote }}
- name: S3_REGION
  value: {{ .Values.s3.region | quote }}
- name: S3_FORCE_PATH_STYLE
  value: {{ .Values.s3.forcePathStyle | quote }}
- name: S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ .Values.s3.existingSecret }}, key: {{ .Values.s3.accessKeyIdKey }}}
- name: S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.s3.existingSecret }}, key: {{ .Values.s3.secretAccessKeyKey }}}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- end -}}
