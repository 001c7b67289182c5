/* main.c - the blocksnap CLI: the verb table and the dispatcher.
 *
 * The tables below are the one source of usage text: help.c prints --help,
 * `blocksnap help VERB` and the man page (docs/blocksnap.1) from them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

const struct opt global_options[] = {
    {"store", OPT_VALUE, "DIR", "store directory (default: $BLOCKSNAP_STORE or region local)",
     false},
    {"region", OPT_VALUE, "NAME", "use the region's store (default $XDG_DATA_HOME/blocksnap/NAME)",
     false},
    {"profile", OPT_VALUE, "NAME", "use this profile of the config files (default: default)",
     false},
    {"output", OPT_VALUE, "FORMAT", "json, text or table (default json; diff: text)", false},
    {"quiet", OPT_FLAG, NULL, "no progress bar and no summary on stderr", false},
    {"query", OPT_VALUE, "JMESPATH", "print only what this JMESPath expression selects", false},
    {"max-items", OPT_VALUE, "N", "print at most N results, then NextToken (lists)", false},
    {"starting-token", OPT_VALUE, "TOKEN", "go on where that NextToken of --max-items left off",
     false},
    {"page-size", OPT_VALUE, "N", "fetch the results N at a time (5 to 1000; lists)", false},
    {"dry-run", OPT_FLAG, NULL, "check the request and change nothing (DryRunOperation)", false},
    {"no-dry-run", OPT_FLAG, NULL, "do it (the default)", false},
    {"help", OPT_FLAG, NULL, "print this help and exit", false},
    {"version", OPT_FLAG, NULL, "print the version and exit", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt create_snapshot_options[] = {
    {"volume", OPT_VALUE, "PATH", "raw image file, block device or NBD URI to snapshot", false},
    {"volume-id", OPT_VALUE, "ID", "or: the volume (vol-...) whose path to read", false},
    {"description", OPT_VALUE, "TEXT", "description, at most 255 characters", false},
    {"parent", OPT_VALUE, "SNAP", "diff against this snapshot (default: the latest)", false},
    {"full", OPT_FLAG, NULL, "ignore any parent and read the whole volume", false},
    {"changed-blocks", OPT_VALUE, "FILE",
     "read only these OFFSET LENGTH ranges (or nbd:CONTEXT: an NBD bitmap's)", false},
    {"tags", OPT_LIST, "Key=K,Value=V", "tags of the new snapshot (shorthand or JSON)", false},
    {"threads", OPT_VALUE, "N", "hash and compress workers (default: one per core)", false},
    {"encrypted", OPT_FLAG, NULL, "encrypt it at rest (a new lineage is full)", false},
    {"kms-key-id", OPT_VALUE, "KEY", "key of a new encrypted lineage (default: EBS default)",
     false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt backup_vm_options[] = {
    {"qmp", OPT_VALUE, "SOCKET", "the running QEMU's QMP unix socket (-qmp unix:SOCKET)", true},
    {"disks", OPT_LIST, "NODE", "only these block nodes (default: every writable disk)", false},
    {"full", OPT_FLAG, NULL, "read every disk whole (still stores only what changed)", false},
    {"freeze", OPT_FLAG, NULL, "freeze the guest's file systems for the instant", false},
    {"qga", OPT_VALUE, "SOCKET", "the guest agent's socket, for --freeze", false},
    {"qmp-timeout", OPT_VALUE, "SECONDS", "wait this long for each QMP answer (default 30)", false},
    {"description", OPT_VALUE, "TEXT", "the snapshots' description", false},
    {"tags", OPT_LIST, "Key=K,Value=V", "tags of the snapshots (shorthand or JSON)", false},
    {"register-image", OPT_VALUE, "NAME", "register the snapshots as an image (root: first disk)",
     false},
    {"no-boot-check", OPT_FLAG, NULL, "register it even if the root disk does not look bootable",
     false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt copy_snapshot_options[] = {
    {"source-region", OPT_VALUE, "NAME", "the region (named store) the snapshot is in", false},
    {"source-store", OPT_VALUE, "DIR", "or: the source store's directory", false},
    {"source-snapshot-id", OPT_VALUE, "ID", "the snapshot to copy", true},
    {"description", OPT_VALUE, "TEXT", "description (default: [Copied SNAP from REGION])", false},
    {"tags", OPT_LIST, "Key=K,Value=V", "tags of the copy (shorthand or JSON)", false},
    {"client-token", OPT_VALUE, "TOKEN", "the same token returns the same copy", false},
    {"encrypted", OPT_FLAG, NULL, "encrypt the copy (an encrypted source's always is)", false},
    {"kms-key-id", OPT_VALUE, "KEY", "the copy's key (with --encrypted; default key)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt copy_image_options[] = {
    {"source-region", OPT_VALUE, "NAME", "the region (named store) the image is in", false},
    {"source-store", OPT_VALUE, "DIR", "or: the source store's directory", false},
    {"source-image-id", OPT_VALUE, "ID", "the image to copy", true},
    {"name", OPT_VALUE, "NAME", "the new image's name", true},
    {"description", OPT_VALUE, "TEXT", "the new image's description", false},
    {"copy-image-tags", OPT_FLAG, NULL, "copy the image's tags too", false},
    {"client-token", OPT_VALUE, "TOKEN", "the same token returns the same copy", false},
    {"encrypted", OPT_FLAG, NULL, "encrypt the copy (an encrypted source's always is)", false},
    {"kms-key-id", OPT_VALUE, "KEY", "the copy's key (with --encrypted; default key)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt describe_snapshots_options[] = {
    {"snapshot-ids", OPT_LIST, "ID", "only these snapshots", false},
    {"owner-ids", OPT_LIST, "OWNER", "only those of these owners: self or account ids", false},
    {"restorable-by-user-ids", OPT_LIST, "USER", "only those these may restore: self, all or ids",
     false},
    {"filters", OPT_LIST, "Name=N,Values=V", "EC2 filters: volume-id, status, tag:KEY, ...", false},
    {"max-results", OPT_VALUE, "N", "at most N per page (5 or more; above 1000: 1000)", false},
    {"next-token", OPT_VALUE, "TOKEN", "the page after the one that printed this NextToken", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt describe_volume_usage_options[] = {
    {"volume-ids", OPT_LIST, "ID", "the volumes to measure", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt describe_snapshot_usage_options[] = {
    {"snapshot-ids", OPT_LIST, "ID", "the snapshots to measure", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt ebs_start_snapshot_options[] = {
    {"volume-size", OPT_VALUE, "GIB", "the volume's size in GiB (1 to 65536)", true},
    {"parent-snapshot-id", OPT_VALUE, "ID", "a completed snapshot the new one reads as", false},
    {"description", OPT_VALUE, "TEXT", "description (at most 255 characters)", false},
    {"tags", OPT_LIST, "KEY=VALUE", "tags of the snapshot (Key=K,Value=V)", false},
    {"timeout", OPT_VALUE, "MINUTES", "cancel it after this long unwritten (10-4320, 60)", false},
    {"client-token", OPT_VALUE, "TOKEN", "make a retry return the same snapshot", false},
    {"encrypted", OPT_FLAG, NULL, "encrypt it (refused: not written through EBS direct)", false},
    {"kms-key-arn", OPT_VALUE, "ARN", "the key to encrypt with (refused, as --encrypted)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt ebs_put_snapshot_block_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the pending snapshot", true},
    {"block-index", OPT_VALUE, "N", "the block: its byte offset / 524288", true},
    {"block-data", OPT_VALUE, "FILE", "the block's 524288 bytes (- : standard input)", true},
    {"data-length", OPT_VALUE, "BYTES", "the block's length: 524288", true},
    {"checksum", OPT_VALUE, "B64", "Base64 of the SHA-256 of the data", true},
    {"checksum-algorithm", OPT_VALUE, "SHA256", "the checksum's algorithm: SHA256", true},
    {"progress", OPT_VALUE, "PERCENT", "how far the upload is (0-100)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt ebs_complete_snapshot_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the pending snapshot", true},
    {"changed-blocks-count", OPT_VALUE, "N", "how many blocks were written", true},
    {"checksum", OPT_VALUE, "B64", "the aggregate checksum of the blocks", false},
    {"checksum-algorithm", OPT_VALUE, "SHA256", "the checksum's algorithm: SHA256", false},
    {"checksum-aggregation-method", OPT_VALUE, "LINEAR", "how it aggregates: LINEAR", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt ebs_list_snapshot_blocks_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the completed snapshot", true},
    {"max-results", OPT_VALUE, "N", "blocks per page (100-10000; below 100: 100)", false},
    {"starting-block-index", OPT_VALUE, "N", "list from this block on", false},
    {"next-token", OPT_VALUE, "TOKEN", "the page after the one that gave this NextToken", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt ebs_list_changed_blocks_options[] = {
    {"second-snapshot-id", OPT_VALUE, "ID", "the later snapshot", true},
    {"first-snapshot-id", OPT_VALUE, "ID", "the earlier one (none: every block of the second)",
     false},
    {"max-results", OPT_VALUE, "N", "blocks per page (100-10000; below 100: 100)", false},
    {"starting-block-index", OPT_VALUE, "N", "list from this block on", false},
    {"next-token", OPT_VALUE, "TOKEN", "the page after the one that gave this NextToken", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt ebs_get_snapshot_block_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the completed snapshot", true},
    {"block-index", OPT_VALUE, "N", "the block", true},
    {"block-token", OPT_VALUE, "TOKEN", "the block's token from a listing", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt modify_snapshot_attribute_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the snapshot to share or unshare", true},
    {"attribute", OPT_VALUE, "NAME", "createVolumePermission (the default)", false},
    {"create-volume-permission", OPT_VALUE, "PERM", "Add=[{UserId=ID},{Group=all}] or Remove=[...]",
     false},
    {"operation-type", OPT_VALUE, "OP", "or: add or remove the --user-ids and --group-names",
     false},
    {"user-ids", OPT_LIST, "ID", "accounts (12 digits) to add or remove", false},
    {"group-names", OPT_LIST, "all", "the group all: everyone (public)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt describe_snapshot_attribute_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the snapshot", true},
    {"attribute", OPT_VALUE, "NAME", "createVolumePermission or productCodes", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt reset_snapshot_attribute_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the snapshot to make private again", true},
    {"attribute", OPT_VALUE, "NAME", "createVolumePermission", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt delete_volume_options[] = {
    {"volume-id", OPT_VALUE, "ID", "the volume whose record to delete", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt prune_snapshots_options[] = {
    {"volume-id", OPT_VALUE, "ID", "only this volume's snapshots (default: every volume's)", false},
    {"keep-last", OPT_VALUE, "N", "keep the N newest", false},
    {"keep-hourly", OPT_VALUE, "N", "keep the newest of each of the N newest hours", false},
    {"keep-daily", OPT_VALUE, "N", "keep the newest of each of the N newest days", false},
    {"keep-weekly", OPT_VALUE, "N", "keep the newest of each of the N newest weeks", false},
    {"keep-monthly", OPT_VALUE, "N", "keep the newest of each of the N newest months", false},
    {"keep-yearly", OPT_VALUE, "N", "keep the newest of each of the N newest years", false},
    {"keep-within", OPT_VALUE, "DURATION",
     "keep those taken within DURATION (7d, 1y6m) of the newest", false},
    {"dry-run", OPT_FLAG, NULL, "print the plan and change nothing", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt delete_snapshot_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the snapshot to delete", false},
    {"snapshot-ids", OPT_LIST, "ID", "or several, each deleted or refused on its own", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt diff_options[] = {
    {"first-snapshot-id", OPT_VALUE, "ID", "the older snapshot (or the first argument)", false},
    {"second-snapshot-id", OPT_VALUE, "ID", "the newer snapshot (or the second argument)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt create_volume_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "the snapshot to restore or to start from", true},
    {"path", OPT_VALUE, "PATH", "restore into this raw image file, or a block device", false},
    {"force", OPT_FLAG, NULL, "replace what is at PATH, or write the block device", false},
    {"size", OPT_VALUE, "GIB", "without --path: the size in GiB (default: the snapshot's)", false},
    {"volume-type", OPT_VALUE, "TYPE", "without --path: gp2 (default), gp3, io1, io2, st1, ...",
     false},
    {"encrypted", OPT_FLAG, NULL, "without --path: encrypt the volume at rest", false},
    {"kms-key-id", OPT_VALUE, "KEY", "without --path: its key (with --encrypted; default key)",
     false},
    {"tags", OPT_LIST, "Key=K,Value=V", "without --path: tags of the new volume", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt describe_volumes_options[] = {
    {"volume-ids", OPT_LIST, "ID", "only these volumes", false},
    {"filters", OPT_LIST, "Name=N,Values=V", "EC2 filters: volume-id, snapshot-id, tag:KEY, ...",
     false},
    {"max-results", OPT_VALUE, "N", "at most N per page (5 or more; above 1000: 1000)", false},
    {"next-token", OPT_VALUE, "TOKEN", "the page after the one that printed this NextToken", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt create_tags_options[] = {
    {"resources", OPT_LIST, "ID", "snapshots, volumes and images to tag", true},
    {"tags", OPT_LIST, "Key=K,Value=V", "tags to add or overwrite", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt delete_tags_options[] = {
    {"resources", OPT_LIST, "ID", "snapshots, volumes and images to untag", true},
    {"tags", OPT_LIST, "Key=K[,Value=V]", "tags to remove (default: all)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt verify_options[] = {
    {"snapshot-id", OPT_VALUE, "ID", "check only this snapshot (default: the store)", false},
    {"repair", OPT_FLAG, NULL, "rebuild the metadata from what can be read, then check", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt gc_options[] = {
    {"max-unused", OPT_VALUE, "PERCENT",
     "rewrite a pack only when more than PERCENT of it is unused (default 5; 0: any)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt create_store_options[] = {
    {"chunk-size", OPT_VALUE, "SIZE", "a power of two from 4K to 4M, e.g. 16K (default 64K)",
     false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt register_image_options[] = {
    {"name", OPT_VALUE, "NAME", "3-128 of letters, digits and ()[] ./-'@_", false},
    {"block-device-mappings", OPT_LIST, "JSON|SHORTHAND",
     "DeviceName=/dev/xvda,Ebs={SnapshotId=snap-...} or a JSON array", false},
    {"root-device-name", OPT_VALUE, "DEVICE", "the root device (default: the first mapping)",
     false},
    {"architecture", OPT_VALUE, "ARCH", "x86_64 (default), arm64, i386, ...", false},
    {"virtualization-type", OPT_VALUE, "TYPE", "hvm (default) or paravirtual", false},
    {"boot-mode", OPT_VALUE, "MODE", "legacy-bios, uefi or uefi-preferred (default: detected)",
     false},
    {"description", OPT_VALUE, "TEXT", "description, at most 255 characters", false},
    {"ena-support", OPT_FLAG, NULL, "the image supports ENA networking", false},
    {"no-ena-support", OPT_FLAG, NULL, "the image does not support ENA (the default)", false},
    {"no-boot-check", OPT_FLAG, NULL, "register a root volume that does not look bootable", false},
    {"tags", OPT_LIST, "Key=K,Value=V", "tags of the new image", false},
    {"cli-input-json", OPT_VALUE, "JSON|file://PATH",
     "the whole request, e.g. a describe-images document; flags override it", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt create_image_options[] = {
    {"name", OPT_VALUE, "NAME", "3-128 of letters, digits and ()[] ./-'@_", true},
    {"instance-id", OPT_VALUE, "ID", "an instance: an image of its volumes", false},
    {"volume", OPT_LIST, "DEVICE=PATH", "or a volume of a machine, e.g. /dev/xvda=root.img", false},
    {"no-reboot", OPT_FLAG, NULL, "with --instance-id: pause it instead of a shutdown", false},
    {"reboot", OPT_FLAG, NULL, "shut it down, snapshot, start it again (the default)", false},
    {"block-device-mappings", OPT_LIST, "JSON|SHORTHAND",
     "with --instance-id: change DeleteOnTermination, drop or add devices", false},
    {"tag-specifications", OPT_LIST, "ResourceType=T,Tags=[{Key=K,Value=V}]",
     "tags of the image and of its snapshots (T: image, snapshot)", false},
    {"stop-timeout", OPT_VALUE, "SECONDS", "the guest's time to power off (default 120)", false},
    {"root-device-name", OPT_VALUE, "DEVICE", "the root device (default: the first volume)", false},
    {"architecture", OPT_VALUE, "ARCH", "x86_64 (default), arm64, i386, ...", false},
    {"virtualization-type", OPT_VALUE, "TYPE", "hvm (default) or paravirtual", false},
    {"boot-mode", OPT_VALUE, "MODE", "legacy-bios, uefi or uefi-preferred (default: detected)",
     false},
    {"description", OPT_VALUE, "TEXT", "description, at most 255 characters", false},
    {"ena-support", OPT_FLAG, NULL, "the image supports ENA networking", false},
    {"no-ena-support", OPT_FLAG, NULL, "the image does not support ENA (the default)", false},
    {"no-boot-check", OPT_FLAG, NULL, "register a root volume that does not look bootable", false},
    {"tags", OPT_LIST, "Key=K,Value=V", "tags of the new image", false},
    {"threads", OPT_VALUE, "N", "hash and compress workers per volume", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt describe_images_options[] = {
    {"image-ids", OPT_LIST, "ID", "only these images", false},
    {"owners", OPT_LIST, "OWNER", "self or account ids", false},
    {"executable-users", OPT_LIST, "USER", "only those these may use: self, all or ids", false},
    {"filters", OPT_LIST, "Name=N,Values=V", "EC2 filters: name, state, tag:KEY, ...", false},
    {"max-results", OPT_VALUE, "N", "at most N per page (5 or more; above 1000: 1000)", false},
    {"next-token", OPT_VALUE, "TOKEN", "the page after the one that printed this NextToken", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt deregister_image_options[] = {
    {"image-id", OPT_VALUE, "ID", "the image to deregister", true},
    {"delete-associated-snapshots", OPT_FLAG, NULL,
     "also delete its snapshots that no other image uses", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt describe_image_attribute_options[] = {
    {"image-id", OPT_VALUE, "ID", "the image", true},
    {"attribute", OPT_VALUE, "NAME", "description, bootMode, launchPermission, ...", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt modify_image_attribute_options[] = {
    {"image-id", OPT_VALUE, "ID", "the image", true},
    {"description", OPT_VALUE, "TEXT", "the new description (or Value=TEXT)", false},
    {"attribute", OPT_VALUE, "NAME", "the attribute to change: description, launchPermission",
     false},
    {"value", OPT_VALUE, "TEXT", "its new value", false},
    {"launch-permission", OPT_VALUE, "PERM", "Add=[{UserId=ID},{Group=all}],Remove=[...]", false},
    {"operation-type", OPT_VALUE, "OP", "or: add or remove the --user-ids and --user-groups",
     false},
    {"user-ids", OPT_LIST, "ID", "accounts (12 digits) to add or remove", false},
    {"user-groups", OPT_LIST, "all", "the group all: everyone (public)", false},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt reset_image_attribute_options[] = {
    {"image-id", OPT_VALUE, "ID", "the image to make private again", true},
    {"attribute", OPT_VALUE, "NAME", "launchPermission", true},
    {NULL, 0, NULL, NULL, false},
};

static const struct opt configure_options[] = {
    {NULL, 0, NULL, NULL, false},
};

const struct verb verbs[] = {
    {"create-snapshot", cmd_create_snapshot, "take an incremental snapshot of a volume",
     "(--volume PATH|URI | --volume-id ID) [options]", create_snapshot_options, 0,
     "Prints the snapshot as EC2's CreateSnapshot does and, unless --quiet, one summary line "
     "on stderr: bytes of the volume, bytes read, bytes newly stored, chunks new, reused and "
     "zero (adding up to the volume's chunks), block-map pages new, seconds and MiB/s.  The "
     "first snapshot of a volume is full, later ones store only chunks that changed.  A "
     "--changed-blocks file (a pipe or /dev/stdin too) lists byte ranges, one \"OFFSET LENGTH\" "
     "line each, sorted; everything else is taken from the parent, so it must list every byte "
     "written since the parent snapshot.  A list from `blocksnap diff A B` is refused unless "
     "the parent is A.  --volume may be an NBD URI as libnbd takes it "
     "(nbd+unix:///EXPORT?socket=PATH, nbd://HOST:PORT/EXPORT, nbds:// for TLS), e.g. "
     "qemu-nbd serving a qcow2 disk: holes and zero extents (base:allocation) are not read, "
     "and the volume is recorded under the URI without user name or query parameters other "
     "than socket; with --volume-id too, that volume is read from this URI.  --changed-blocks "
     "nbd:qemu:dirty-bitmap:NAME reads only the extents the bitmap NAME of that export marks "
     "dirty (qemu-nbd -B NAME) and needs --parent: the snapshot of the same volume taken when "
     "the bitmap was created or last cleared.  A volume resized or replaced while it is read "
     "fails the snapshot "
     "(VolumeChanged).  A volume whose snapshots are encrypted stays encrypted under the same "
     "key; --encrypted starts an encrypted lineage (a full snapshot) under --kms-key-id, else "
     "the EBS default key, as does a volume's first snapshot when encryption by default is "
     "on.",
     true},
    {"backup-vm", cmd_backup_vm, "snapshot every disk of a running QEMU machine",
     "--qmp SOCKET [options]", backup_vm_options, 0,
     "Drives a running QEMU through its QMP socket: in one QMP transaction it adds a dirty "
     "bitmap to each disk and starts a point-in-time view of it (image fleecing: "
     "blockdev-backup sync=none into a temporary qcow2 overlay, made with qemu-img), exports "
     "the views over NBD on a private socket and snapshots each disk through it, then removes "
     "the export, the job, the overlay and the previous run's bitmap.  The first run of a "
     "disk (or with --full) reads it whole, storing only chunks the store lacks; later runs "
     "read only what the previous run's bitmap marks dirty, with the snapshot taken when that "
     "bitmap was added as the parent (the snapshot's tag blocksnap:vm-bitmap names it).  When "
     "the bitmap is gone (QEMU restarted and the format keeps none) the disk is read whole "
     "again, said on stderr.  On any failure everything is removed again, the new bitmaps "
     "dropped and the old kept, and the store left as it was.  The disks: --disks, else "
     "every drive with writable media, else every writable format node.  Prints the "
     "snapshots as describe-snapshots does, with NodeName, Incremental, DirtyBitmap and "
     "BytesRead.  --register-image NAME registers the snapshots as one image "
     "(RegisterImage), the first disk the root /dev/xvda, the others /dev/xvdb and on in "
     "disk order; a registration refused (a root disk that does not look bootable without "
     "--no-boot-check, a name taken) fails the run as a whole.  Each answer of QEMU and of "
     "the guest agent is awaited --qmp-timeout seconds (default 30; 1 to 86400), after which "
     "the run fails with QmpTimeout and is undone.",
     true},
    {"copy-snapshot", cmd_copy_snapshot, "copy a snapshot from another region's store",
     "(--source-region NAME | --source-store DIR) --source-snapshot-id ID [options]",
     copy_snapshot_options, 0,
     "Copies into this store (--store/--region) only the chunks it lacks, then records the "
     "copy in one final step.  A copy of a snapshot whose parent was copied here before is "
     "incremental against that copy when both are under the same key.  Interrupted or "
     "killed, the same command (or the same --client-token) continues where it stopped; after "
     "success it prints the same id again.  The source store is only read, under a shared "
     "lock.  The copy is encrypted when the source is, with --encrypted, or with encryption by "
     "default on here: under --kms-key-id, else this region's default key (an encrypted source "
     "is re-encrypted; a same-region copy under the source's own key stores nothing).  Another "
     "account's encrypted snapshot is copied only with a grant of Decrypt on its key.",
     true},
    {"describe-snapshots", cmd_describe_snapshots, "list snapshots as EC2's DescribeSnapshots",
     "[--snapshot-ids ID ...] [--owner-ids OWNER ...] [--restorable-by-user-ids USER ...] "
     "[--filters Name=N,Values=V ...] [--max-results N] [--next-token TOKEN]",
     describe_snapshots_options, 0,
     "Lists the account's snapshots and those shared with it (without their owner's tags).  "
     "--restorable-by-user-ids self keeps those the account owns or that are shared with it "
     "by id, all the public ones, an account id those that account may restore.  "
     "Filters: description, snapshot-id, volume-id, volume-size, status, start-time, "
     "owner-id, parent-snapshot-id, tag:KEY, tag-key.  Values of one filter are OR-ed, filters "
     "are AND-ed; values may use the wildcards * and ?."
     "  Results come sorted by id; with --max-results N, at most N of them and, when more remain, "
     "a NextToken to give as --next-token (with the same filters) for the next page.  "
     "--max-results and --next-token do not go with the ids.",
     false},
    {"modify-snapshot-attribute", cmd_modify_snapshot_attribute,
     "share a snapshot with accounts, or publicly",
     "--snapshot-id ID --create-volume-permission PERM | --snapshot-id ID --operation-type "
     "add|remove [--user-ids ID ...] [--group-names all]",
     modify_snapshot_attribute_options, 0,
     "An account given the permission (or everyone, with the group all) sees the snapshot in "
     "describe-snapshots and may restore it (create-volume) and copy it, but not delete, tag "
     "or share it, and does not see its tags.  Adds and removes go in separate calls; every "
     "item is checked before anything changes.  Only the owner may change the permissions.  "
     "Prints nothing.",
     true},
    {"describe-snapshot-attribute", cmd_describe_snapshot_attribute,
     "print a snapshot's create-volume permissions", "--snapshot-id ID --attribute NAME",
     describe_snapshot_attribute_options, 0,
     "Prints {\"SnapshotId\", \"CreateVolumePermissions\": [{\"Group\": \"all\"}, "
     "{\"UserId\": ID}, ...]} (an empty list: private), or its ProductCodes (always empty).  "
     "Only the owner may ask.",
     false},
    {"reset-snapshot-attribute", cmd_reset_snapshot_attribute, "make a snapshot private again",
     "--snapshot-id ID --attribute createVolumePermission", reset_snapshot_attribute_options, 0,
     "Removes every create-volume permission.  Prints nothing.", true},
    {"delete-snapshot", cmd_delete_snapshot, "delete a snapshot",
     "--snapshot-id ID | --snapshot-ids ID ...", delete_snapshot_options, 0,
     "Frees only what no other snapshot shares; run `blocksnap gc` to return the space of "
     "pack files.  With --snapshot-ids each one is deleted or refused on its own (one an "
     "image uses: InvalidSnapshot.InUse) and a list is printed: {\"DeleteSnapshotResults\": "
     "[{\"SnapshotId\", \"ReturnCode\": success|skipped|missing|client-error, \"Error\"}]}; "
     "exits 1 when any was refused.  --snapshot-id prints nothing.",
     true},
    {"prune-snapshots", cmd_prune_snapshots, "delete a volume's snapshots by keep rules",
     "[--volume-id ID] --keep-last N | --keep-daily N | ... [--dry-run]", prune_snapshots_options,
     0,
     "Keeps, per volume, what restic's and borg's forget --keep-* keep, and deletes the "
     "caller's other completed snapshots as delete-snapshot does.  The snapshots of a volume "
     "are walked newest first: --keep-hourly (daily, weekly, monthly, yearly) N keeps the "
     "newest snapshot of each of the N newest UTC hours (days, weeks from Monday, months, "
     "years) that hold one; --keep-last N the N newest; --keep-within D every one taken less "
     "than D before the newest.  The rules add up; at least one is required.  A snapshot an "
     "image uses is always kept; pending and failed ones are left alone.  Prints "
     "{\"DryRun\", \"PruneSnapshotResults\": [{\"SnapshotId\", \"VolumeId\", \"StartTime\", "
     "\"Action\": "
     "keep|delete|deleted|failed, \"KeptBy\": [rules, \"used by ami-...\"]}]}; --dry-run "
     "changes nothing.  Exits 1 when a snapshot could not be deleted.  A second run deletes "
     "nothing more; run `blocksnap gc` to return the space of pack files.",
     true},
    {"create-lifecycle-policy", cmd_create_lifecycle_policy,
     "create a policy that takes and retains snapshots on a schedule (DLM)",
     "--description TEXT --state ENABLED|DISABLED --policy-details JSON|file://PATH "
     "[--execution-role-arn ARN]",
     create_policy_options, 0,
     "Prints {\"PolicyId\"}.  The details are Amazon DLM's PolicyDetails: "
     "{\"PolicyType\": \"EBS_SNAPSHOT_MANAGEMENT\", \"ResourceTypes\": [\"VOLUME\"], "
     "\"TargetTags\": [{\"Key\", \"Value\"}], \"TargetVolumeIds\": [vol-...], "
     "\"Schedules\": [{\"Name\", \"CreateRule\": {\"Interval\": 1|2|3|4|6|8|12|24, "
     "\"IntervalUnit\": \"HOURS\", \"Times\": [\"hh:mm\"]}, \"RetainRule\": "
     "{\"Count\": N} or {\"Interval\": N, \"IntervalUnit\": DAYS|WEEKS|MONTHS|YEARS}, "
     "\"TagsToAdd\": [{\"Key\", \"Value\"}], \"CopyTags\": true|false}]}.  "
     "TargetVolumeIds is blocksnap's (volumes by id); a policy needs it or TargetTags (a "
     "volume with one of the tags).  One to four schedules.  A CronExpression and DLM's "
     "other rules (copy, share, archive, fast restore) are refused "
     "(InvalidRequestException), as is any unknown field.  The role ARN is kept and shown "
     "only.  At most 100 policies.  The policy does nothing until run-lifecycle-policies "
     "runs it (from a timer).",
     true},
    {"get-lifecycle-policies", cmd_get_lifecycle_policies, "list lifecycle policies (DLM)",
     "[--policy-ids ID ...] [--state STATE] [--resource-types VOLUME] [--target-tags K=V ...] "
     "[--tags-to-add K=V ...]",
     get_policies_options, 0,
     "Prints {\"Policies\": [{\"PolicyId\", \"Description\", \"State\", \"Tags\", "
     "\"PolicyType\"}]} in id order.  The filters are AND-ed, the values of one OR-ed.",
     false},
    {"get-lifecycle-policy", cmd_get_lifecycle_policy, "print a lifecycle policy (DLM)",
     "--policy-id ID", policy_id_options, 0,
     "Prints {\"Policy\": {\"PolicyId\", \"Description\", \"State\", "
     "\"StatusMessage\", \"ExecutionRoleArn\", \"DateCreated\", \"DateModified\", "
     "\"PolicyDetails\", \"PolicyArn\"}}; an unknown id is ResourceNotFoundException.",
     false},
    {"update-lifecycle-policy", cmd_update_lifecycle_policy, "change a lifecycle policy (DLM)",
     "--policy-id ID [--description TEXT] [--state ENABLED|DISABLED] "
     "[--policy-details JSON|file://PATH] [--execution-role-arn ARN]",
     update_policy_options, 0,
     "What is given replaces the policy's; the details are checked as create's.  Prints {}.", true},
    {"delete-lifecycle-policy", cmd_delete_lifecycle_policy, "delete a lifecycle policy (DLM)",
     "--policy-id ID", policy_id_options, 0,
     "The snapshots it took stay, and no run deletes them any more.  Prints {}.", true},
    {"run-lifecycle-policies", cmd_run_lifecycle_policies,
     "take the snapshots policies say are due, delete those they no longer retain",
     "[--policy-ids ID ...] [--now TIME]", run_policies_options, 0,
     "What a timer calls (blocksnap-lifecycle.timer).  For each enabled policy, each "
     "schedule and each target volume: a snapshot is taken when the schedule has none of the "
     "volume in the current slot (slots are Interval hours long, starting at Times[0], UTC, "
     "default 00:00), tagged with TagsToAdd, the volume's tags (CopyTags), "
     "aws:dlm:lifecycle-policy-id and aws:dlm:lifecycle-schedule-name; then the schedule's "
     "snapshots of that volume beyond RetainRule's Count, or older than its age, are deleted "
     "(one an image uses is kept; snapshots users or other schedules made are never "
     "touched).  A second run at the same time does nothing.  Runs wait for each other "
     "(STORE/lifecycle.lock).  --now runs as at that time (a fake clock: the snapshots get "
     "it as StartTime), for tests and catch-up.  Prints {\"Now\", "
     "\"LifecyclePolicyResults\": [{\"PolicyId\", \"ScheduleName\", \"VolumeId\", "
     "\"Action\": created|deleted|failed, \"SnapshotId\", \"Error\"}]}; one volume's "
     "failure does not stop the others, and exits 1.",
     true},
    {"create-rule", cmd_create_rule, "keep deleted snapshots in the Recycle Bin for a while (rbin)",
     "--resource-type EBS_SNAPSHOT --retention-period "
     "RetentionPeriodValue=N,RetentionPeriodUnit=DAYS [--resource-tags "
     "ResourceTagKey=K,ResourceTagValue=V ...] [--description TEXT]",
     create_rule_options, 0,
     "Amazon rbin's CreateRule.  While a rule matches a snapshot (a rule without "
     "--resource-tags every one of the account's, else those with one of the tags), "
     "deleting it (delete-snapshot, prune-snapshots, a lifecycle policy's retention) puts "
     "it in the Recycle Bin for the longest matching period instead of freeing it: it is "
     "gone from describe-snapshots (InvalidSnapshot.NotFound) and its data stays until the "
     "period is over; then gc frees it.  list-snapshots-in-recycle-bin lists the bin, "
     "restore-snapshot-from-recycle-bin brings one back.  Prints the rule: {\"Identifier\", "
     "\"RetentionPeriod\", \"Description\", \"ResourceType\", \"ResourceTags\", "
     "\"Status\", \"LockState\", \"RuleArn\"}.  BLOCKSNAP_NOW=TIME sets the clock the bin "
     "reads (a fake clock for tests).",
     true},
    {"list-rules", cmd_list_rules, "list Recycle Bin rules (rbin)",
     "--resource-type EBS_SNAPSHOT [--resource-tags ResourceTagKey=K,ResourceTagValue=V ...]",
     list_rules_options, 0,
     "Prints {\"Rules\": [{\"Identifier\", \"Description\", \"RetentionPeriod\", "
     "\"LockState\", \"RuleArn\"}]}.",
     false},
    {"get-rule", cmd_get_rule, "print a Recycle Bin rule (rbin)", "--identifier ID",
     rule_id_options, 0, "Prints the rule, as create-rule does.", false},
    {"update-rule", cmd_update_rule, "change a Recycle Bin rule (rbin)",
     "--identifier ID [--retention-period P] [--description TEXT] [--resource-tags T ...]",
     update_rule_options, 0,
     "What is given replaces the rule's; snapshots in the bin keep the time they were "
     "given.  Prints the rule.",
     true},
    {"delete-rule", cmd_delete_rule, "delete a Recycle Bin rule (rbin)", "--identifier ID",
     rule_id_options, 0, "Snapshots in the bin stay until their time is up.  Prints {}.", true},
    {"list-snapshots-in-recycle-bin", cmd_list_snapshots_in_recycle_bin,
     "list deleted snapshots kept in the Recycle Bin", "[--snapshot-ids ID ...]", list_bin_options,
     0,
     "Prints {\"Snapshots\": [{\"SnapshotId\", \"RecycleBinEnterTime\", "
     "\"RecycleBinExitTime\", \"Description\", \"VolumeId\"}]}: the account's snapshots "
     "whose time in the bin is not over.",
     false},
    {"restore-snapshot-from-recycle-bin", cmd_restore_snapshot_from_recycle_bin,
     "bring a deleted snapshot back from the Recycle Bin", "--snapshot-id ID", restore_bin_options,
     0,
     "The snapshot comes back whole, as it was, with its id, tags and data; prints it as "
     "describe-snapshots does.  One not in the bin, or whose time is over, is "
     "InvalidSnapshot.NotFound.",
     true},
    {"diff", cmd_diff, "list the byte ranges in which two snapshots differ",
     "SNAP_A [SNAP_B] | --second-snapshot-id ID [--first-snapshot-id ID]", diff_options, 2,
     "With one snapshot, lists its non-zero ranges.  Text output (the default) is a line "
     "\"# blocksnap diff A B\" (A is - with one snapshot), then one \"OFFSET LENGTH\" line per "
     "merged range, in bytes: a --changed-blocks file for a volume whose parent is A and "
     "whose contents are B's; --output json prints the EBS ListChangedBlocks shape.",
     false},
    {"create-volume", cmd_create_volume,
     "make a writable volume of a snapshot, or restore it to a file",
     "--snapshot-id ID [--size GIB] [--volume-type TYPE] [--encrypted [--kms-key-id KEY]] "
     "[--tags Key=K,Value=V ...] | --snapshot-id ID --path PATH [--force]",
     create_volume_options, 0,
     "Without --path: a writable copy-on-write volume (vol-...) in the store, made at once "
     "whatever its size: nothing is copied; it reads as the snapshot until written, and keeps "
     "what is written in the store (the mount serves it read-write as volumes/vol-....img).  "
     "--size (GiB, at least the snapshot's) grows it with zeros.  The snapshot cannot be "
     "deleted while the volume exists.  create-snapshot --volume-id reads only what was "
     "written since its last snapshot.  A volume of an encrypted snapshot is encrypted, as is "
     "one made with --encrypted (under --kms-key-id, or the default key) or while encryption by "
     "default is on: what it writes is kept sealed (AES-256-GCM) in the store, and its snapshots "
     "are encrypted.  Prints the volume.  "
     "With --path: the file is sparse where the snapshot is zero and is written under a temporary "
     "name, "
     "so a failure leaves no partial file.  Its next snapshot is incremental to this one.  "
     "It gets mode 0666 less the umask; a file --force replaces keeps its mode.  Anything "
     "at PATH, even a dangling symbolic link, is replaced only with --force.  A block device "
     "(or a symbolic link to one) is written in place, with --force, and opened exclusively: "
     "one that is mounted or in use is refused, as is one smaller than the snapshot.  "
     "Refused before anything is written: a path inside the store, a directory, a FIFO, a "
     "socket, a character device.",
     true},
    {"describe-volumes", cmd_describe_volumes, "list volumes as EC2's DescribeVolumes",
     "[--volume-ids ID ...] [--filters Name=N,Values=V ...] [--max-results N] "
     "[--next-token TOKEN]",
     describe_volumes_options, 0,
     "Filters: volume-id, snapshot-id, size, status, create-time, tag:KEY, tag-key.  A volume "
     "is recorded by the first snapshot of its path and by create-volume (which deletes the "
     "record of the volume whose file it replaces); it stays listed until delete-volume."
     "  Results come sorted by id; with --max-results N, at most N of them and, when more remain, "
     "a NextToken to give as --next-token (with the same filters) for the next page.  "
     "--max-results and --next-token do not go with the ids.",
     false},
    {"delete-volume", cmd_delete_volume, "delete a volume's record", "--volume-id ID",
     delete_volume_options, 0,
     "Forgets the volume: describe-volumes no longer lists it, its tags go, and its file (or "
     "device) is not touched; the next snapshot of that path records a new volume and reads "
     "it whole.  Its snapshots stay and keep its id as their VolumeId, as EC2's snapshots of "
     "a deleted volume do.  Refused (VolumeInUse) while a snapshot of it is being taken.  A "
     "writable volume (made by create-volume without --path) goes with what was written to "
     "it; refused (VolumeInUse) while a mount or an instance has it open.",
     true},
    {"create-tags", cmd_create_tags, "add or overwrite tags of snapshots, volumes and images",
     "--resources ID ... --tags Key=K,Value=V ...", create_tags_options, 0,
     "Tags are shorthand (Key=env,Value=prod) or JSON ('[{\"Key\":\"env\",\"Value\":"
     "\"prod\"}]').  Keys have at most 127 characters and may not start with \"aws:\", values "
     "at most 256; a resource has at most 50 tags.",
     true},
    {"delete-tags", cmd_delete_tags, "remove tags from snapshots, volumes and images",
     "--resources ID ... [--tags Key=K[,Value=V] ...]", delete_tags_options, 0,
     "A tag given with a value is removed only when the value matches.", true},
    {"verify", cmd_verify, "check every stored byte and reference", "[--snapshot-id ID] [--repair]",
     verify_options, 0,
     "Prints one line per problem (snapshot, chunk, pack and offset where known), then a "
     "summary; --output json (or table) prints one document instead: SnapshotsChecked, "
     "ChunksChecked, BytesChecked, ProblemCount, DamagedSnapshotCount and Problems (and "
     "Repair with --repair).  Exits 1 when it found a problem.  --repair first rebuilds "
     "meta/data.mdb from "
     "what can be read: the records of its sound pages, the chunk index from the packs, the "
     "refcounts from the snapshots; a block-map tree whose snapshot record was lost comes back "
     "as a new snapshot (\"recovered by a repair\").  The old file stays as "
     "meta/data.mdb.damaged-TIME.  It prints what it could not keep and exits 1 when anything "
     "was lost.  Stop mounts and restores first.",
     false},
    {"gc", cmd_gc, "reclaim the space of deleted snapshots", "[--max-unused PERCENT]", gc_options,
     0,
     "Frees what no snapshot names, deletes every pack left with no live chunk, and rewrites a "
     "pack that still holds live chunks only when more than --max-unused percent of it is "
     "dead (the live chunks copied to a new pack): rewriting a large pack to free a few bytes "
     "would write far more than it frees.  Prints ChunksFreed, SnapshotsRemoved, "
     "PacksRemoved, PacksRewritten, BytesBefore, BytesAfter, and PacksUnreclaimed and "
     "BytesUnreclaimed: the packs kept with dead bytes below the threshold and those bytes.  "
     "Text and table show the byte counts as describe-store does.  Waits for running "
     "snapshot writers.",
     true},
    {"start-snapshot", cmd_ebs_start_snapshot,
     "start a snapshot written block by block (EBS direct)",
     "--volume-size GIB [--parent-snapshot-id ID] [--timeout MINUTES] ...",
     ebs_start_snapshot_options, 0,
     "Amazon EBS direct's StartSnapshot: a pending snapshot of GIB GiB that takes 512 KiB "
     "blocks by index, in any order and from several writers at once (put-snapshot-block), "
     "until complete-snapshot.  With --parent-snapshot-id it reads as that snapshot where no "
     "block is written.  Unwritten for --timeout minutes, it is cancelled (state error; gc "
     "frees its blocks).  A retry with the same --client-token and options answers the same "
     "snapshot; with other options it is a ConflictException.  Prints {\"SnapshotId\", "
     "\"OwnerId\", \"Status\", \"StartTime\" (epoch seconds), \"VolumeSize\", "
     "\"BlockSize\", \"Timeout\", \"Description\", \"Tags\", \"ParentSnapshotId\"}.  "
     "Errors are EBS direct's, with their reason: (ValidationException) reason INVALID_BLOCK.",
     true},
    {"put-snapshot-block", cmd_ebs_put_snapshot_block,
     "write one 512 KiB block of a pending snapshot (EBS direct)",
     "--snapshot-id ID --block-index N --block-data FILE --data-length 524288 "
     "--checksum B64 --checksum-algorithm SHA256",
     ebs_put_snapshot_block_options, 0,
     "Amazon EBS direct's PutSnapshotBlock.  The checksum (base64 of the SHA-256 of FILE's "
     "bytes, as `openssl dgst -sha256 -binary FILE | base64` prints it) is checked before "
     "anything is stored; then the block is stored at once as the store's chunks "
     "(deduplicated, compressed; chunks of zeros cost nothing) and recorded, durable when "
     "this returns.  Writing an index again replaces the block.  Prints {\"Checksum\", "
     "\"ChecksumAlgorithm\"}.",
     true},
    {"complete-snapshot", cmd_ebs_complete_snapshot,
     "complete a snapshot written block by block (EBS direct)",
     "--snapshot-id ID --changed-blocks-count N [--checksum B64 ...]",
     ebs_complete_snapshot_options, 0,
     "Amazon EBS direct's CompleteSnapshot: builds the snapshot's block map (its parent's "
     "with the written blocks over it) and makes it completed.  When N is not the number "
     "of blocks written, or the aggregate checksum (the SHA-256 of the blocks' base64 "
     "checksums in index order, concatenated) does not match, the snapshot becomes error "
     "instead.  Prints {\"Status\": \"completed\" | \"error\"}.  Interrupted, the snapshot "
     "stays pending with its blocks, to be completed again.",
     true},
    {"list-snapshot-blocks", cmd_ebs_list_snapshot_blocks,
     "list the blocks of a completed snapshot that hold data (EBS direct)",
     "--snapshot-id ID [--max-results N] [--starting-block-index N] [--next-token T]",
     ebs_list_snapshot_blocks_options, 0,
     "Amazon EBS direct's ListSnapshotBlocks.  Prints {\"Blocks\": [{\"BlockIndex\", "
     "\"BlockToken\"}], \"ExpiryTime\", \"VolumeSize\", \"BlockSize\", \"NextToken\"}: "
     "blocks in ascending order, blocks of zeros left out, NextToken when more remain (it "
     "wins over --starting-block-index).  A block token reads that block of that snapshot "
     "only, for 7 days.",
     false},
    {"list-changed-blocks", cmd_ebs_list_changed_blocks,
     "list the blocks that differ between two snapshots (EBS direct)",
     "--second-snapshot-id ID [--first-snapshot-id ID] [--max-results N] ...",
     ebs_list_changed_blocks_options, 0,
     "Amazon EBS direct's ListChangedBlocks, for two completed snapshots of one volume or "
     "one lineage (else UNRELATED_SNAPSHOTS).  Prints {\"ChangedBlocks\": [{\"BlockIndex\", "
     "\"FirstBlockToken\", \"SecondBlockToken\"}], \"ExpiryTime\", \"VolumeSize\", "
     "\"BlockSize\", \"NextToken\"}; a token is absent where that snapshot holds zeros.",
     false},
    {"get-snapshot-block", cmd_ebs_get_snapshot_block,
     "read one 512 KiB block of a completed snapshot (EBS direct)",
     "--snapshot-id ID --block-index N --block-token TOKEN OUTFILE", ebs_get_snapshot_block_options,
     1,
     "Amazon EBS direct's GetSnapshotBlock: writes the block's 524288 bytes to OUTFILE (- : "
     "standard output, then nothing else is printed) and prints {\"DataLength\", "
     "\"Checksum\", \"ChecksumAlgorithm\"}.  The token must be one a listing gave for "
     "that block of that snapshot (else INVALID_BLOCK_TOKEN).",
     false},
    {"describe-snapshot-usage", cmd_describe_snapshot_usage,
     "what each snapshot holds, and would free if deleted", "--snapshot-ids ID ...",
     describe_snapshot_usage_options, 0,
     "Prints SnapshotUsages, one per id: SnapshotId, VolumeId, VolumeBytes (its size), "
     "DataBytes (its non-zero chunks times the chunk size), ReferencedChunks, ReferencedBytes "
     "and ReferencedStoredBytes (the distinct chunks and block-map pages it names, "
     "uncompressed and as stored), and ExclusiveChunks, ExclusiveBytes and "
     "ExclusiveStoredBytes: those that deleting it would free now, the ones no other "
     "snapshot reaches (a chunk named once, by a page another snapshot shares, is not "
     "among them).  ExclusiveStoredBytes is what delete-snapshot then gc give back.  Reads "
     "each snapshot's whole block map, which is why describe-snapshots does not print these.  "
     "Text and table show byte counts as describe-store does.",
     false},
    {"describe-volume-usage", cmd_describe_volume_usage,
     "what each volume's snapshots hold, and would free if all deleted", "--volume-ids ID ...",
     describe_volume_usage_options, 0,
     "Prints VolumeUsages, one per id: VolumeId, Snapshots (its completed snapshots), "
     "LogicalBytes (the sum over them of each one's DataBytes: its non-zero chunks times the "
     "chunk size), StoredBytes (the bytes in packs of the chunks and block-map pages they "
     "name, each once however many of them name it), ReferencedChunks and ReferencedBytes "
     "(those chunks and pages, and their uncompressed bytes), and ExclusiveChunks, "
     "ExclusiveBytes and ExclusiveStoredBytes: what deleting all its snapshots would free "
     "now, the chunks and pages no snapshot of another volume reaches.  "
     "ExclusiveStoredBytes is what delete-snapshot of each, then gc, give back (a snapshot "
     "an image uses must lose its image first).  Reads each snapshot's whole block map.  "
     "Text and table show byte counts as describe-store does.",
     false},
    {"describe-store", cmd_describe_store, "print the store's facts and sizes", "", NULL, 0,
     "Prints Path, StoreUuid, Region, OwnerId, ChunkSize, FormatVersion, PackCount, "
     "PackBytes, ChunkCount, StoredBytes (the indexed chunks and block-map pages as stored, "
     "compressed), LogicalBytes (the same uncompressed), MetaBytes, SnapshotCount, "
     "VolumeCount, DataBytes (the non-zero data of every completed snapshot, each counted in "
     "full), DedupRatio (DataBytes / LogicalBytes) and CompressionRatio (LogicalBytes / "
     "StoredBytes), each ratio to two decimals and left out when its divisor is 0.  Text and "
     "table show byte counts for people (1023 B, 1.0 KiB, 1.5 GiB: binary units, one "
     "decimal); JSON keeps the exact integers.",
     false},
    {"create-store", cmd_create_store, "create an empty store", "[--chunk-size SIZE]",
     create_store_options, 0,
     "Makes the store that --store, --region or the default names, as `restic init` does, "
     "and prints what describe-store prints.  Fails (Store.AlreadyExists) when it exists "
     "already.  --chunk-size (bytes, or with a K or M suffix) is the store's for its whole "
     "life: the unit that snapshots read, store and share, and that diff lists "
     "(docs/benchmarks.md weighs the sizes).  Every verb that writes also creates a missing "
     "store, with 64K chunks; the verbs that only read refuse one (Store.NotFound).",
     true},
    {"register-image", cmd_register_image, "register a machine image from snapshots",
     "--name NAME --block-device-mappings JSON|SHORTHAND ... [options]", register_image_options, 0,
     "Prints {\"ImageId\": ...}.  Every snapshot must exist and be completed.  The root "
     "volume's first sectors are read: an MBR with boot code is legacy-bios, a GPT with an EFI "
     "system partition uefi, both uefi-preferred; a root volume that is neither is refused "
     "unless --no-boot-check.  --cli-input-json takes the output of describe-images (one "
     "image), so a manifest registers again as it is.",
     true},
    {"create-image", cmd_create_image, "snapshot every volume of a machine and register them",
     "--name NAME (--instance-id ID | --volume DEVICE=PATH ...) [options]", create_image_options, 0,
     "Each volume is snapshotted incrementally (against its last snapshot), in parallel, then "
     "the snapshots are registered as one image.  If anything fails, the snapshots taken are "
     "deleted and nothing is registered.  --instance-id: an image of an instance, running or "
     "stopped; each snapshot reads only what its volume wrote since its last snapshot.  A "
     "running instance is shut down (the ACPI power button; a hard stop after --stop-timeout), "
     "snapshotted and started again, or with --no-reboot paused for the snapshots, taken "
     "through its volumes' servers at one instant (crash-consistent).  Whatever fails, a running "
     "instance runs again and no image is registered.",
     true},
    {"copy-image", cmd_copy_image, "copy an image from another region's store",
     "(--source-region NAME | --source-store DIR) --source-image-id ID --name NAME [options]",
     copy_image_options, 0,
     "Copies every snapshot of the image as copy-snapshot does (only the chunks this store "
     "lacks; incremental against earlier copies), then registers a new image with new ids, "
     "the source's attributes and its mappings naming the copies; --copy-image-tags copies "
     "the image's tags (only the caller's own image's).  Interrupted or killed, the same "
     "command (or the same --client-token) continues where it stopped; after success it "
     "prints the same id again.  --encrypted and --kms-key-id apply to every snapshot as "
     "copy-snapshot's do.",
     true},
    {"describe-images", cmd_describe_images, "list images as EC2's DescribeImages",
     "[--image-ids ID ...] [--owners self] [--executable-users USER ...] "
     "[--filters Name=N,Values=V ...] [--max-results N] [--next-token TOKEN]",
     describe_images_options, 0,
     "Lists the account's images and those shared with it (without their owner's tags).  "
     "--executable-users self keeps those the account owns or that are shared with it by id, "
     "all the public ones, an account id those that account may use.  "
     "Filters: name, state, architecture, boot-mode, image-id, description, creation-date, "
     "root-device-name, virtualization-type, is-public, block-device-mapping.snapshot-id (and "
     "the other block-device-mapping.* of EC2), tag:KEY, tag-key."
     "  Results come sorted by id; with --max-results N, at most N of them and, when more remain, "
     "a NextToken to give as --next-token (with the same filters) for the next page.  "
     "--max-results and --next-token do not go with the ids.",
     false},
    {"deregister-image", cmd_deregister_image, "deregister an image",
     "--image-id ID [--delete-associated-snapshots]", deregister_image_options, 0,
     "Prints {\"Return\": true}, as EC2's DeregisterImage does.  Its snapshots stay unless "
     "--delete-associated-snapshots, which keeps those another image uses and adds "
     "DeleteSnapshotResults: each snapshot with its ReturnCode.",
     true},
    {"describe-image-attribute", cmd_describe_image_attribute, "print one attribute of an image",
     "--image-id ID --attribute NAME", describe_image_attribute_options, 0, NULL, false},
    {"modify-image-attribute", cmd_modify_image_attribute,
     "change an image's description or launch permissions",
     "--image-id ID --description TEXT | --image-id ID --launch-permission PERM | --image-id ID "
     "--attribute launchPermission --operation-type add|remove [--user-ids ID ...] "
     "[--user-groups all]",
     modify_image_attribute_options, 0,
     "An account given the launch permission (or everyone, with the group all: the image's "
     "Public) sees the image in describe-images, without its tags, and may copy it when its "
     "snapshots are shared with it too (modify-snapshot-attribute); it may not deregister, tag "
     "or share it.  An image with an encrypted snapshot cannot be made public.  Every item is "
     "checked before anything changes.  Prints nothing.",
     true},
    {"reset-image-attribute", cmd_reset_image_attribute, "make an image private again",
     "--image-id ID --attribute launchPermission", reset_image_attribute_options, 0,
     "Removes every launch permission; the owner keeps its access.  Prints nothing.", true},
    {"create-launch-template", cmd_create_launch_template, "create a launch template",
     "--launch-template-name NAME --launch-template-data JSON|file://PATH [options]",
     create_template_options, 0,
     "Prints {\"LaunchTemplate\": ...}; its version 1 holds the data.  The data is EC2's "
     "LaunchTemplateData (ImageId, InstanceType, KeyName, UserData, BlockDeviceMappings, "
     "TagSpecifications, ...), checked before anything is written: only EC2's fields, the "
     "image must exist and be the account's or shared with it, the instance type one "
     "blocksnap knows, device names and sizes well formed and no volume smaller than its "
     "snapshot, UserData base64 of at most 16 KiB.  Names are unique per account.",
     true},
    {"create-launch-template-version", cmd_create_launch_template_version,
     "add a version to a launch template",
     "--launch-template-id ID | --launch-template-name NAME --launch-template-data JSON "
     "[--source-version V] [--version-description TEXT]",
     create_template_version_options, 0,
     "Prints {\"LaunchTemplateVersion\": ...}.  Versions are numbered in order and never "
     "change.  With --source-version the new version starts from that version's data and each "
     "field given replaces the source's; the source's block device mappings lose their "
     "snapshots unless BlockDeviceMappings is given.  The default version does not move.",
     true},
    {"modify-launch-template", cmd_modify_launch_template,
     "set the default version of a launch template",
     "--launch-template-id ID | --launch-template-name NAME --default-version V",
     modify_template_options, 0, NULL, true},
    {"describe-launch-templates", cmd_describe_launch_templates,
     "list launch templates as EC2's DescribeLaunchTemplates",
     "[--launch-template-ids ID ...] [--launch-template-names NAME ...] "
     "[--filters Name=N,Values=V ...]",
     describe_templates_options, 0,
     "Lists the account's templates, sorted by id.  Filters: create-time, "
     "launch-template-name, tag:KEY, tag-key.",
     false},
    {"describe-launch-template-versions", cmd_describe_launch_template_versions,
     "list versions of launch templates",
     "[--launch-template-id ID] [--launch-template-name NAME] [--versions V ...] "
     "[--min-version N] [--max-version N] [--filters Name=N,Values=V ...]",
     describe_template_versions_options, 0,
     "Without a template, --versions may hold only $Latest and $Default: those versions of "
     "every template.  Filters: create-time, ebs-optimized, http-endpoint, "
     "http-protocol-ipv4, http-tokens, iam-instance-profile, image-id, instance-type, "
     "is-default-version, kernel-id, ram-disk-id.",
     false},
    {"delete-launch-template", cmd_delete_launch_template,
     "delete a launch template and all its versions",
     "--launch-template-id ID | --launch-template-name NAME", delete_template_options, 0, NULL,
     true},
    {"delete-launch-template-versions", cmd_delete_launch_template_versions,
     "delete versions of a launch template",
     "--launch-template-id ID | --launch-template-name NAME --versions N ...",
     delete_template_versions_options, 0,
     "Prints the versions deleted and those not deleted, each with its reason; the default "
     "version cannot be deleted.  Exits 1 when any version was not deleted.",
     true},
    {"run-instances", cmd_run_instances, "launch instances of an image or a launch template",
     "--image-id ID | --launch-template LaunchTemplateName=N,Version=V [--instance-type TYPE] "
     "[--count N|MIN:MAX] [--user-data TEXT|file://PATH] [options]",
     run_instances_options, 0,
     "Prints the Reservation, its instances pending.  Each instance gets a writable "
     "copy-on-write volume per block device mapping of the image (made in constant time, "
     "attached to it; DeleteOnTermination true for the root unless the mappings say) and a "
     "QEMU machine of the type's vCPUs and memory (KVM where it works, else TCG) with the "
     "volumes as virtio disks, each served by `nbdkit blocksnap volume=vol-...`, the user data "
     "as a NoCloud seed (a FAT disk labelled CIDATA with user-data and meta-data), the serial "
     "console kept for get-console-output and a QMP socket, all under "
     "STORE/instances/ID/.  The machines run on their own: they outlive blocksnap.  With a "
     "launch template, the options given win over its data (tags merge by resource type and "
     "key, mappings by device name) and the instances carry the tags "
     "aws:ec2launchtemplate:id and aws:ec2launchtemplate:version.  A machine that cannot "
     "start leaves its instance terminated with StateReason Server.InternalError.  Programs: "
     "$BLOCKSNAP_QEMU, $BLOCKSNAP_NBDKIT, $BLOCKSNAP_NBDKIT_PLUGIN; $BLOCKSNAP_ACCEL=kvm|tcg "
     "skips the KVM probe.",
     true},
    {"describe-instances", cmd_describe_instances, "list instances as EC2's DescribeInstances",
     "[--instance-ids ID ...] [--filters Name=N,Values=V ...] [--max-results N] "
     "[--next-token TOKEN]",
     describe_instances_options, 0,
     "Prints {\"Reservations\": [...]}, the states read back from the machines first: an "
     "instance whose QEMU is gone (the guest powered off, or it was killed) is stopped, its "
     "volumes' servers ended.  Filters: instance-id, instance-state-name, "
     "instance-state-code, image-id, instance-type, reservation-id, key-name, architecture, "
     "block-device-mapping.volume-id, launch-template-id, tag:KEY, tag-key.  A terminated "
     "instance is listed for an hour.",
     true},
    {"get-console-output", cmd_get_console_output, "print an instance's serial console",
     "--instance-id ID", console_output_options, 0,
     "Prints {\"InstanceId\", \"Timestamp\", \"Output\"}: the last 64 KiB of the console, "
     "as text (EC2 sends it base64; the aws CLI decodes it too).",
     true},
    {"stop-instances", cmd_stop_instances, "stop instances (ACPI power-off)",
     "--instance-ids ID ... [--force] [--stop-timeout SECONDS]", stop_instances_options, 0,
     "Presses the ACPI power button (QMP system_powerdown) and waits for the guest to power "
     "off; after the timeout (or at once with --force) QEMU is stopped hard (QMP quit, then "
     "SIGKILL).  The volumes' servers flush and end; the volumes stay.  Prints "
     "{\"StoppingInstances\": [...]} with each instance's states before and after.",
     true},
    {"start-instances", cmd_start_instances, "start stopped instances", "--instance-ids ID ...",
     instance_ids_options, 0,
     "Starts each stopped instance's machine again on its volumes, with what its guest wrote "
     "kept.  Prints {\"StartingInstances\": [...]}.",
     true},
    {"reboot-instances", cmd_reboot_instances, "reset running instances", "--instance-ids ID ...",
     instance_ids_options, 0,
     "Resets each running machine (QMP system_reset); the instances stay running.", true},
    {"terminate-instances", cmd_terminate_instances, "terminate instances",
     "--instance-ids ID ... [--stop-timeout SECONDS]", terminate_instances_options, 0,
     "Ends each machine as stop-instances does, then deletes the volumes marked "
     "DeleteOnTermination; the others are detached and stay (available).  The console stays "
     "for get-console-output.  Prints {\"TerminatingInstances\": [...]}.",
     true},
    {"get-launch-template-data", cmd_get_launch_template_data,
     "an instance's launch settings, as launch template data", "--instance-id ID",
     template_data_options, 0,
     "Prints {\"LaunchTemplateData\": ...}: the instance's image, type, key name, user data, "
     "its volumes as block device mappings (device, size, type, DeleteOnTermination) and its "
     "tags but EC2's own aws: ones, as create-launch-template takes them.",
     false},
    {"create-key", cmd_create_key, "create a region key (KMS CreateKey)",
     "[--description TEXT] [--passphrase] [--tags TagKey=K,TagValue=V ...]", create_key_options, 0,
     "Prints the key's KeyMetadata.  Its 32 bytes of key material go to a key file outside "
     "the store, $XDG_CONFIG_HOME/blocksnap/keys/REGION/KEY-ID.key (mode 0600; "
     "$BLOCKSNAP_KEY_DIR/REGION/ when BLOCKSNAP_KEY_DIR is set); the store keeps only the key's "
     "record.  Back that file up: without it nothing the key wraps can be unwrapped.  With "
     "--passphrase there is no file: the material is derived from $BLOCKSNAP_KEY_PASSPHRASE, "
     "which every later use of the key reads again.",
     true},
    {"describe-key", cmd_describe_key, "show a key's metadata (KMS DescribeKey)", "--key-id KEY",
     key_id_options, 0,
     "KEY is a key id, a key ARN, an alias name (alias/NAME) or an alias ARN.  alias/aws/ebs, "
     "the AWS-managed default key, is made the first time it is named.",
     false},
    {"list-keys", cmd_list_keys, "list the region's keys (KMS ListKeys)", "", NULL, 0, NULL, false},
    {"enable-key", cmd_enable_key, "enable a disabled key (KMS EnableKey)", "--key-id KEY",
     key_id_options, 0, NULL, true},
    {"disable-key", cmd_disable_key, "disable a key (KMS DisableKey)", "--key-id KEY",
     key_id_options, 0,
     "A disabled key wraps and unwraps no data key until enable-key.  The AWS-managed default "
     "key cannot be disabled.",
     true},
    {"schedule-key-deletion", cmd_schedule_key_deletion,
     "delete a key after a waiting period (KMS ScheduleKeyDeletion)",
     "--key-id KEY [--pending-window-in-days DAYS] [--force]", schedule_key_deletion_options, 0,
     "The key is PendingDeletion at once: it wraps and unwraps nothing until cancel-key-deletion. "
     " Once its DeletionDate has passed, the next key verb or gc deletes it, its aliases, grants "
     "and key file, and with them every snapshot's data encrypted under it.  A key that a "
     "snapshot still needs is kept, pending deletion, until that snapshot is gone, unless "
     "--force.  The AWS-managed default key cannot be deleted.",
     true},
    {"cancel-key-deletion", cmd_cancel_key_deletion,
     "stop a key's scheduled deletion (KMS CancelKeyDeletion)", "--key-id KEY", key_id_options, 0,
     "The key is then Disabled, as KMS leaves it: enable-key to use it again.", true},
    {"tag-resource", cmd_tag_resource, "tag a key (KMS TagResource)",
     "--key-id KEY --tags TagKey=K,TagValue=V ...", tag_resource_options, 0,
     "A key's tags are its owner's; a key has at most 50 (TagKey at most 128 characters, not "
     "aws:..., TagValue at most 256).  Prints nothing.",
     true},
    {"untag-resource", cmd_untag_resource, "remove tags of a key (KMS UntagResource)",
     "--key-id KEY --tag-keys KEY ...", untag_resource_options, 0, NULL, true},
    {"list-resource-tags", cmd_list_resource_tags, "list a key's tags (KMS ListResourceTags)",
     "--key-id KEY", key_id_options, 0, NULL, false},
    {"create-grant", cmd_create_grant, "let another account use a key (KMS CreateGrant)",
     "--key-id KEY --grantee-principal ACCOUNT --operations OP ... [--retiring-principal "
     "ACCOUNT] [--name NAME]",
     create_grant_options, 0,
     "Prints GrantId and GrantToken.  A snapshot or image shared with another account and "
     "encrypted under a customer key is of use to it only with a grant of that key: Decrypt to "
     "restore, copy or launch it.  The other account names the key by its key ARN.  "
     "Operations: Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, "
     "ReEncryptFrom, ReEncryptTo, CreateGrant, RetireGrant, DescribeKey.  An AWS-managed key "
     "cannot be granted.",
     true},
    {"list-grants", cmd_list_grants, "list a key's grants (KMS ListGrants)",
     "--key-id KEY [--grant-id ID] [--grantee-principal ACCOUNT]", list_grants_options, 0, NULL,
     false},
    {"revoke-grant", cmd_revoke_grant, "remove a grant (KMS RevokeGrant)",
     "--key-id KEY --grant-id ID", revoke_grant_options, 0, "By the key's owner.", true},
    {"retire-grant", cmd_retire_grant, "give up a grant (KMS RetireGrant)",
     "--grant-token TOKEN | --key-id KEY-ARN --grant-id ID", retire_grant_options, 0,
     "By the key's owner, the grant's retiring principal, or its grantee when the grant gives "
     "RetireGrant.",
     true},
    {"create-alias", cmd_create_alias, "name a key (KMS CreateAlias)",
     "--alias-name alias/NAME --target-key-id KEY", create_alias_options, 0,
     "NAME is 1 to 250 of A-Z a-z 0-9 / _ -; names under alias/aws/ are reserved.", true},
    {"delete-alias", cmd_delete_alias, "delete an alias (KMS DeleteAlias); the key stays",
     "--alias-name alias/NAME", delete_alias_options, 0, NULL, true},
    {"list-aliases", cmd_list_aliases, "list aliases (KMS ListAliases)", "[--key-id KEY]",
     list_aliases_options, 0, NULL, false},
    {"enable-ebs-encryption-by-default", cmd_enable_ebs_encryption_by_default,
     "turn encryption by default on", "", NULL, 0,
     "Kept in the store.  From then on a volume's first snapshot is encrypted under the "
     "EBS default key; snapshots of volumes already taken plain stay plain.",
     true},
    {"disable-ebs-encryption-by-default", cmd_disable_ebs_encryption_by_default,
     "turn encryption by default off", "", NULL, 0, NULL, true},
    {"get-ebs-encryption-by-default", cmd_get_ebs_encryption_by_default,
     "show whether encryption by default is on", "", NULL, 0, NULL, false},
    {"get-ebs-default-kms-key-id", cmd_get_ebs_default_kms_key_id,
     "show the default key of encryption", "", NULL, 0,
     "The key ARN set by modify-ebs-default-kms-key-id, else the alias ARN of alias/aws/ebs.",
     false},
    {"modify-ebs-default-kms-key-id", cmd_modify_ebs_default_kms_key_id,
     "set the default key of encryption", "--kms-key-id KEY", modify_default_key_options, 0,
     "The key must exist and be enabled.", true},
    {"reset-ebs-default-kms-key-id", cmd_reset_ebs_default_kms_key_id,
     "make alias/aws/ebs the default key again", "", NULL, 0, NULL, true},
    {"mount", cmd_mount, "mount the store's snapshots read-only as raw image files",
     "MOUNTPOINT [--foreground] [--allow-other] [--cache-size SIZE] [--snapshot-id ID]",
     mount_options, 1,
     "MOUNTPOINT/snapshots/ holds snap-ID.img for every completed snapshot and snap-ID.pN for "
     "each partition of its MBR or GPT table; images/ is for machine images; volumes/VOL/ links "
     "each snapshot of a volume by its start time (VOL: its Name tag, or its id) and latest "
     "the newest; volumes/vol-ID.img is each writable volume (create-volume without --path), "
     "read-write: fsync makes its writes durable, and while it is open the volume is in-use.  "
     "tags/KEY/VALUE/ links the snapshots with that tag.  Everything else is read-only.  The "
     "view is the "
     "profile's account's: what it owns and what is shared with it.  Snapshots created, "
     "deleted or shared while mounted appear or vanish within a second; an open file keeps "
     "its data until closed.  Daemonizes unless --foreground.  With --snapshot-id, a "
     "directory mountpoint holds only that snapshot's files and a regular-file mountpoint "
     "becomes the image itself.",
     false},
    {"umount", cmd_umount, "unmount a blocksnap mount", "MOUNTPOINT", umount_options, 1,
     "Fails while a file in the mount is open (fusermount3 -u, or umount(2) as root).", false},
    {"serve", cmd_serve, "serve the stores over EC2's and EBS direct's APIs, for the aws CLI",
     "--listen ADDR:PORT [--tls-cert PEM --tls-key PEM] [limits]", serve_options, 0,
     "Serves the store in use, and every region of the config file whose store_path exists, "
     "each under the region its store holds, until SIGTERM or SIGINT.  Every request must be "
     "signed (AWS Signature Version 4) with an access key of the credentials file whose "
     "section has aws_secret_access_key and blocksnap_account_id: the request acts as that "
     "account, in the store of the region its signature names (aws --region).  Prints "
     "'listening on http://ADDR:PORT' once it serves, and a line per request on stderr "
     "(not with --quiet).  At SIGTERM it stops accepting, lets requests in flight finish for "
     "--grace seconds, cancels the rest (a copy is resumable) and exits 0.  EC2's query API "
     "answers on /, the EBS direct REST API (aws ebs, signed for the service ebs) under "
     "/snapshots.  docs/api.md says what is served.",
     true},
    {"configure", cmd_configure, "set up profiles, regions and accounts in the config files",
     "[set KEY VALUE | get KEY | list]", configure_options, 3,
     "Without arguments, asks (as `aws configure` does) for the profile's access key id, "
     "secret access key, account id, region and output format; an empty answer keeps the "
     "value shown.  KEY is a setting of the profile in use (--profile, $BLOCKSNAP_PROFILE, "
     "else default), or profile.NAME.KEY, default.KEY, or region.NAME.store_path (where the "
     "region's store lives).  aws_access_key_id, aws_secret_access_key and "
     "blocksnap_account_id go to the credentials file (mode 0600), the rest to the config "
     "file: $BLOCKSNAP_CONFIG_FILE and $BLOCKSNAP_SHARED_CREDENTIALS_FILE, else config and "
     "credentials in $XDG_CONFIG_HOME/blocksnap (~/.config/blocksnap).  A file is replaced "
     "atomically and keeps its comments and other sections.  get prints the value, or "
     "nothing and exits 1 when it is not set; list prints each setting in use and where it "
     "came from.",
     false},
    {NULL, NULL, NULL, NULL, NULL, 0, NULL, false},
};

int cli_store_path(struct cli *cli)
{
    if (!cli->store_path && bsnap_store_resolve(cli->store_dir, cli->region, &cli->store_path) < 0)
        return output_engine_error();
    return EXIT_OK;
}

int cli_open_store(struct cli *cli)
{
    /* A store created now takes the region's name and the profile's
     * account; the engine's defaults are the region "local" and account
     * 123456789012.  An existing store keeps what its config holds. */
    bsnap_store_config cfg = {.region = cli->region, .account = cli->account};
    int r;

    if (cli->store)
        return EXIT_OK;
    if ((r = cli_store_path(cli)) != EXIT_OK)
        return r;
    /* Only a verb that writes creates a store: a reading one on a mistyped
     * path would otherwise make a store there and show it empty. */
    /* A dry run creates no store: it checks against the one there is. */
    r = bsnap_store_open(cli->store_path,
                         cli->verb->writes && !cli->dry_run ? BSNAP_STORE_CREATE : 0, &cfg,
                         &cli->store);
    /* A store shared with a group is read-only to its members. */
    if (r == -EACCES && !cli->verb->writes)
        r = bsnap_store_open(cli->store_path, BSNAP_STORE_RDONLY, &cfg, &cli->store);
    if (r < 0)
        return output_engine_error();
    /* The profile's account acts: it owns what it creates and sees only
     * what it owns. */
    if (cli->account && bsnap_store_set_account(cli->store, cli->account) < 0)
        return output_engine_error();
    bsnap_store_set_dry_run(cli->store, cli->dry_run);
    /* The Recycle Bin's fake clock, for tests (user-guide.md, "Recycle
     * Bin"). */
    {
        const char *now = getenv("BLOCKSNAP_NOW");
        int64_t ms;
        if (now && *now) {
            if ((r = cli_parse_time(cli, "BLOCKSNAP_NOW", now, &ms)) != EXIT_OK)
                return r;
            bsnap_store_set_clock(cli->store, ms);
        }
    }
    return EXIT_OK;
}

/* The verbs that are no EC2 request and have no dry run: they write
 * outside the store's metadata (mount, configure, gc's packs), make the
 * store, or are EBS direct's. */
static const char *const no_dry_run[] = {
    "mount", "umount", "configure", "gc", "verify", "diff", "create-store", "backup-vm",
    /* EBS direct's, which has no DryRun */
    "start-snapshot", "put-snapshot-block", "complete-snapshot", "list-snapshot-blocks",
    "list-changed-blocks", "get-snapshot-block", NULL};

/* Settle --dry-run / --no-dry-run (global: every verb takes them, but a
 * verb's own --dry-run, as prune-snapshots', is that verb's). */
static int dry_run_option(struct cli *cli, const struct args *a)
{
    bool on = arg_flag(a, "dry-run"), off = arg_flag(a, "no-dry-run");

    for (int i = 0; cli->verb->opts && cli->verb->opts[i].name; i++)
        if (!strcmp(cli->verb->opts[i].name, "dry-run"))
            return off ? output_usage_error(cli->verb, "InvalidParameterCombination",
                                            "--no-dry-run: %s has a --dry-run of its own",
                                            cli->verb->name)
                       : EXIT_OK;
    if (on && off)
        return output_usage_error(cli->verb, "InvalidParameterCombination",
                                  "give --dry-run or --no-dry-run, not both");
    for (int i = 0; on && no_dry_run[i]; i++)
        if (!strcmp(cli->verb->name, no_dry_run[i]))
            return output_usage_error(cli->verb, "InvalidParameterCombination",
                                      "--dry-run: %s is not an EC2 request and has no dry run",
                                      cli->verb->name);
    cli->dry_run = on;
    return EXIT_OK;
}

/* A dry run that went through: EC2's answer, as an error (exit 1). */
static int dry_run_answer(void)
{
    fprintf(stderr, "blocksnap: error: Request would have succeeded, but DryRun flag is set. "
                    "(DryRunOperation)\n");
    return EXIT_FAILED;
}

const struct verb *find_verb(const char *name)
{
    for (const struct verb *v = verbs; v->name; v++)
        if (strcmp(v->name, name) == 0)
            return v;
    return NULL;
}

/* The usage error for a verb that is not one, with the closest verbs. */
static int unknown_verb(const char *name)
{
    bsf_suggest sg;
    char hint[512];

    bsf_suggest_init(&sg, name, strlen(name));
    for (const struct verb *v = verbs; v->name; v++)
        bsf_suggest_add(&sg, v->name);
    bsf_suggest_add(&sg, "help");
    return output_usage_error(NULL, "InvalidAction", "unknown verb '%s'%s", name,
                              bsf_suggest_text(&sg, "", hint, sizeof hint));
}

/* Whether argv[first..) asks for --help (before any "--"). */
static bool wants_help(int argc, char **argv, int first)
{
    for (int i = first; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--help") == 0)
            return true;
    return false;
}

/* `blocksnap help [VERB | --man]` */
static int run_help(int argc, char **argv, int first)
{
    const struct verb *v;

    if (first >= argc) {
        help_main();
        return EXIT_OK;
    }
    if (strcmp(argv[first], "--man") == 0) {
        help_man();
        return EXIT_OK;
    }
    if (!(v = find_verb(argv[first])))
        return unknown_verb(argv[first]);
    help_verb(v);
    return EXIT_OK;
}

static int run(int argc, char **argv, struct cli *cli, struct args *a)
{
    int next, r;
    const char *out;

    r = options_parse(argc, argv, 1, NULL, a, &next);
    if (r != EXIT_OK)
        return r;
    if (arg_flag(a, "version")) {
        printf("blocksnap %s\n", bsnap_version());
        return EXIT_OK;
    }
    if (next >= argc) {
        if (arg_flag(a, "help")) {
            help_main();
            return EXIT_OK;
        }
        return output_usage_error(NULL, "MissingParameter", "no verb given");
    }
    if (strcmp(argv[next], "help") == 0)
        return run_help(argc, argv, next + 1);
    if (strcmp(argv[next], "__complete") == 0)
        return cmd_complete(cli, argc - next - 1, argv + next + 1);
    if (!(cli->verb = find_verb(argv[next])))
        return unknown_verb(argv[next]);
    if (arg_flag(a, "help") || wants_help(argc, argv, next + 1)) {
        help_verb(cli->verb);
        return EXIT_OK;
    }
    r = options_parse(argc, argv, next + 1, cli->verb, a, NULL);
    if (r != EXIT_OK)
        return r;
    if (arg_flag(a, "version")) {
        printf("blocksnap %s\n", bsnap_version());
        return EXIT_OK;
    }
    out = arg_value(a, "output");
    if (out && strcmp(out, "json") != 0 && strcmp(out, "text") != 0 && strcmp(out, "table") != 0)
        return output_usage_error(cli->verb, "InvalidParameterValue",
                                  "--output: '%s' is not json, text or table", out);
    cli->store_dir = arg_value(a, "store");
    cli->region = arg_value(a, "region");
    /* An empty name is not "no name": it would silently pick the default
     * store. */
    if (cli->store_dir && !cli->store_dir[0])
        return output_usage_error(cli->verb, "InvalidParameterValue", "--store: empty");
    if (cli->region && !cli->region[0])
        return output_usage_error(cli->verb, "InvalidParameterValue", "--region: empty");
    cli->profile = arg_value(a, "profile");
    if (cli->profile && !cli->profile[0])
        return output_usage_error(cli->verb, "InvalidParameterValue", "--profile: empty");
    cli->output = out;
    cli->quiet = arg_flag(a, "quiet");
    /* configure reads the files itself: `configure set` makes a profile
     * that does not exist yet, which the precedence would refuse. */
    if ((r = dry_run_option(cli, a)) != EXIT_OK)
        return r;
    if ((r = cli_paging_options(cli, a)) != EXIT_OK)
        return r;
    /* compiled before anything runs: a bad expression changes nothing */
    if (arg_value(a, "query") && bsf_query_compile(arg_value(a, "query"), &cli->query) < 0)
        return output_usage_error(cli->verb, bsf_last_error()->code, "%s",
                                  bsf_last_error()->message);
    if (cli->verb->run != cmd_configure && (r = cli_settings_load(cli)) != EXIT_OK)
        return r;
    r = cli->verb->run(cli, a);
    /* A dry run that reached its end without the engine's answer (a
     * describe, or a change that had nothing to write) would have
     * succeeded: output_doc() printed nothing. */
    return r == EXIT_OK && cli->dry_run ? dry_run_answer() : r;
}

int main(int argc, char **argv)
{
    struct cli cli = {0};
    struct args a = {0};
    int r;

    bsnap_set_log_func(output_log, &cli);
    /* A damaged metadata file fails the command with Store.Corrupt instead
     * of killing it (blocksnap.h). */
    r = bsnap_set_fault_guard(true) < 0 ? output_engine_error() : run(argc, argv, &cli, &a);
    args_free(&a);
    bsnap_store_close(cli.store);
    free(cli.store_path);
    free(cli.region_buf);
    free(cli.store_buf);
    free(cli.output_buf);
    bsf_ini_free(cli.config);
    bsf_query_free(cli.query);
    free((char *)cli.account);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "blocksnap: error: cannot write the output\n");
        r = r ? r : EXIT_FAILED;
    }
    return r;
}
