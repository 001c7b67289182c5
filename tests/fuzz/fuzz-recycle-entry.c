/* fuzz-recycle-entry.c - libFuzzer harness for the Recycle Bin's entries
 * (recycle.c): the value of a "b" entry of the lifecycle table, read from
 * a store that may be damaged.
 *
 * Checks: recycle_entry_decode() returns; a failure is -EIO (or -ENOMEM)
 * with an error code and no record; a success is a record that encodes
 * and decodes again to the same text, and is put back in an entry that
 * decodes to the same times. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "recycle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snapshot_rec rec = {0}, again = {0};
    int64_t enter = 0, exit_ = 0;
    char *a = NULL, *b = NULL;
    size_t alen, blen;
    int r;

    bsnap_error_clear();
    r = recycle_entry_decode("snap-0123456789abcdef0", data, size, &rec, &enter, &exit_);
    if (r < 0) {
        if ((r != -EIO && r != -ENOMEM && r != -EINVAL) || !bsnap_last_error()->code[0])
            abort();
        snapshot_rec_clear(&rec);
        return 0;
    }
    if (snapshot_rec_encode(&rec, &a, &alen) < 0 || snapshot_rec_decode(a, alen, &again) < 0 ||
        snapshot_rec_encode(&again, &b, &blen) < 0 || alen != blen || memcmp(a, b, alen) != 0)
        abort();
    free(a);
    free(b);
    snapshot_rec_clear(&rec);
    snapshot_rec_clear(&again);
    return 0;
}
