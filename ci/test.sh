#!/usr/bin/env bash
# Everything the test matrix needs, on a fresh machine: tox, libaeron (built from source, or the
# prebuilt pyaeron library where the Aeron repository cannot be reached), then tox over
# py311, py312 and py313. Extra arguments go to tox (e.g. `-e py312 -- -m "not slow"`).
# Afterwards it checks that the tests left nothing behind (processes, /dev/shm, ports).
set -euo pipefail
cd "$(dirname "$0")/.."
# The interpreters of the matrix: on PATH, or through pyenv (.python-version lists them).
for version in 3.11 3.12 3.13; do
    if ! command -v "python$version" >/dev/null 2>&1 || ! "python$version" -c "" >/dev/null 2>&1; then
        if command -v pyenv >/dev/null 2>&1; then
            echo "ci/test.sh: Python $version not found; installing it with pyenv" >&2
            pyenv install --skip-existing "$version" >&2 || true
        fi
        if ! "python$version" -c "" >/dev/null 2>&1; then
            echo "ci/test.sh: Python $version is needed for the test matrix and was not found on PATH" \
                 "or through pyenv; install it (e.g. 'pyenv install $version') and run again" >&2
            exit 1
        fi
    fi
done
python3 -m pip install --quiet --disable-pip-version-check "tox>=4.11"
bash ci/build_aeron.sh
snapshot="$(mktemp)"
trap 'rm -f "$snapshot"' EXIT
python3 ci/leftovers.py snapshot "$snapshot"
python3 -m tox "$@"
python3 ci/leftovers.py check "$snapshot"
