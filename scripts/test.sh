#!/usr/bin/env bash
# Sets up kefu with its test dependencies in ./.venv, then lints and runs the whole suite,
# slow tests (the real embedded model) included. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
. .venv/bin/activate
ruff check .
ruff format --check .
mypy
pytest -q -p no:cacheprovider "$@"
