#!/usr/bin/env bash
# Build the source distribution, install it into a fresh venv (this compiles the kernels from
# the sdist alone, so a file missing from the sdist shows up here) and run the test suite.
#
#   tools/check_sdist.sh [OUT_DIR]        (default OUT_DIR: dist)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/env"
"$work/env/bin/pip" install -q build
"$work/env/bin/python" -m build --sdist -o "$out"
sdist="$(ls -t "$out"/chalknet-*.tar.gz | head -n 1)"
echo "sdist: $sdist ($(tar tzf "$sdist" | wc -l) files)"
"$work/env/bin/pip" install -q "$sdist" pytest hypothesis pytest-benchmark
cd "$work"
"$work/env/bin/python" -c "import chalknet; print('installed from sdist:', chalknet.build_info())"
"$work/env/bin/python" -m pytest "$OLDPWD/tests" -q -p no:cacheprovider
