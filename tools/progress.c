/* progress.c - what long operations share: a progress bar on stderr and
 * cancellation by SIGINT / SIGTERM.
 *
 * The bar is drawn only when stderr is a terminal and --quiet is not given,
 * so that scripts and tests see nothing of it.  The engine calls back at
 * most about ten times a second; the bar redraws when the shown figure
 * changes.
 *
 * Only long operations (the verbs that call progress_start()) catch the
 * signals: the first one sets the flag the engine polls, and the engine
 * stops, undoes its work and fails with -ECANCELED; a second one kills at
 * once (gc reclaims what that leaves).  Short verbs keep the default
 * disposition and simply die, which LMDB's transactions make safe.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

#define BAR_WIDTH 30

/* The one process-wide flag a signal handler may set. */
static volatile int cancel_flag;

static void on_signal(int sig)
{
    (void)sig;
    cancel_flag = 1;
}

static void catch_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int64_t progress_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void progress_draw(void *ud, uint64_t done, uint64_t total)
{
    struct progress *p = ud;
    int permille = total ? (int)((done > total ? total : done) * 1000 / total) : 1000;
    int64_t now = progress_now_ms();
    double secs = (double)(now - p->start_ms) / 1000;
    char d[32], t[32], rate[32] = "";
    int fill = permille * BAR_WIDTH / 1000;

    if (permille == p->last_permille && now - p->last_ms < 1000)
        return;
    p->last_permille = permille;
    p->last_ms = now;
    bsf_size_text(done, d);
    bsf_size_text(total, t);
    if (secs > 0.2) {
        bsf_size_text((uint64_t)((double)done / secs), rate);
        snprintf(rate + strlen(rate), sizeof rate - strlen(rate), "/s");
    }
    /* \r and erase-to-end-of-line: redraw in place. */
    fprintf(stderr, "\r%s [%.*s%*s] %3d.%d%%  %s / %s  %s\033[K", p->label, fill,
            "##############################", BAR_WIDTH - fill, "", permille / 10, permille % 10, d,
            t, rate);
    fflush(stderr);
}

void progress_start(struct progress *p, const struct cli *cli, const char *label,
                    bsnap_run_options *run)
{
    p->enabled = !cli->quiet && isatty(STDERR_FILENO);
    p->label = label;
    p->start_ms = p->last_ms = progress_now_ms();
    p->last_permille = -1;
    run->progress = p->enabled ? progress_draw : NULL;
    run->progress_ud = p;
    run->cancel = &cancel_flag;
    catch_signals();
}

void progress_end(struct progress *p)
{
    if (p->enabled && p->last_permille >= 0) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}
