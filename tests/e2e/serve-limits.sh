#!/usr/bin/env bash
# serve-limits: a slow or greedy client cannot hold the server.  Clients
# that send a body, or headers, one byte a second hold their connections
# while the aws CLI's requests are answered as usual; a request that
# announces a body over --max-body is answered 413 RequestEntityTooLarge
# at once, without the body being sent; a body that grows past it without
# a length, and one slower than --timeout, close the connection; many
# connections at once are served; the store is as before throughout.
source "$(dirname "$0")/../lib/functions.sh"
source "$(dirname "$0")/../lib/serve-functions.sh"

bs --region "$REGION" create-store >/dev/null
head -c $((1 << 20)) /dev/urandom >"$T/vol.img"
snap=$(snapshot_create "$T/vol.img")
serve_start main --max-body 65536 --timeout 8 --threads 4
store_state >"$T/state.before"

step "clients sending a byte a second do not hold the others"
"$PY3" - "$SERVE_PORT" >"$T/slow.out" 2>&1 <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
body, head = [], []
for i in range(6):  # three that trickle a body, three that trickle headers
    s = socket.create_connection(("127.0.0.1", port))
    if i < 3:
        s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        body.append(s)
    else:
        head.append(s)
for t in range(7):
    for s in body:
        s.sendall(b"A")
    for s in head:
        s.sendall(b"POST / HTTP/1.1\r\n"[t:t + 1])
    time.sleep(1)
print("trickled 7 s")
PY
slow=$!
on_cleanup_pid "$slow"
"$PY3" - "$ENDPOINT" "$snap" >"$T/fast.out" <<'PY' || die "requests beside the slow clients: $(cat "$T/fast.out")"
import sys, time, boto3
ec2 = boto3.session.Session(aws_access_key_id="AKIAOWNEREXAMPLE",
                            aws_secret_access_key="owner/Secret+Key0123456789EXAMPLE",
                            region_name="us-east-1").client("ec2", endpoint_url=sys.argv[1])
time.sleep(1)
t0 = time.time()
worst = 0
for i in range(20):
    t = time.time()
    assert ec2.describe_snapshots(SnapshotIds=[sys.argv[2]])["Snapshots"][0]["SnapshotId"] == sys.argv[2]
    worst = max(worst, time.time() - t)
print("20 requests in %.2f s, the slowest %.3f s" % (time.time() - t0, worst))
assert worst < 2, worst
PY
info "$(cat "$T/fast.out")"
kill -0 "$slow" 2>/dev/null || die "the slow clients finished before the others were served"
wait "$slow" || die "the slow client failed: $(cat "$T/slow.out")"

step "a body over --max-body is refused at once, unread"
"$PY3" - "$SERVE_PORT" >"$T/big.out" <<'PY' || die "oversize: $(cat "$T/big.out")"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(10)
t = time.time()
# announce 100 MiB and send none of it: the answer must come anyway
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
          b"Content-Length: 104857600\r\n\r\n")
data = b""
while b"</Response>" not in data:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
status = data.split(b"\r\n", 1)[0]
print(status.decode(), "in %.2f s" % (time.time() - t))
assert b" 413 " in status, data[:400]
assert b"<Code>RequestEntityTooLarge</Code>" in data, data[-400:]
PY
info "$(cat "$T/big.out")"
st=$(head -c 70000 /dev/zero | tr '\0' a | curl -sS -o "$T/resp.xml" -w '%{http_code}' \
    -H 'Transfer-Encoding: chunked' --data-binary @- "$ENDPOINT/" || true)
info "a chunked body over the limit: HTTP '$st'"
[ "$st" != 200 ] || die "a chunked body over --max-body was taken"
"$PY3" - "$SERVE_PORT" >"$T/late.out" <<'PY' || die "slow body: $(cat "$T/late.out")"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
t = time.time()
try:
    while time.time() - t < 30:
        s.sendall(b"A")
        time.sleep(1)
except (BrokenPipeError, ConnectionResetError):
    print("closed after %.0f s" % (time.time() - t))
    sys.exit(0)
sys.exit("still open after 30 s")
PY
info "a body slower than --timeout: $(cat "$T/late.out")"

step "many connections at once"
"$PY3" - "$ENDPOINT" <<'PY' || die "concurrent requests failed"
import sys, concurrent.futures, boto3, botocore.config
cfg = botocore.config.Config(max_pool_connections=40, retries={"total_max_attempts": 1})
ec2 = boto3.session.Session(aws_access_key_id="AKIAOWNEREXAMPLE",
                            aws_secret_access_key="owner/Secret+Key0123456789EXAMPLE",
                            region_name="us-east-1").client("ec2", endpoint_url=sys.argv[1], config=cfg)
def one(_):
    return len(ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"])
with concurrent.futures.ThreadPoolExecutor(32) as ex:
    counts = list(ex.map(one, range(200)))
assert counts == [1] * 200, counts
print("200 requests from 32 threads: all answered")
PY
assert_store_unchanged "$T/state.before"
serve_stop
assert_eq "$SERVE_RC" 0 "serve's exit status"
