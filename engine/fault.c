/* fault.c - see fault.h. */
#include "fault.h"

#ifdef BSNAP_FAULT_INJECTION
#include <pthread.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char name[32];
    unsigned long count;
} counters[16];

bool fault_hit(const char *point)
{
    const char *spec = getenv("BLOCKSNAP_FAULT");
    size_t plen = strlen(point);
    unsigned long n = 0;
    bool hit = false, kill_it = false, stop_it = false;

    if (!spec || !*spec)
        return false;
    pthread_mutex_lock(&fault_lock);
    for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
        if (counters[i].name[0] == '\0')
            snprintf(counters[i].name, sizeof counters[i].name, "%s", point);
        if (strcmp(counters[i].name, point) == 0) {
            n = ++counters[i].count;
            break;
        }
    }
    pthread_mutex_unlock(&fault_lock);
    for (const char *p = spec; p && *p;) {
        if (strncmp(p, point, plen) == 0 && p[plen] == ':') {
            char *end;
            unsigned long want = strtoul(p + plen + 1, &end, 10);
            if (want == n) {
                hit = true;
                kill_it = strncmp(end, ":kill", 5) == 0;
                stop_it = strncmp(end, ":stop", 5) == 0;
            }
        }
        p = strchr(p, ',');
        if (p)
            p++;
    }
    if (hit && kill_it)
        kill(getpid(), SIGKILL);
    if (hit && stop_it) {
        /* Pause here (the test sends its signal, then SIGCONT) and go on. */
        kill(getpid(), SIGSTOP);
        return false;
    }
    return hit;
}
#endif
