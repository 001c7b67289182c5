/* fuzz-ebs-token.c - libFuzzer harness for the decoder of what EBS direct
 * clients send as Base64 of 32 bytes: the x-amz-Checksum of a put and the
 * block and page tokens (ebs_b64_decode32()).
 *
 * The input is the text.  Checks its promises: it returns; it accepts only
 * 44 characters; what it accepts is the canonical spelling of the bytes it
 * gives (encoding them again gives the input), so that no two texts name
 * one token. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ebs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t raw[32];
    char again[64];

    if (!ebs_b64_decode32((const char *)data, size, raw))
        return 0;
    if (size != 44)
        abort();
    EVP_EncodeBlock((unsigned char *)again, raw, sizeof raw);
    if (memcmp(again, data, 44) != 0)
        abort();
    return 0;
}
