/* fuzz-key-record.c - libFuzzer harness for the key records of the keys
 * table (key_rec_decode, keys.h).
 *
 * The first 36 bytes of an input are the record's key (the key id), the
 * rest its value.  Checks: decoding returns 0 or -EIO with the code
 * Store.Corrupt and leaves the output untouched on failure; an accepted
 * record has a known state and manager and a description without NUL;
 * encoding it gives the input's value back, byte for byte. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct key_rec k, untouched;
    char id[37];
    uint8_t *buf;
    size_t len;
    int r;

    if (size < 36)
        return 0;
    memcpy(id, data, 36);
    id[36] = '\0';
    memset(&k, 0x5a, sizeof k);
    untouched = k;
    r = key_rec_decode(id, data + 36, size - 36, &k);
    if (r < 0) {
        if (r != -EIO || strcmp(bsnap_last_error()->code, "Store.Corrupt") != 0 ||
            memcmp(&k, &untouched, sizeof k) != 0)
            abort();
        return 0;
    }
    if (r != 0 || (k.state != KEY_ENABLED && k.state != KEY_DISABLED) ||
        (k.manager != KEY_AWS && k.manager != KEY_CUSTOMER) || strlen(k.id) != 36 || !k.description)
        abort();
    if (key_rec_encode(&k, &buf, &len) != 0 || len != size - 36 || memcmp(buf, data + 36, len) != 0)
        abort();
    free(buf);
    key_rec_clear(&k);
    return 0;
}
