#!/usr/bin/env bash
# tests/spec/run.sh DRIVER AIRMETA: runs tests/spec/air_interface.py (python3 + numpy), SKIPPED
# (77) when either is missing, failed instead with CI=true (tests/cli/lib/need.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/../cli/lib/need.sh"
need python3
# the first python3 with numpy: PATH's, else Debian's (a pyenv shim may come first in PATH)
PY=python3
if ! python3 -c "import numpy" >/dev/null 2>&1 && [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; fi
if ! "$PY" -c "import numpy" >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        echo "FAIL: numpy is not installed (CI=true: .ci/install-deps installs python3-numpy)"
        exit 1
    fi
    echo "SKIPPED: numpy is not installed (python3-numpy)"
    exit 77
fi
exec "$PY" "$here/air_interface.py" "$@"
