#!/usr/bin/env bash
# Fail when a committed exported .py differs from what the notebooks export.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/export.sh
drift=$(git status --porcelain -- datacurate plugins)
if [ -n "$drift" ]; then
  echo "Exported code differs from the notebooks (edit the notebook, run scripts/export.sh, commit both):"
  echo "$drift"; git --no-pager diff --stat -- datacurate plugins; exit 1
fi
echo "exported code matches the notebooks"
