#!/usr/bin/env bash
# The Kubernetes manifests, checked offline: every resource against the API schema of the
# Kubernetes version docs name (strict: unknown fields are errors), and the YAML style.
set -euo pipefail
cd "$(dirname "$0")/.."
kubernetes_version=1.34
.venv/bin/kubernetes-validate --strict --quiet -k "$kubernetes_version" deploy/kubernetes/*.yaml
.venv/bin/yamllint --strict deploy/kubernetes/ .yamllint
echo "manifests valid for Kubernetes $kubernetes_version"
