#!/usr/bin/env bash
# Installs the moto server into <repo>/.venv (git-ignored). Idempotent: a
# no-op when the pinned version is already there. Prints moto_server's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/moto-requirements.txt"
want="$(sed -n 's/^moto\[server\]==\(.*\)$/\1/p' "$req")"
if [ -x "$venv/bin/moto_server" ] && [ "$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/moto_server"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
"$venv/bin/moto_server" --help >/dev/null
echo "$venv/bin/moto_server"
