#!/usr/bin/env bash
# serve-auth: no request reaches a store unsigned or signed wrongly.  The
# stock aws CLI with a wrong secret (SignatureDoesNotMatch), an unknown
# key (AuthFailure), a region not served (AuthFailure); curl with no
# signature (MissingAuthenticationToken), a malformed one
# (IncompleteSignature), a signed request whose body was changed
# (SignatureDoesNotMatch), one signed 10 minutes ago (RequestExpired) and
# a presigned GET (served; expired: RequestExpired): each answered with
# EC2's XML error and status, the store unchanged, and no secret in the
# server's log.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/serve-functions.sh"

step "a store with a snapshot, served"
bs --region "$REGION" create-store >/dev/null
head -c $((1 << 20)) /dev/urandom >"$T/vol.img"
snap=$(snapshot_create "$T/vol.img")
serve_start main
store_state >"$T/state.before"

step "the aws CLI with a wrong secret, an unknown key, an unserved region"
aws_fail SignatureDoesNotMatch awsc --profile wrong ec2 delete-snapshot --snapshot-id "$snap"
aws_fail AuthFailure awsc --profile unknown ec2 delete-snapshot --snapshot-id "$snap"
REGION=eu-west-9 aws_fail AuthFailure awsc ec2 delete-snapshot --snapshot-id "$snap"
assert_store_unchanged "$T/state.before"

# sign METHOD QUERY BODY [SECS_AGO] [SECRET]: curl arguments of a request
# signed as botocore signs it (its SigV4Auth), for the owner's key.
sign() {
    "$PY3" - "$ENDPOINT" "$@" <<'PY'
import sys, datetime
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
endpoint, method, query, body = sys.argv[1:5]
ago = int(sys.argv[5]) if len(sys.argv) > 5 else 0
secret = sys.argv[6] if len(sys.argv) > 6 else "owner/Secret+Key0123456789EXAMPLE"
creds = Credentials("AKIAOWNEREXAMPLE", secret)
url = endpoint + "/" + ("?" + query if query else "")
req = AWSRequest(method=method, url=url, data=body.encode(),
                 headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"} if body else {})
class Auth(SigV4Auth):
    def _modify_request_before_signing(self, request):
        super()._modify_request_before_signing(request)
        t = datetime.datetime.utcnow() - datetime.timedelta(seconds=ago)
        request.context["timestamp"] = t.strftime("%Y%m%dT%H%M%SZ")
        request.headers.replace_header("X-Amz-Date", request.context["timestamp"])
if method == "PRESIGN":
    req = AWSRequest(method="GET", url=url)
    SigV4QueryAuth(creds, "ec2", "us-east-1", expires=int(ago or 60)).add_auth(req)
    print(req.url)
    sys.exit(0)
Auth(creds, "ec2", "us-east-1").add_auth(req)
for k, v in req.headers.items():
    print("-H")
    print("%s: %s" % (k, v))
print(req.url)
PY
}
# call EXPECTED_STATUS CODE CURL_ARGS...: the status and EC2 error code of
# the answer (CODE "-": a success).
call() {
    local want=$1 code=$2 st
    shift 2
    st=$(curl -sS -o "$T/resp.xml" -w '%{http_code}' "$@")
    info "HTTP $st: $(head -c 300 "$T/resp.xml")"
    assert_eq "$st" "$want" "HTTP status"
    if [ "$code" != - ]; then
        grep -q "<Code>$code</Code>" "$T/resp.xml" || die "answer does not name $code"
        grep -q '<RequestID>[0-9a-f-]\{36\}</RequestID>' "$T/resp.xml" || die "no RequestID"
    fi
}

body="Action=DeleteSnapshot&Version=2016-11-15&SnapshotId=$snap"
step "unsigned and malformed requests"
call 401 MissingAuthenticationToken -X POST --data "$body" "$ENDPOINT/"
call 401 MissingAuthenticationToken "$ENDPOINT/?Action=DescribeSnapshots&Version=2016-11-15"
call 400 IncompleteSignature -X POST --data "$body" -H 'X-Amz-Date: 20261123T051010Z' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=AKIAOWNEREXAMPLE/20261123/us-east-1/ec2/aws4_request, Signature=00' \
    "$ENDPOINT/"
call 400 IncompleteSignature -X POST --data "$body" -H 'Authorization: Basic b3duZXI6cHc=' "$ENDPOINT/"

step "signed requests: a body changed after signing, an old signature, a wrong secret"
mapfile -t args < <(sign POST "" "Action=DescribeSnapshots&Version=2016-11-15")
call 200 - -X POST --data "Action=DescribeSnapshots&Version=2016-11-15" "${args[@]}"
grep -q "<snapshotId>$snap</snapshotId>" "$T/resp.xml" || die "a signed request did not list the snapshot"
call 403 SignatureDoesNotMatch -X POST --data "$body" "${args[@]}"
mapfile -t args < <(sign POST "" "$body" 600)
call 400 RequestExpired -X POST --data "$body" "${args[@]}"
mapfile -t args < <(sign POST "" "$body" 0 not-the-secret)
call 403 SignatureDoesNotMatch -X POST --data "$body" "${args[@]}"
assert_store_unchanged "$T/state.before"

step "a signed GET with a query, and presigned URLs"
mapfile -t args < <(sign GET "Action=DescribeSnapshots&Version=2016-11-15&SnapshotId.1=$snap" "")
call 200 - "${args[@]}"
grep -q "<snapshotId>$snap</snapshotId>" "$T/resp.xml" || die "the GET did not list the snapshot"
url=$(sign PRESIGN "Action=DescribeSnapshots&Version=2016-11-15" "" 60)
call 200 - "$url"
url=$(sign PRESIGN "Action=DescribeSnapshots&Version=2016-11-15" "" 1)
sleep 2
call 400 RequestExpired "$url"

step "protocol errors"
mapfile -t args < <(sign POST "" "Version=2016-11-15")
call 400 MissingAction -X POST --data "Version=2016-11-15" "${args[@]}"
mapfile -t args < <(sign POST "" "Action=LaunchMissiles&Version=2016-11-15")
call 400 InvalidAction -X POST --data "Action=LaunchMissiles&Version=2016-11-15" "${args[@]}"
mapfile -t args < <(sign POST "" "Action=DescribeSnapshots&Version=2014-01-01")
call 400 NoSuchVersion -X POST --data "Action=DescribeSnapshots&Version=2014-01-01" "${args[@]}"
mapfile -t args < <(sign POST "" "Action=DescribeSnapshots&Version=2016-11-15&Bogus=1")
call 400 UnknownParameter -X POST --data "Action=DescribeSnapshots&Version=2016-11-15&Bogus=1" "${args[@]}"
mapfile -t args < <(sign POST "" "Action=DescribeSnapshots&Version=2016-11-15&X=%zz")
call 400 MalformedQueryString -X POST --data "Action=DescribeSnapshots&Version=2016-11-15&X=%zz" "${args[@]}"
call 400 InvalidAction -X PUT --data x "$ENDPOINT/elsewhere"
assert_store_unchanged "$T/state.before"

step "no secret in the log"
serve_stop
assert_eq "$SERVE_RC" 0 "serve's exit status"
! grep -q 'Secret+Key\|not-the-secret' "$T/serve-main.log" || die "a secret is in the server's log"
grep -q 'SignatureDoesNotMatch' "$T/serve-main.log" || die "the log does not name refused requests"
