"""Validates KEDA objects (ScaledObject, TriggerAuthentication) in rendered manifests against
KEDA's own CRD schemas (vendored in deploy/k8s/schemas), strictly: an unknown field is an
error, as `kubectl apply --validate=strict` would make it. Reads YAML documents on stdin;
prints each object it checked; exits 1 on the first error."""
import json
import sys

import jsonschema
import yaml

SCHEMAS = {
    "ScaledObject": "deploy/k8s/schemas/keda-scaledobject.json",
    "TriggerAuthentication": "deploy/k8s/schemas/keda-triggerauthentication.json",
}


def strict(node):
    """Objects with declared properties admit no others (unless Kubernetes keeps unknown fields)."""
    if isinstance(node, dict):
        if "properties" in node and not node.get("x-kubernetes-preserve-unknown-fields"):
            node.setdefault("additionalProperties", False)
        for value in node.values():
            strict(value)
    elif isinstance(node, list):
        for value in node:
            strict(value)
    return node


def main():
    checked = 0
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc or not doc.get("apiVersion", "").startswith("keda.sh/"):
            continue
        path = SCHEMAS.get(doc["kind"])
        if path is None:
            print(f"no schema for {doc['kind']}", file=sys.stderr)
            return 1
        with open(path, encoding="utf-8") as f:
            schema = strict(json.load(f))
        try:
            jsonschema.validate(doc, schema)
        except jsonschema.ValidationError as e:
            where = "/".join(str(p) for p in e.absolute_path)
            print(f"{doc['kind']} {doc['metadata']['name']}: {where}: {e.message}", file=sys.stderr)
            return 1
        print(f"valid against KEDA's CRD: {doc['kind']} {doc['metadata']['name']}")
        checked += 1
    if checked == 0:
        print("no KEDA object in the input", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
