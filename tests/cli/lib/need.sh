# tests/cli/lib/need.sh: `need TOOL...` before a check that cannot run without TOOL (python3,
# jsonschema = the python3-jsonschema module, or any command name). When one is missing the
# script ends there: with CI=true (CI sets it; .ci/install-deps installs every tool) it fails,
# elsewhere it exits 77, which tests/CMakeLists.txt declares as SKIP_RETURN_CODE, so CTest
# reports the test as skipped, never as passed.
need() {
    local t ok
    for t in "$@"; do
        case $t in
        jsonschema) python3 -c "import jsonschema" >/dev/null 2>&1 && ok=1 || ok=0 ;;
        *) command -v "$t" >/dev/null 2>&1 && ok=1 || ok=0 ;;
        esac
        [ "$ok" -eq 1 ] && continue
        if [ "${CI:-}" = true ]; then
            echo "FAIL: $t is not installed (CI=true: .ci/install-deps installs it)"
            exit 1
        fi
        echo "SKIPPED: $t is not installed (the checks after this point did not run)"
        exit 77
    done
}
