# tests/cli/lib/expect.sh: `expect CODE PATTERN ARGS...` for the bad-flag tests, sourced after the
# script's fail(): runs "$AIRMETA" "${expect_cmd[@]}" ARGS... (expect_cmd set by the script, e.g.
# (sweep)), requires exit CODE and PATTERN (grep) in its stderr, and prints an ok line.
expect() {
    local code=$1 pat=$2
    shift 2
    local err
    err=$("$AIRMETA" "${expect_cmd[@]}" "$@" 2>&1 >/dev/null)
    local rc=$?
    [ "$rc" -eq "$code" ] || fail "${expect_cmd[*]} $*: exit $rc, expected $code ($err)"
    echo "$err" | grep -q -- "$pat" || fail "${expect_cmd[*]} $*: message '$err' lacks '$pat'"
    echo "ok: ${expect_cmd[*]} $* -> $rc: $err"
}
