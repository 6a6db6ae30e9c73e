#!/usr/bin/env bash
# The test command (README, .ci/run): install what the tests need, then run every test.
# System pieces come from tests/system.sh; Python packages from '.[test]', pinned by
# tests/constraints.txt so that every machine tests what CI tested. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore

bash tests/system.sh
rm -rf build  # setuptools' build folder keeps files since deleted, and would ship them
python -m pip install --quiet -c tests/constraints.txt '.[test]'
exec python -m pytest "$@"
