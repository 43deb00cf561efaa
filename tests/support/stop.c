/* Stop-with-savepoint from a thread beside the run (weir_test.h, "stop-with-savepoint"). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <unistd.h>

#include "weir_test.h"

static void *stop_later(void *arg)
{
    struct wt_stopper *s = arg;
    usleep((useconds_t)s->after_ms * 1000);
    s->rc = -ESRCH;
    for (int i = 0; i < 500 && s->rc == -ESRCH; i++) { /* until weir_job_run serves it */
        s->rc = weir_job_stop_with_savepoint(s->job, s->dir, s->drain);
        if (s->rc == -ESRCH)
            usleep(10 * 1000);
    }
    do {
        usleep(5 * 1000);
        s->state = weir_job_stop_status(s->job, s->result, sizeof s->result);
    } while (s->rc == 0 && s->state == WEIR_STOP_PENDING);
    return NULL;
}

void wt_stopper_start(struct wt_stopper *s, weir_job *job)
{
    s->job = job;
    assert_int_equal(pthread_create(&s->thread, NULL, stop_later, s), 0);
}

void wt_stopper_join(struct wt_stopper *s)
{
    pthread_join(s->thread, NULL);
    assert_int_equal(s->rc, 0);
}

void wt_stopper_completed(const struct wt_stopper *s)
{
    if (s->state != WEIR_STOP_COMPLETED)
        fail_msg("stop-with-savepoint into %s: state %d: %s", s->dir ? s->dir : "(default)",
                 s->state, s->result);
}
