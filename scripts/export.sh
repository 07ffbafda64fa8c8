#!/usr/bin/env bash
# Regenerate every exported .py (core and each bundled plugin) from the notebooks under nbs/.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/nbdev-export ]; then EXPORT="$PWD/.venv/bin/nbdev-export"; else EXPORT=$(command -v nbdev-export); fi
"$EXPORT"
for p in plugins/*/; do
  if grep -q "tool.nbdev" "$p/pyproject.toml" 2>/dev/null; then (cd "$p" && "$EXPORT"); fi
done
