#!/bin/sh
# Creates dbplane's Temporal namespace and its search attributes if they are missing. Runs in the
# temporalio/admin-tools image (temporal CLI) once the server answers; safe to run again.
set -eu

namespace=${TEMPORAL_NAMESPACE:-default}
retention=${TEMPORAL_NAMESPACE_RETENTION:-720h}
export TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"

attempt=1
until temporal operator cluster health >/dev/null 2>&1; do
  if [ "$attempt" -ge 60 ]; then
    echo "setup-namespace: Temporal at $TEMPORAL_ADDRESS did not answer within 2 minutes" >&2
    exit 1
  fi
  attempt=$((attempt + 1))
  sleep 2
done

if temporal operator namespace describe --namespace "$namespace" >/dev/null 2>&1; then
  echo "setup-namespace: namespace $namespace exists"
else
  temporal operator namespace create --namespace "$namespace" --retention "$retention"
  echo "setup-namespace: created namespace $namespace (retention $retention)"
fi

existing=$(temporal operator search-attribute list --namespace "$namespace" --output json)
for name in DbplaneModule DbplaneHost DbplaneOperation; do
  if printf '%s' "$existing" | grep -q "\"$name\""; then
    echo "setup-namespace: search attribute $name exists"
  else
    temporal operator search-attribute create --namespace "$namespace" --name "$name" --type Keyword
    echo "setup-namespace: created search attribute $name (Keyword)"
  fi
done
