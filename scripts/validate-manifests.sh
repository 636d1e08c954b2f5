#!/usr/bin/env bash
# The Kubernetes manifests, checked offline: every resource against the API schema of the
# Kubernetes version docs name (strict: unknown fields are errors), the YAML style, and
# checkov's security checks (each waived check is justified in an annotation beside it).
set -euo pipefail
cd "$(dirname "$0")/.."
kubernetes_version=1.34
tools=.venv-manifests/bin
"$tools/kubernetes-validate" --strict --quiet -k "$kubernetes_version" deploy/kubernetes/*.yaml
"$tools/yamllint" --strict deploy/kubernetes/ .yamllint
"$tools/checkov" --directory deploy/kubernetes --framework kubernetes --skip-download --compact --quiet
echo "manifests valid for Kubernetes $kubernetes_version"
