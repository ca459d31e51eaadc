#!/usr/bin/env bash
# Build the kernels with AddressSanitizer + UndefinedBehaviorSanitizer (CMake option
# CHALKNET_SANITIZE) into a fresh venv and run the kernel tests under them. Any finding aborts
# the run with a report; exit status 0 means zero findings.
#
#   tools/sanitize.sh [pytest args...]    (default: the op tests, tests/test_*ops*.py etc.)
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m venv "$work/env"
"$work/env/bin/pip" install -q pytest hypothesis numpy
"$work/env/bin/pip" install -q . -Ccmake.define.CHALKNET_SANITIZE=ON -Cbuild-dir=build/sanitize

# Python itself is not built with ASan, so the runtime is preloaded; CPython's own allocations
# are not leaks of ours (detect_leaks=0 here; valgrind covers leaks, see README).
asan="$(gcc -print-file-name=libasan.so)"
ubsan="$(gcc -print-file-name=libubsan.so)"
export LD_PRELOAD="$asan:$ubsan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export CHALKNET_FUZZ_EXAMPLES_PER_OP="${CHALKNET_FUZZ_EXAMPLES_PER_OP:-150}"
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
    # test_memory is left out (ASan's quarantine and shadow memory grow RSS by design), and so
    # are the CHALKNET_ISA subprocess tests (their clean environment drops LD_PRELOAD, so the
    # instrumented module cannot load there); threads: predict/fit from several threads.
    tests=(tests -q -p no:cacheprovider -k "(matmul or conv or winograd or pool or relu_backward or rnn or lstm or gru or ctc or gemm or bad_input or threads) and not peak_rss and not environment_variable")
fi
cd "$work"
"$work/env/bin/python" -m pytest "${tests[@]/#tests/$OLDPWD/tests}"
