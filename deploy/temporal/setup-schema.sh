#!/bin/sh
# Creates or upgrades Temporal's two PostgreSQL databases. Runs in the temporalio/admin-tools image
# (temporal-sql-tool) before the server starts, every time: a database already at the newest schema
# is left as it is. Needs SQL_PASSWORD; POSTGRES_SEEDS, POSTGRES_USER and DB_PORT have defaults.
set -eu

host=${POSTGRES_SEEDS:-temporal-postgres}
user=${POSTGRES_USER:-temporal}
port=${DB_PORT:-5432}
schemas=/etc/temporal/schema/postgresql/v12

sql_tool() {
  temporal-sql-tool --plugin postgres12 --endpoint "$host" --port "$port" --user "$user" "$@"
}

prepare() {
  database=$1
  versions=$2
  if sql_tool --db "$database" update-schema -d "$versions" >/dev/null 2>&1; then
    echo "setup-schema: $database is at the newest schema"
    return
  fi

  echo "setup-schema: creating $database"
  # Fails when the database exists without a schema (an interrupted first run); the steps after it
  # still complete that database, so the failure is not fatal.
  sql_tool --db "$database" create || echo "setup-schema: $database exists already"
  sql_tool --db "$database" setup-schema -v 0.0
  sql_tool --db "$database" update-schema -d "$versions"
}

prepare temporal "$schemas/temporal/versioned"
prepare temporal_visibility "$schemas/visibility/versioned"
