#!/usr/bin/env bash
# Re-pin the test toolchain: resolve '.[test]' afresh (today's releases) in a throwaway virtual
# environment and write every version to tests/constraints.txt. Run it, then the test command,
# and commit both when they pass.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet '.[test]'
{
    echo "# The test toolchain as CI tested it; tests/run.sh installs with it. Remake: tests/lock.sh"
    "$venv/bin/python" -m pip freeze --exclude yizhan
} > tests/constraints.txt
echo "wrote tests/constraints.txt ($(grep -vc '^#' tests/constraints.txt) packages)"
