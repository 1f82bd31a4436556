#!/usr/bin/env bash
# Installs the Python tools the project uses (the moto server, cfn-lint) into
# <repo>/.venv (git-ignored), pinned by scripts/requirements.txt. Idempotent:
# a no-op when .venv already holds exactly these pins. Prints moto_server's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/moto_server" ] && [ -x "$venv/bin/cfn-lint" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "$venv/bin/moto_server"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
"$venv/bin/moto_server" --help >/dev/null
"$venv/bin/cfn-lint" --version >/dev/null
echo "$want" > "$stamp"
echo "$venv/bin/moto_server"
