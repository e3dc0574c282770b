#!/usr/bin/env bash
# Installs libaeron for fixg into a prefix that fixg's loader searches:
#   $FIXG_AERON_HOME, default ${XDG_DATA_HOME:-$HOME/.local/share}/fixg/aeron
#     lib/libaeron.so          the C client (and, for the prebuilt fallback, the embedded driver API)
#     lib/libaeron_driver.so   the C media driver library (source build)
#     bin/aeronmd              the C media driver executable (source build)
#     BUILD-INFO               where it came from (source=source-build|pyaeron-wheel, version, ...)
#
# 1. Source build: clones the public Aeron repository at a pinned release tag (C only: client,
#    driver library and aeronmd; no archive API, tests or samples) and builds it with CMake >= 3.30
#    (installed with pip when the system's is older).
# 2. Where the repository cannot be reached, installs instead the prebuilt Aeron library carried by
#    the `pyaeron` wheel on PyPI (one shared object exporting the C client and embedded-driver API).
#
# Idempotent: when a usable library is already installed it only prints it. Environment:
#   FIXG_AERON_HOME      prefix (see above)
#   FIXG_AERON_TAG       Aeron release tag to build (default 1.52.2)
#   FIXG_AERON_REBUILD=1 reinstall even if a library is there
#   FIXG_AERON_SOURCE    prebuilt|source|auto (default auto: source, then prebuilt)
#   FIXG_AERON_GIT_URL   repository to clone (default the public Aeron repository)
set -euo pipefail

AERON_TAG="${FIXG_AERON_TAG:-1.52.2}"
GIT_URL="${FIXG_AERON_GIT_URL:-https://github.com/aeron-io/aeron.git}"
MODE="${FIXG_AERON_SOURCE:-auto}"
PREFIX="${FIXG_AERON_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/fixg/aeron}"
PYTHON="${PYTHON:-python3}"
JOBS="${FIXG_AERON_JOBS:-2}"

say() { printf 'build_aeron: %s\n' "$*" >&2; }

# Prints "<version>" of the library at $1, or fails if it does not load.
lib_version() {
    "$PYTHON" - "$1" <<'EOF'
import ctypes, sys
lib = ctypes.CDLL(sys.argv[1], mode=ctypes.RTLD_GLOBAL)
lib.aeron_version_full.restype = ctypes.c_char_p
for name in ("aeron_init", "aeron_context_init", "aeron_subscription_poll", "aeron_publication_offer"):
    getattr(lib, name)
print(lib.aeron_version_full().decode())
EOF
}

report() {
    local lib="$PREFIX/lib/libaeron.so" version
    version="$(lib_version "$lib")"
    echo "libaeron: $lib"
    echo "version:  $version"
    if [[ -f "$PREFIX/lib/libaeron_driver.so" ]]; then
        echo "driver:   $PREFIX/lib/libaeron_driver.so"
    fi
    if [[ -x "$PREFIX/bin/aeronmd" ]]; then
        echo "aeronmd:  $PREFIX/bin/aeronmd"
    fi
    sed 's/^/info:     /' "$PREFIX/BUILD-INFO"
}

if [[ "${FIXG_AERON_REBUILD:-0}" != "1" && -f "$PREFIX/BUILD-INFO" && -f "$PREFIX/lib/libaeron.so" ]]; then
    if lib_version "$PREFIX/lib/libaeron.so" >/dev/null 2>&1; then
        say "already installed in $PREFIX (FIXG_AERON_REBUILD=1 to reinstall)"
        report
        exit 0
    fi
    say "the library in $PREFIX does not load; reinstalling"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/fixg-aeron-build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# Copies the files staged in $WORK/stage into the prefix, replacing what was there.
install_stage() {
    mkdir -p "$PREFIX/lib" "$PREFIX/bin"
    rm -f "$PREFIX/lib/libaeron.so" "$PREFIX/lib/libaeron_driver.so" "$PREFIX/bin/aeronmd" "$PREFIX/BUILD-INFO"
    cp -a "$WORK/stage/." "$PREFIX/"
}

cmake_ok() {
    local v
    command -v cmake >/dev/null 2>&1 || return 1
    v="$(cmake --version | head -n1 | awk '{print $3}')"
    "$PYTHON" -c 'import sys; v=tuple(int(x) for x in sys.argv[1].split(".")[:2]); sys.exit(0 if v >= (3, 30) else 1)' "$v"
}

build_from_source() {
    say "cloning Aeron $AERON_TAG from $GIT_URL"
    if ! GIT_TERMINAL_PROMPT=0 timeout 60 git clone --quiet --depth 1 --branch "$AERON_TAG" \
            -c http.lowSpeedLimit=1000 -c http.lowSpeedTime=15 "$GIT_URL" "$WORK/src" 2>"$WORK/clone.log"; then
        say "cannot reach the Aeron repository: $(tail -n1 "$WORK/clone.log" 2>/dev/null)"
        return 1
    fi
    if ! cmake_ok; then
        say "installing CMake >= 3.30 with pip (into $WORK/tools)"
        "$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$WORK/tools" "cmake>=3.30"
        export PATH="$WORK/tools/bin:$PATH"
        export PYTHONPATH="$WORK/tools${PYTHONPATH:+:$PYTHONPATH}"
    fi
    for tool in cc c++; do
        command -v "$tool" >/dev/null 2>&1 || { say "$tool not found (a C and a C++ compiler are needed)"; return 1; }
    done
    say "configuring (C client, C media driver, aeronmd; no archive API, tests or samples)"
    cmake -S "$WORK/src" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_AERON_DRIVER=ON -DBUILD_AERON_ARCHIVE_API=OFF \
        -DAERON_TESTS=OFF -DAERON_SYSTEM_TESTS=OFF -DAERON_BUILD_SAMPLES=OFF \
        -DAERON_BUILD_DOCUMENTATION=OFF -DAERON_INSTALL_TARGETS=OFF \
        -DCMAKE_BUILD_RPATH_USE_ORIGIN=ON >"$WORK/configure.log" 2>&1 \
        || { tail -n 30 "$WORK/configure.log" >&2; return 1; }
    say "building with $JOBS jobs"
    cmake --build "$WORK/build" --parallel "$JOBS" --target aeron aeron_driver aeronmd >"$WORK/build.log" 2>&1 \
        || { tail -n 30 "$WORK/build.log" >&2; return 1; }
    mkdir -p "$WORK/stage/lib" "$WORK/stage/bin"
    local client driver aeronmd
    client="$(find "$WORK/build" -name 'libaeron.so' -print -quit)"
    driver="$(find "$WORK/build" -name 'libaeron_driver.so' -print -quit)"
    aeronmd="$(find "$WORK/build" -type f -name 'aeronmd' -perm -u+x -print -quit)"
    [[ -n "$client" && -n "$driver" ]] || { say "build finished without libaeron.so / libaeron_driver.so"; return 1; }
    cp -L "$client" "$WORK/stage/lib/libaeron.so"
    cp -L "$driver" "$WORK/stage/lib/libaeron_driver.so"
    [[ -n "$aeronmd" ]] && cp -L "$aeronmd" "$WORK/stage/bin/aeronmd"
    {
        echo "source=source-build"
        echo "tag=$AERON_TAG"
        echo "repository=$GIT_URL"
        echo "commit=$(git -C "$WORK/src" rev-parse HEAD)"
        echo "installed=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$WORK/stage/BUILD-INFO"
    lib_version "$WORK/stage/lib/libaeron.so" >/dev/null
}

install_prebuilt() {
    say "installing the prebuilt Aeron library of the pyaeron wheel (PyPI)"
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.12 -d "$WORK/wheel" pyaeron
    local wheel
    wheel="$(find "$WORK/wheel" -name 'pyaeron-*.whl' -print -quit)"
    [[ -n "$wheel" ]] || { say "pip did not download a pyaeron wheel"; return 1; }
    mkdir -p "$WORK/stage/lib" "$WORK/stage/bin"
    "$PYTHON" - "$wheel" "$WORK/stage/lib/libaeron.so" <<'EOF'
import shutil, sys, zipfile
wheel, target = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as zf:
    names = [n for n in zf.namelist() if n.startswith("pyaeron/_pyaeron") and n.endswith(".so")]
    if not names:
        sys.exit(f"{wheel} carries no pyaeron/_pyaeron*.so")
    with zf.open(names[0]) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
    chmod 0755 "$WORK/stage/lib/libaeron.so"
    local version
    version="$(lib_version "$WORK/stage/lib/libaeron.so")"
    {
        echo "source=pyaeron-wheel"
        echo "wheel=$(basename "$wheel")"
        echo "aeron=$version"
        echo "note=prebuilt library of the pyaeron wheel (client + embedded driver API in one object; no aeronmd)"
        echo "installed=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$WORK/stage/BUILD-INFO"
}

case "$MODE" in
    source)
        build_from_source || { say "source build failed"; exit 1; } ;;
    prebuilt)
        install_prebuilt ;;
    auto)
        if ! build_from_source; then
            rm -rf "$WORK/stage"
            say "falling back to the prebuilt library (Aeron $AERON_TAG could not be built from source here)"
            install_prebuilt
        fi ;;
    *)
        say "FIXG_AERON_SOURCE must be auto, source or prebuilt (got '$MODE')"; exit 2 ;;
esac

install_stage
say "installed into $PREFIX"
report
