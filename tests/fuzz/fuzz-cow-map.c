/* fuzz-cow-map.c - libFuzzer harness for the map file of a writable volume
 * (cow.c, docs/format.md "Writable volumes"), read back from a store that
 * may be damaged.
 *
 * The volume's chunk size and size are taken from the input's own header
 * (bounded: a chunk size that is a power of two from 4 KiB to 4 MiB, at
 * most 2^20 chunks), so that inputs can decode.  Checks: cow_map_decode()
 * returns; a failure is -EIO with an error code; a success encodes back to
 * exactly the input. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cow.h"
#include "error.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t cs = 4096, flags = 0;
    uint64_t vsize = 0, gen = 0, nchunks;
    size_t nwords;
    uint64_t *bits;
    uint8_t *again;
    int r;

    if (size >= 24) {
        cs = le32_get(data + 12);
        vsize = le64_get(data + 16);
    }
    if (cs < 4096 || cs > (4u << 20) || (cs & (cs - 1)))
        cs = 4096;
    nchunks = vsize / cs + (vsize % cs != 0);
    if (nchunks > (1u << 20))
        return 0;
    nwords = (size_t)((nchunks + 63) / 64);
    bits = calloc(2 * nwords + 1, 8);
    if (!bits)
        return 0;
    bsnap_error_clear();
    r = cow_map_decode(data, size, "fuzz", cs, vsize, bits, nwords, &gen, &flags);
    if (r < 0) {
        if (r != -EIO || !bsnap_last_error()->code[0])
            abort();
        free(bits);
        return 0;
    }
    again = malloc(cow_map_bytes(nwords));
    if (!again)
        abort();
    cow_map_encode(cs, vsize, gen, flags, bits, nwords, again);
    if (cow_map_bytes(nwords) != size || memcmp(again, data, size) != 0)
        abort();
    free(again);
    free(bits);
    return 0;
}
