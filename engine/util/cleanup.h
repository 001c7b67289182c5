/* cleanup.h - scope-bound resources (casync's _cleanup_ macros).
 *
 * A variable declared _cleanup_free_ is freed, _cleanup_close_ closed,
 * _cleanup_fclose_ fclose'd when it goes out of scope.  Hand ownership on by
 * setting the variable to NULL (or -1) after copying it out: steal_ptr() and
 * steal_fd() do both in one expression. */
#ifndef BSNAP_CLEANUP_H
#define BSNAP_CLEANUP_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
    free(*(void **)p);
}
static inline void cleanup_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
static inline void cleanup_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(cleanup_freep)
#define _cleanup_close_ _cleanup_(cleanup_closep)
#define _cleanup_fclose_ _cleanup_(cleanup_fclosep)

#define steal_ptr(p)                    \
    ({                                  \
        __typeof__(p) steal_tmp_ = (p); \
        (p) = NULL;                     \
        steal_tmp_;                     \
    })
#define steal_fd(fd)           \
    ({                         \
        int steal_tmp_ = (fd); \
        (fd) = -1;             \
        steal_tmp_;            \
    })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define DIV_ROUND_UP(n, d) (((n) + (d)-1) / (d))

#endif
