#!/usr/bin/env bash
# Power loss during delete-snapshot: crash-delete.sh's trials with
# tests/tools/powerloss.so preloaded, and after each kill a simulated power
# cut: every write not yet fsync'd is lost (half the trials), or a random
# subset of them (the other half).  The same checks then hold: verify
# passes, earlier snapshots restore byte-identical, the operation run again
# succeeds, gc returns the store to the control's size.  Data is durable
# before the metadata that names it, or verify would find chunks missing
# (powerloss-lie.sh shows it would).
export CRASH_POWERLOSS=1
export CRASH_POINTS=${CRASH_POINTS:-15}
# shellcheck source=crash-delete.sh
source "$(dirname "$0")/crash-delete.sh"
