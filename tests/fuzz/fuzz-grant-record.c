/* fuzz-grant-record.c - libFuzzer harness for the grant entries of the
 * keys table (grant_decode, keys.h).
 *
 * The first 64 bytes of an input are the entry's key (the grant id), the
 * rest its value.  Checks: decoding returns 0 or -EIO with the code
 * Store.Corrupt and leaves the output untouched on failure; an accepted
 * grant has known operations, 12-digit accounts and a name of at most 256
 * characters; encoding it gives the input's value back, byte for byte. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grant g, untouched;
    uint8_t out[GRANT_FIXED + GRANT_NAME_MAX];
    size_t n;
    int r;

    if (size < GRANT_ID_HEX)
        return 0;
    memset(&g, 0x5a, sizeof g);
    untouched = g;
    r = grant_decode((const char *)data, GRANT_ID_HEX, data + GRANT_ID_HEX, size - GRANT_ID_HEX,
                     &g);
    if (r < 0) {
        if (r != -EIO || strcmp(bsnap_last_error()->code, "Store.Corrupt") != 0 ||
            memcmp(&g, &untouched, sizeof g) != 0)
            abort();
        return 0;
    }
    if (r != 0 || !g.ops || (g.ops & ~KEY_OP_ALL) || strlen(g.id) != GRANT_ID_HEX ||
        strlen(g.key_id) != 36 || strlen(g.grantee) != 12 ||
        (g.retiring[0] && strlen(g.retiring) != 12) || strlen(g.name) > GRANT_NAME_MAX)
        abort();
    n = grant_encode(&g, out);
    if (n != size - GRANT_ID_HEX || memcmp(out, data + GRANT_ID_HEX, n) != 0)
        abort();
    return 0;
}
