#!/usr/bin/env bash
# Build the docs site into _site/: execute every notebook under nbs/ (cached in _proc/exec/ by content), render
# with Sphinx + myst-nb (-W: any warning fails), check every internal link. Exit 1 on a failing notebook or link.
# Usage: bash scripts/build_docs.sh [--force] [--jobs N] [--only SUBSTRING...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -x "$PY" ] || PY=$(command -v python3)
"$PY" -c "import sphinx, myst_nb, sphinx_book_theme" 2>/dev/null || {
  echo "docs tools missing: VIRTUAL_ENV=$PWD/.venv uv pip install -e '.[docs]'  (scripts/install.sh does it)"; exit 1; }
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYDEVD_DISABLE_FILE_VALIDATION=1
exec "$PY" docs/build.py "$@"
