{{/* Names, labels and the parts every hub container shares. */}}

{{- define "artifact-hub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "artifact-hub.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "artifact-hub.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "artifact-hub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "root" $ "component" "api"). */}}
{{- define "artifact-hub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "artifact-hub.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "artifact-hub.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "artifact-hub.secretName" -}}
{{- default (printf "%s-env" (include "artifact-hub.fullname" .)) .Values.existingSecret -}}
{{- end -}}

{{/* The Secret's data when the chart makes it (also the migrations hook's copy). */}}
{{- define "artifact-hub.secretData" -}}
ARTIFACT_HUB_DATABASE_URL: {{ required "secret.databaseUrl (or existingSecret) is required" .Values.secret.databaseUrl | b64enc | quote }}
ARTIFACT_HUB_KAFKA_BOOTSTRAP_SERVERS: {{ required "kafka.bootstrapServers (or existingSecret) is required" .Values.kafka.bootstrapServers | b64enc | quote }}
ARTIFACT_HUB_SIGNING_SECRET: {{ required "secret.signingSecret (or existingSecret) is required" .Values.secret.signingSecret | b64enc | quote }}
{{- with .Values.secret.s3AccessKeyId }}
ARTIFACT_HUB_S3_ACCESS_KEY_ID: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secret.s3SecretAccessKey }}
ARTIFACT_HUB_S3_SECRET_ACCESS_KEY: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secret.busSigningSecret }}
ARTIFACT_HUB_BUS_SIGNING_SECRET: {{ . | b64enc | quote }}
{{- end }}
{{- with .Values.secret.redisUrl }}
ARTIFACT_HUB_REDIS_URL: {{ . | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* The ConfigMap's data: the distributed mode's non-secret settings. */}}
{{- define "artifact-hub.configData" -}}
ARTIFACT_HUB_EVENT_BUS: kafka
ARTIFACT_HUB_BLOB_STORE: s3
ARTIFACT_HUB_S3_BUCKET: {{ .Values.s3.bucket | quote }}
ARTIFACT_HUB_S3_REGION: {{ .Values.s3.region | quote }}
ARTIFACT_HUB_S3_PREFIX: {{ .Values.s3.prefix | quote }}
{{- with .Values.s3.endpointUrl }}
ARTIFACT_HUB_S3_ENDPOINT_URL: {{ . | quote }}
{{- end }}
ARTIFACT_HUB_TOPIC_PREFIX: {{ .Values.kafka.topicPrefix | quote }}
ARTIFACT_HUB_CONSUMER_GROUP: {{ .Values.kafka.consumerGroup | quote }}
ARTIFACT_HUB_SEARCH_EMBEDDER: {{ .Values.config.searchEmbedder | quote }}
{{- with .Values.config.publicUrl }}
ARTIFACT_HUB_PUBLIC_URL: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.config.extraEnv }}
{{ $name }}: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* envFrom of every hub container. */}}
{{- define "artifact-hub.envFrom" -}}
- configMapRef:
    name: {{ include "artifact-hub.fullname" . }}-config
- secretRef:
    name: {{ include "artifact-hub.secretName" . }}
{{- end -}}

{{/* Pod-level fields every hub pod shares. */}}
{{- define "artifact-hub.podSpec" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod annotations: a config change rolls the pods. */}}
{{- define "artifact-hub.podAnnotations" -}}
checksum/config: {{ include "artifact-hub.configData" . | sha256sum }}
{{- if not .Values.existingSecret }}
checksum/secret: {{ include "artifact-hub.secretData" . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The heartbeat probe of the consumers and the relay:
     call with (dict "role" "relay" "failures" 3). */}}
{{- define "artifact-hub.heartbeatProbe" -}}
exec:
  command: ["artifact-hub", "health", "--role", {{ .role | quote }}, "--max-age", "30"]
periodSeconds: 15
timeoutSeconds: 10
failureThreshold: {{ .failures }}
{{- end -}}
