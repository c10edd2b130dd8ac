# Sourced by bin/run and bin/test: create .venv and install pinned packages when they change.
# Usage: . bin/_venv.sh requirements.txt
set -euo pipefail
req="${1:-requirements.txt}"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "Creating the virtual environment in .venv ..."
  "$py" -m venv .venv
fi
stamp=".venv/.install-stamp-$(basename "$req")"
want="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "Installing Python packages from $req ..."
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
# shellcheck disable=SC1091
. .venv/bin/activate
