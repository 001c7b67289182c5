/* keyprobe.c - bsnap-keyprobe, the e2e tests' way to the data-key calls
 * that no verb exposes yet (the data path that will call them is not
 * wired):
 *
 *   bsnap-keyprobe STORE wrap KEY PURPOSE WRAPPED PLAIN
 *       a new data key under KEY (key id, ARN or alias; "-" for the EBS
 *       default key): its wrapped form to the file WRAPPED, the plain key
 *       as hex to the file PLAIN, the key's ARN on stdout;
 *   bsnap-keyprobe STORE unwrap PURPOSE WRAPPED
 *       the plain key of WRAPPED as hex on stdout;
 *   bsnap-keyprobe STORE due KEY-ID
 *       move the deletion date of KEY-ID (scheduled for deletion) to now,
 *       as if its waiting period had passed.
 *
 * $KEYPROBE_ACCOUNT, when set, is the calling account.
 *
 * A failure prints "blocksnap: error: MESSAGE (CODE)" and exits 1, as the
 * CLI does. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blocksnap.h"
#include "keys.h"
#include "util.h"

static int fail(void)
{
    const bsnap_error *e = bsnap_last_error();
    fprintf(stderr, "blocksnap: error: %s (%s)\n", e->message, e->code);
    return 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: bsnap-keyprobe STORE wrap KEY PURPOSE WRAPPED PLAIN\n"
                    "       bsnap-keyprobe STORE unwrap PURPOSE WRAPPED\n"
                    "       bsnap-keyprobe STORE due KEY-ID\n");
    return 2;
}

int main(int argc, char **argv)
{
    uint8_t w[KEYS_WRAPPED_BYTES], p[KEYS_DATA_KEY_BYTES];
    char hex[2 * KEYS_DATA_KEY_BYTES + 1], arn[2048];
    bsnap_store *s = NULL;
    FILE *f;
    int rc = 1;

    const char *account = getenv("KEYPROBE_ACCOUNT");

    if (argc < 3 || (strcmp(argv[2], "wrap") == 0     ? argc != 7
                     : strcmp(argv[2], "unwrap") == 0 ? argc != 5
                     : strcmp(argv[2], "due") == 0    ? argc != 4
                                                      : 1))
        return usage();
    if (bsnap_store_open(argv[1], 0, NULL, &s) < 0)
        return fail();
    if (account && *account && bsnap_store_set_account(s, account) < 0) {
        rc = fail();
    } else if (strcmp(argv[2], "due") == 0) {
        rc = keys_deletion_date_set(s, argv[3], time_now_ms()) < 0 ? fail() : 0;
    } else if (strcmp(argv[2], "wrap") == 0) {
        if (keys_data_key_new(s, strcmp(argv[3], "-") ? argv[3] : NULL, argv[4], w, p, arn) < 0) {
            rc = fail();
        } else if ((f = fopen(argv[5], "wb")) && fwrite(w, sizeof w, 1, f) == 1 && !fclose(f)) {
            hex_encode(p, sizeof p, hex);
            if ((f = fopen(argv[6], "w")) && fprintf(f, "%s\n", hex) > 0 && !fclose(f)) {
                printf("%s\n", arn);
                rc = 0;
            }
        }
    } else {
        if (!(f = fopen(argv[4], "rb")) || fread(w, sizeof w, 1, f) != 1) {
            fprintf(stderr, "bsnap-keyprobe: cannot read %s\n", argv[4]);
        } else if (keys_data_key_open(s, w, argv[3], p) < 0) {
            rc = fail();
        } else {
            hex_encode(p, sizeof p, hex);
            printf("%s\n", hex);
            rc = 0;
        }
        if (f)
            fclose(f);
    }
    keys_wipe(p, sizeof p);
    bsnap_store_close(s);
    return rc;
}
