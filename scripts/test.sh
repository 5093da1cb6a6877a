#!/usr/bin/env bash
# The whole test suite: builds twice (plain, and with ASan+UBSan), runs
# every unit and integration test in both, and the style checks. Each
# integration test starts its own private PostgreSQL in a temp directory.
# Usage: scripts/test.sh [ctest arguments, e.g. -R integration]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

# PostgreSQL refuses to run as root; the tests run their servers as this
# unprivileged user (scripts/run.sh and ofcsetup create the same one).
if [ "$(id -u)" -eq 0 ] && ! getent passwd ofcmail >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin ofcmail
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_variant() {
    local dir=$1 sanitize=$2
    shift 2
    echo "=== $dir (OFC_SANITIZE=$sanitize) ==="
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DOFC_SANITIZE="$sanitize" >/dev/null
    cmake --build "$dir" -j"$jobs"
    (cd "$dir" && ctest --output-on-failure -j"$jobs" "$@")
}

run_variant build OFF "$@"
run_variant build-asan ON "$@"

echo "=== style ==="
cmake --build build --target format-check
cmake --build build --target cppcheck
echo "scripts/test.sh: all tests passed"
