#!/usr/bin/env bash
# Regenerate the single initial migration from the models (before the first release only).
set -euo pipefail
cd "$(dirname "$0")/.."
versions=control/db/migrations/versions
rm -f "$versions/0001_initial_schema.py"
tmp=$(mktemp -d)
"${PYTHON:-.venv/bin/python}" -c "
from control.db.engine import make_engine
from control.db.migrate import revision
revision(make_engine('sqlite:///$tmp/gen.db'), 'initial schema')
" >/dev/null
generated=$(ls "$versions"/*_initial_schema.py)
id=$(basename "$generated" | cut -d_ -f1)
mv "$generated" "$versions/0001_initial_schema.py"
sed -i "s/'$id'/'0001'/; s/Revision ID: $id/Revision ID: 0001/" "$versions/0001_initial_schema.py"
rm -rf "$tmp"
