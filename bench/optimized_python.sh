#!/bin/sh
# Builds CPython 3.13 the way the production image's interpreter is built (python:3.13-slim:
# profile-guided and link-time optimised, no shared libpython), and a virtualenv with Agora
# in it, so that bench/run.py can measure the app on the interpreter it runs on in production:
#
#     bench/optimized_python.sh            # once: ~25 minutes on 2 cores
#     DATABASE_URL=... REDIS_URL=... .venv-bench/bin/python bench/run.py --seconds 10
#
# The development interpreter (pyenv's 3.13, selected by .python-version) is built without
# either optimisation and with a shared libpython: docs/benchmarks.md measures both.
# The source is the CPython release tarball as Debian ships it, checked against its hash.
set -eu

VERSION=3.13.5
TARBALL="python3.13_${VERSION}.orig.tar.xz"
SHA256=93e583f243454e6e9e4588ca2c2662206ad961659863277afcdb96801647d640
URL="http://deb.debian.org/debian/pool/main/p/python3.13/${TARBALL}"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PREFIX=${PREFIX:-/opt/agora-bench-python}
WORK=${WORK:-/tmp/agora-python-build}

if [ ! -x "$PREFIX/bin/python3.13" ]; then
    mkdir -p "$WORK"
    cd "$WORK"
    [ -f "$TARBALL" ] || curl -fsSL -o "$TARBALL" "$URL"
    echo "$SHA256  $TARBALL" | sha256sum -c -
    rm -rf "Python-$VERSION"
    tar -xJf "$TARBALL"
    cd "Python-$VERSION"
    ./configure --prefix="$PREFIX" --enable-optimizations --with-lto --without-ensurepip \
        >configure.log
    # The profile comes from CPython's own PGO test set. One of its tests (test_generators)
    # fails on these machines, which would stop the build; only the profile matters here.
    make -j"$(nproc)" PROFILE_TASK="-m test --pgo --timeout=1200 || true" >make.log 2>&1
    make install >install.log 2>&1
fi

"$PREFIX/bin/python3.13" -m venv --without-pip "$ROOT/.venv-bench"
# The virtualenv borrows pip from the development one to install the same packages.
"$ROOT/.venv/bin/python" -m pip --python "$ROOT/.venv-bench/bin/python" install --quiet \
    --disable-pip-version-check -e "$ROOT"
echo "built: $("$ROOT/.venv-bench/bin/python" -VV)"
