# shellcheck shell=bash
# serve-functions.sh - helpers of the API server's tests (tests/e2e/serve-*.sh):
# a credentials file of two accounts, `blocksnap serve` started on a free
# port (and stopped by PID at the end), and the stock aws CLI pointed at it.
# Source after functions.sh.

requires aws python3 curl

# Debian's python, whose botocore and boto3 (python3-boto3) the tests use
PY3=/usr/bin/python3
"$PY3" -c 'import boto3' 2>/dev/null || skip "no python3-boto3 for $PY3"

OWNER=123456789012
OTHER=111122223333
REGION=us-east-1

# The accounts' keys, in blocksnap's credentials file (what the server
# checks signatures with) and in the aws CLI's own files.
export BLOCKSNAP_SHARED_CREDENTIALS_FILE=$T/bsnap-credentials
export BLOCKSNAP_CONFIG_FILE=$T/bsnap-config
cat >"$BLOCKSNAP_SHARED_CREDENTIALS_FILE" <<EOF
[default]
aws_access_key_id = AKIAOWNEREXAMPLE
aws_secret_access_key = owner/Secret+Key0123456789EXAMPLE
blocksnap_account_id = $OWNER
[other]
aws_access_key_id = AKIAOTHEREXAMPLE
aws_secret_access_key = other/Secret+Key0123456789EXAMPLE
blocksnap_account_id = $OTHER
EOF
chmod 600 "$BLOCKSNAP_SHARED_CREDENTIALS_FILE"
cat >"$T/aws-credentials" <<EOF
[default]
aws_access_key_id = AKIAOWNEREXAMPLE
aws_secret_access_key = owner/Secret+Key0123456789EXAMPLE
[other]
aws_access_key_id = AKIAOTHEREXAMPLE
aws_secret_access_key = other/Secret+Key0123456789EXAMPLE
[wrong]
aws_access_key_id = AKIAOWNEREXAMPLE
aws_secret_access_key = not-the-secret
[unknown]
aws_access_key_id = AKIANOSUCHKEY
aws_secret_access_key = whatever
EOF
: >"$T/aws-config"

# serve_start NAME [SERVE OPTIONS...]: `blocksnap serve --listen
# 127.0.0.1:0` on the test's store (created in region $REGION when
# missing); sets SERVE_PID, SERVE_PORT and ENDPOINT, logs in
# $T/serve-NAME.log.  Stopped at the end of the test.
serve_start() {
    local name=$1 out=$T/serve-$1.out
    shift
    [ -e "$STORE/config" ] || bs --region "$REGION" create-store >/dev/null ||
        die "create the store"
    : >"$out"
    ${BLOCKSNAP_WRAPPER:-} "$BLOCKSNAP" --store "$STORE" serve --listen 127.0.0.1:0 "$@" \
        >"$out" 2>"$T/serve-$name.log" &
    SERVE_PID=$!
    on_cleanup_pid "$SERVE_PID"
    on_cleanup "_check_sanitizer '$T/serve-$name.log' 'blocksnap serve ($name)'"
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q '^listening on ' "$out" && break
        kill -0 "$SERVE_PID" 2>/dev/null || die "serve $name did not start: $(cat "$T/serve-$name.log")"
        sleep 0.1
    done
    grep -q '^listening on ' "$out" || die "serve $name did not start in 30 s"
    SERVE_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
    ENDPOINT=http://127.0.0.1:$SERVE_PORT
    info "serve $name: pid $SERVE_PID, $ENDPOINT"
}

# serve_stop: SIGTERM, and its exit status in SERVE_RC.
serve_stop() {
    kill -TERM "$SERVE_PID"
    SERVE_RC=0
    wait "$SERVE_PID" || SERVE_RC=$?
}

# awsc [--profile P] ARGS...: the stock aws CLI against the server, as the
# account of profile P (default: the owner), JSON output.
awsc() {
    env -i PATH=/usr/bin:/bin HOME="$T" AWS_SHARED_CREDENTIALS_FILE="$T/aws-credentials" \
        AWS_CONFIG_FILE="$T/aws-config" AWS_EC2_METADATA_DISABLED=true AWS_PAGER= \
        aws --endpoint-url "$ENDPOINT" --region "$REGION" --output json "$@"
}

# aws_fail CODE CMD...: CMD (awsc …) fails with exit 254 and names CODE.
aws_fail() {
    local code=$1 rc=0
    shift
    "$@" >"$T/fail.stdout" 2>"$T/fail.stderr" || rc=$?
    info "\$ ${*} -> exit $rc: $(head -c 300 "$T/fail.stderr")"
    [ "$rc" = 254 ] || die "'$*' exited $rc, expected 254"
    grep -qF "($code)" "$T/fail.stderr" || die "'$*': stderr does not name ($code)"
}

# same_doc AWS_JSON BSNAP_JSON: the aws CLI's answer and blocksnap's for
# the same store hold the same values; timestamps are compared as instants
# (the aws CLI prints +00:00 and microseconds, blocksnap Z and
# milliseconds); members only blocksnap has (its extensions, which EC2's
# model does not name) may be missing from the aws CLI's.
same_doc() {
    python3 - "$1" "$2" <<'PY'
import json, re, sys
from datetime import datetime
# blocksnap's own members, and EC2's newer than this aws CLI's model
EXTENSIONS = {"DetectedBootMode", "Writable", "Path", "ParentSnapshotId", "DataBytes",
              "BytesRead", "BytesWritten", "ChunkSize", "ChunksWritten", "DataChunks",
              "PagesWritten", "VolumeSizeBytes", "CompletionTime", "LastSnapshotId", "SizeBytes"}
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
def norm(v):
    if isinstance(v, str) and TS.match(v):
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
    return v
def cmp(a, b, path):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in b:
            if k not in a and k not in EXTENSIONS:
                missing.add("%s.%s" % (path, k))
        for k in a:
            if k not in b:
                sys.exit("%s.%s: the aws CLI has it, blocksnap does not" % (path, k))
            cmp(a[k], b[k], path + "." + k)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            sys.exit("%s: %d items from the aws CLI, %d from blocksnap" % (path, len(a), len(b)))
        for i, (x, y) in enumerate(zip(a, b)):
            cmp(x, y, "%s[%d]" % (path, i))
    elif norm(a) != norm(b):
        sys.exit("%s: aws CLI %r, blocksnap %r" % (path, a, b))
missing = set()
cmp(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), "")
if missing:
    sys.exit("blocksnap has these, the aws CLI's answer lacks them: %s" % sorted(missing))
PY
}
