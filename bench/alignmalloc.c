/* alignmalloc - an LD_PRELOAD library that makes malloc() of 64 KiB or more
 * return page-aligned memory, so that a baseline tool that reads its input
 * into a malloc()ed buffer (xxhsum, lz4) can be measured with the aligned
 * buffers blocksnap uses.
 *
 * glibc's malloc() of a large size returns memory 16 bytes past a page (the
 * chunk header of an mmap()ed chunk) or wherever the heap is, and on some
 * x86-64 machines the kernel copies into such a destination several times
 * slower than into an aligned one (bench/alignsweep.c measures it).  Only the
 * allocation moves: glibc's free() and realloc() take memory from
 * __libc_memalign() as they take any other.
 *
 * Built by bench/run with: cc -O2 -shared -fPIC -o alignmalloc.so alignmalloc.c
 * Used as: LD_PRELOAD=./alignmalloc.so xxhsum -H3 FILE
 */
#include <stddef.h>

#define ALIGN_FROM (64u * 1024u)
#define PAGE 4096u

/* glibc's own entry points, exported for exactly this kind of wrapper. */
extern void *__libc_malloc(size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

void *malloc(size_t size);

void *malloc(size_t size)
{
    return size >= ALIGN_FROM ? __libc_memalign(PAGE, size) : __libc_malloc(size);
}
