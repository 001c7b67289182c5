/* fuzz-bootsect.c - libFuzzer harness for the MBR/GPT parser.
 *
 * The input is the start of a volume; the volume is the input followed by
 * zeros up to 1 MiB (or the input's length if longer), so that small seeds
 * can hold a whole GPT while partitions and backup headers still have room
 * to point past the data.  Checks the parser's promises: it returns, every
 * partition lies inside the volume, and the read callback is never asked
 * for bytes past the end. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bootsect.h"

struct input {
    const uint8_t *data;
    size_t len;
    uint64_t size;
};

static int input_read(void *ud, void *buf, size_t len, uint64_t off)
{
    const struct input *in = ud;
    if (off > in->size || len > in->size - off)
        abort(); /* the parser promised never to read past the end */
    memset(buf, 0, len);
    if (off < in->len) {
        size_t n = in->len - off < len ? in->len - off : len;
        memcpy(buf, in->data + off, n);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {.data = data, .len = size, .size = size > (1u << 20) ? size : (1u << 20)};
    bsnap_partition *parts;
    size_t n;
    bsnap_boot_info info;

    if (bootsect_parse(input_read, &in, in.size, &parts, &n, &info) < 0)
        abort(); /* a memory volume cannot fail to read */
    if (n > BOOTSECT_MAX_PARTITIONS || info.npartitions != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (parts[i].size == 0 || parts[i].offset >= in.size ||
            parts[i].size > in.size - parts[i].offset)
            abort();
    if (info.mode > BSNAP_BOOT_HYBRID)
        abort();
    free(parts);
    return 0;
}
