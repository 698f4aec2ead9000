{{/*
Chart name, truncated to the 63 characters a label value may hold.
*/}}
{{- define "soc2-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name: the release name, plus the chart name unless the release name already contains it.
*/}}
{{- define "soc2-operator.fullname" -}}
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

{{/*
Chart label value: name-version.
*/}}
{{- define "soc2-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "soc2-operator.labels" -}}
helm.sh/chart: {{ include "soc2-operator.chart" . }}
{{ include "soc2-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: soc2-operator
{{- end }}

{{/*
Selector labels: stable across upgrades, so never add to them.
*/}}
{{- define "soc2-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "soc2-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Name of the ServiceAccount the operator runs as.
*/}}
{{- define "soc2-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "soc2-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image reference: digest wins over tag; the tag defaults to the chart's appVersion.
*/}}
{{- define "soc2-operator.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Mount path and URL of local evidence storage.
*/}}
{{- define "soc2-operator.evidenceMountPath" -}}
/var/lib/soc2/evidence
{{- end }}

{{/*
True ("true") when the chart mounts a local evidence volume.
*/}}
{{- define "soc2-operator.localEvidence" -}}
{{- if and .Values.evidence.enabled (eq .Values.evidence.storage.type "local") }}true{{ end }}
{{- end }}

{{/*
Name of the evidence PersistentVolumeClaim.
*/}}
{{- define "soc2-operator.evidenceClaimName" -}}
{{- default (printf "%s-evidence" (include "soc2-operator.fullname" .)) .Values.evidence.storage.local.existingClaim }}
{{- end }}

{{/*
Evidence storage URL for the EvidencePolicy.
*/}}
{{- define "soc2-operator.evidenceUrl" -}}
{{- $storage := .Values.evidence.storage }}
{{- if eq $storage.type "local" }}
{{- printf "file://%s" (include "soc2-operator.evidenceMountPath" .) }}
{{- else }}
{{- $bucket := required "evidence.storage.s3.bucket is required when evidence.storage.type is s3" $storage.s3.bucket }}
{{- $prefix := trimAll "/" $storage.s3.prefix }}
{{- if $prefix }}
{{- printf "s3://%s/%s" $bucket $prefix }}
{{- else }}
{{- printf "s3://%s" $bucket }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Secret names the operator may read when rbac.secretNames restricts them: the listed names plus
the evidence credentials and signing Secrets this chart configures. Rendered as a YAML list.
*/}}
{{- define "soc2-operator.secretNames" -}}
{{- $names := list }}
{{- range .Values.rbac.secretNames }}
{{- $names = append $names . }}
{{- end }}
{{- if .Values.evidence.enabled }}
{{- if and (eq .Values.evidence.storage.type "s3") .Values.evidence.storage.s3.credentialsSecret }}
{{- $names = append $names .Values.evidence.storage.s3.credentialsSecret }}
{{- end }}
{{- if .Values.evidence.signing.secretName }}
{{- $names = append $names .Values.evidence.signing.secretName }}
{{- end }}
{{- end }}
{{- toYaml (uniq $names | sortAlpha) }}
{{- end }}

{{/*
Audit-event receiver: refuses a configuration the operator would refuse at start, so a bad
install fails at `helm install` instead of in a crash loop.
*/}}
{{- define "soc2-operator.auditEventsValidate" -}}
{{- $a := .Values.auditEvents }}
{{- if $a.enabled }}
{{- if not (or $a.certManager.enabled $a.tls.secretName) }}
{{- fail "auditEvents.enabled needs a TLS certificate: auditEvents.tls.secretName (an existing kubernetes.io/tls Secret) or auditEvents.certManager.enabled" }}
{{- end }}
{{- if and $a.certManager.enabled (not $a.certManager.issuerRef.name) }}
{{- fail "auditEvents.certManager.enabled needs auditEvents.certManager.issuerRef.name" }}
{{- end }}
{{- if not (or $a.token.secretName $a.clientCA.secretName) }}
{{- fail "auditEvents.enabled needs client authentication: auditEvents.token.secretName, auditEvents.clientCA.secretName or both" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Name of the Secret holding the receiver's tls.crt and tls.key.
*/}}
{{- define "soc2-operator.auditTlsSecretName" -}}
{{- if .Values.auditEvents.certManager.enabled }}
{{- printf "%s-audit-tls" (include "soc2-operator.fullname" .) }}
{{- else }}
{{- .Values.auditEvents.tls.secretName }}
{{- end }}
{{- end }}
