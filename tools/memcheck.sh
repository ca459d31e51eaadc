#!/usr/bin/env bash
# valgrind memcheck over a short loop of every compiled op (tools/op_loop.py), with the
# installed chalknet of the current Python.  Prints the leak summary and the "definitely lost"
# records whose stacks pass through chalknet's own code; exits 1 when there is any such record.
#
#   tools/memcheck.sh [PYTHON]        (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
python="${1:-python3}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# PYTHONMALLOC=malloc: let valgrind see every allocation (CPython's arenas would hide them).
PYTHONMALLOC=malloc valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite \
    --num-callers=30 --log-file="$log" "$python" tools/op_loop.py
sed -n '/LEAK SUMMARY/,/suppressed/p' "$log"
ours="$(awk '/definitely lost in/{block=$0; keep=0; next} block!=""{block=block"\n"$0; if ($0 ~ /chalknet\/_core|chalknet\/_ctc|csrc\//) keep=1; if ($0 ~ /^==[0-9]+== $/) {if (keep) print block; block=""}}' "$log")"
if [ -n "$ours" ]; then
    printf 'definite leaks in chalknet code:\n%b\n' "$ours"
    exit 1
fi
echo "no definite leaks in chalknet's code"
