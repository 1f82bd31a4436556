#!/usr/bin/env bash
# Installs the Python tools the tests use (the moto server, cfn-lint) into
# <repo>/.venv (git-ignored), pinned by scripts/requirements.txt, and prints
# moto_server's path. Idempotent: when .venv already holds exactly these pins
# and its Python still runs, it only prints the path. A broken .venv (its
# Python gone, say) is rebuilt from scratch.
#
# PYTHON names the interpreter to build .venv with (default: python3.11 if
# present, else python3). pip's own configuration (find-links, index) applies.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"

# installed: the venv's Python runs, the stamp matches the requirements, and
# every pinned distribution is present at its pinned version.
installed() {
  [ -x "$venv/bin/moto_server" ] && "$venv/bin/python" -c '' 2>/dev/null || return 1
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] || return 1
  local line name version
  while IFS= read -r line; do
    line="${line%%#*}"
    line="${line//[[:space:]]/}"
    [ -n "$line" ] || continue
    name="${line%%==*}"
    version="${line#*==}"
    name="${name%%[*}"
    # dist-info names fold case and spell - and . as _ (mostly): match loosely
    [ -n "$(find "$venv"/lib/python*/site-packages -maxdepth 1 -iname "${name//[-_.]/?}-${version}.dist-info" -print -quit 2>/dev/null)" ] || return 1
  done <"$req"
}

# patch_moto mends two faults of moto 5.2.5's DynamoDB transactions, each
# one line (docs/moto-notes.md, section 6, has the measurements):
# - cost: TransactWriteItems deep-copies the whole table (for rollback) once
#   per write of the transaction instead of once per table, so k writes on
#   a table of n items cost k*n item copies. The patch copies once per table.
# - atomicity: a cancelled transaction rolls back by restoring that copy of
#   the whole table, which on moto's threaded server erases every write
#   other requests made meanwhile (AWS rolls back only the transaction's own
#   items). The patch makes the server take one request at a time.
# What each request does and returns is unchanged. Idempotent; a moto
# without those lines is left alone.
patch_moto() {
  local site f
  site="$(find "$venv"/lib -maxdepth 2 -name site-packages -print -quit 2>/dev/null)"
  [ -n "$site" ] || return 0
  f="$site/moto/dynamodb/models/__init__.py"
  if [ -f "$f" ] && grep -q '^            if table_name and table_name in self.tables:$' "$f"; then
    sed -i 's/^            if table_name and table_name in self.tables:$/            if table_name and table_name in self.tables and table_name not in original_table_state:  # autocontain: copy once per table/' "$f"
    find "$(dirname "$f")" -name '__init__*.pyc' -delete
    echo "moto-venv: patched moto's TransactWriteItems to copy each table once ($f)" >&2
  fi
  f="$site/moto/server.py"
  if [ -f "$f" ] && grep -q '^        threaded=True,$' "$f"; then
    sed -i 's/^        threaded=True,$/        threaded=False,  # autocontain: one request at a time (docs\/moto-notes.md)/' "$f"
    find "$(dirname "$f")" -name 'server*.pyc' -delete
    echo "moto-venv: patched moto's server to take one request at a time ($f)" >&2
  fi
}

if installed; then
  patch_moto
  echo "$venv/bin/moto_server"
  exit 0
fi

python="${PYTHON:-}"
if [ -z "$python" ]; then
  if command -v python3.11 >/dev/null; then python=python3.11; else python=python3; fi
fi
echo "moto-venv: installing $(grep -Ev '^[[:space:]]*(#|$)' "$req" | tr '\n' ' ')into $venv with $python" >&2
if [ -d "$venv" ] && ! "$venv/bin/python" -c '' 2>/dev/null; then
  rm -rf "$venv" # its interpreter is gone: start again
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
"$venv/bin/moto_server" --help >/dev/null
"$venv/bin/cfn-lint" --version >/dev/null
echo "$want" >"$stamp"
installed || { echo "moto-venv: $venv does not hold the pins of $req after installing them" >&2; exit 1; }
patch_moto
echo "$venv/bin/moto_server"
