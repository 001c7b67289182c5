#!/usr/bin/env bash
# release-faults: a release build (-DBSNAP_FAULT_INJECTION=OFF, what
# `./dev build` and `./dev demo` make) has no failure-injection hooks:
# BLOCKSNAP_FAULT, which makes a test build fail on purpose, changes nothing.
# CTest says whether the build was configured with the hooks
# (BSNAP_FAULT_INJECTION=1: a test build, skipped); run by hand without it,
# a binary that has them is taken for a test build.  `./dev test` runs it
# in build/.
# shellcheck source=../lib/functions.sh
source "$(dirname "$0")/../lib/functions.sh"

case ${BSNAP_FAULT_INJECTION:-} in
1) skip "a test build (configured with -DBSNAP_FAULT_INJECTION=ON)" ;;
0) ;;
*) has_faults && skip "$BLOCKSNAP is a test build (failure injection compiled in)" ;;
esac

step "the binary does not read BLOCKSNAP_FAULT"
! grep -aq BLOCKSNAP_FAULT "$BLOCKSNAP" || die "BLOCKSNAP_FAULT found in the binary"

step "a snapshot with every fault point armed succeeds"
head -c $((1 << 20)) /dev/urandom >"$T/vol.img"
spec=pack-append:1,pack-sync:1,meta-commit:1,snapshot-batch:1,pack-record:1
snap=$(BLOCKSNAP_FAULT=$spec bs create-snapshot --quiet --volume "$T/vol.img" | json_get SnapshotId)
BLOCKSNAP_FAULT=$spec,restore-chunk:1,restore-rename:1,restore-direct:1 \
    bs create-volume --snapshot-id "$snap" --path "$T/back.img" >/dev/null
assert_same_file "$T/vol.img" "$T/back.img" "restore with every fault point armed"
BLOCKSNAP_FAULT=index-decref:1,gc-step:1 bs delete-snapshot --snapshot-id "$snap" >/dev/null
BLOCKSNAP_FAULT=index-decref:1,gc-step:1 bs gc >/dev/null
assert_verify_ok
