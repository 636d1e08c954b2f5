#!/usr/bin/env bash
# The Kubernetes manifests, checked offline: the base (deploy/kubernetes/base) as written and
# each region's overlay as kustomize renders it. Every resource against the API schema of the
# Kubernetes version docs name (strict: unknown fields are errors), and checkov's security
# checks (each waived check is justified in a checkov.io/skip annotation beside it; rendering
# keeps the annotations, so the overlays carry the base's waivers). yamllint checks the style
# of the files as written; rendered output is kustomize's, not ours.
set -euo pipefail
cd "$(dirname "$0")/.."
kubernetes_version=1.34
tools=.venv-manifests/bin
manifests=deploy/kubernetes

"$tools/yamllint" --strict "$manifests" .yamllint

# check NAME FILE...: one set of resources, the schema and then checkov; one line if it passes.
check() {
    local name=$1 file resources report files=()
    shift
    "$tools/kubernetes-validate" --strict --quiet -k "$kubernetes_version" "$@"
    resources=$(cat "$@" | grep -c '^kind:')
    for file in "$@"; do files+=(--file "$file"); done
    if ! report=$("$tools/checkov" --framework kubernetes --skip-download --compact --quiet "${files[@]}" 2>&1); then
        printf '%s\n' "$report"
        echo "$name: checkov found failures" >&2
        return 1
    fi
    echo "$name: $resources resources valid; checkov $(grep -o 'Passed checks: .*' <<<"$report")"
}

mapfile -t base < <(find "$manifests/base" -name '*.yaml' ! -name kustomization.yaml | sort)
check base "${base[@]}"

if command -v kubectl >/dev/null; then
    rendered=$(mktemp -d)
    trap 'rm -rf "$rendered"' EXIT
    for overlay in "$manifests"/overlays/*/; do
        region=$(basename "$overlay")
        kubectl kustomize "$overlay" >"$rendered/$region.yaml"
        check "overlays/$region" "$rendered/$region.yaml"
    done
else
    echo "kubectl not found: overlays not rendered"
fi
echo "manifests valid for Kubernetes $kubernetes_version"
