/*
 * O_DIRECT where the filesystem takes it, and a clean fall back to the page cache where it
 * does not: on a refusal at open (ramfs; tmpfs before Linux 6.6), forced with a test hook,
 * and on a real ramfs/tmpfs when this process may mount one. The bytes read back the same
 * either way, and the storage says which it used.
 */
#include <sys/mount.h>

#include "storage_test.h"

static int setup(void **state)
{
    *state = fx_new("direct");
    return 0;
}

static int teardown(void **state)
{
    /* A failed assertion skips the test's own umount. */
    struct fx *f = *state;
    const char *mnts[] = {"ramfs", "tmpfs"};
    for (size_t i = 0; i < sizeof mnts / sizeof mnts[0]; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", f->dir, mnts[i]);
        umount2(p, MNT_DETACH);
    }
    fx_free(*state);
    return 0;
}

static void round_trip(weir_storage *s, uint64_t id)
{
    const char *names[] = {"a", "b"};
    /* Odd sizes: the tail is never a multiple of 4096, so O_DIRECT pads and truncates. */
    assert_int_equal(checkpoint(s, id, names, 2, 3, 77777, NULL, 0), 0);
    weir_restore *r;
    assert_int_equal(weir_restore_open_latest(s, 0, &r), 0);
    assert_int_equal(weir_restore_meta(r)->checkpoint_id, id);
    check_state(r, "a", 3, 77777, id * 100);
    check_state(r, "b", 3, 77777, id * 100 + 1);
    weir_restore_close(r);
}

/* Whether O_DIRECT opens on the filesystem of dir. */
static bool fs_takes_direct(const char *dir)
{
    char p[800];
    snprintf(p, sizeof p, "%s/.probe", dir);
    int fd = open(p, O_WRONLY | O_CREAT | O_DIRECT, 0644);
    if (fd >= 0)
        close(fd);
    unlink(p);
    return fd >= 0;
}

static void direct_io_where_the_filesystem_allows(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    round_trip(f->s, 1);
    struct weir_storage_stats st;
    weir_storage_stats_get(f->s, &st);
    assert_int_equal(st.direct_io, fs_takes_direct(f->dir));
    /* The padding O_DIRECT wrote is cut off: sizes are exact (check_state read them). */
}

static void refused_at_open_falls_back_with_a_log_line(void **state)
{
    struct fx *f = *state;
    fx_open(f);
    weir_storage_refuse_direct_for_test(f->s);
    round_trip(f->s, 1);
    round_trip(f->s, 2);
    struct weir_storage_stats st;
    weir_storage_stats_get(f->s, &st);
    assert_false(st.direct_io);
    assert_true(log_has(&f->log, "O_DIRECT refused (Invalid argument): writing through the "
                                 "page cache"));
}

static void no_direct_option(void **state)
{
    struct fx *f = *state;
    f->o.no_direct = true;
    fx_open(f);
    round_trip(f->s, 1);
    struct weir_storage_stats st;
    weir_storage_stats_get(f->s, &st);
    assert_false(st.direct_io);
    assert_false(log_has(&f->log, "O_DIRECT"));
}

/* ramfs refuses O_DIRECT at open on every kernel; tmpfs does before Linux 6.6 and takes it
 * since. Either way the checkpoint is written and reads back. */
static void real_filesystems(void **state)
{
    struct fx *f = *state;
    const char *types[] = {"ramfs", "tmpfs"};
    for (int i = 0; i < 2; i++) {
        char mnt[700];
        snprintf(mnt, sizeof mnt, "%s/%s", f->dir, types[i]);
        assert_int_equal(mkdir(mnt, 0755), 0);
        if (mount(types[i], mnt, types[i], 0, "mode=0700") != 0) {
            fprintf(stderr, "skip: cannot mount %s here: %s\n", types[i], strerror(errno));
            skip();
        }
        struct fx g = {.dir = mnt};
        pthread_mutex_init(&g.log.mu, NULL);
        g.o = f->o;
        fx_open(&g);
        round_trip(g.s, 1);
        bool takes = fs_takes_direct(mnt);
        struct weir_storage_stats st;
        weir_storage_stats_get(g.s, &st);
        assert_int_equal(st.direct_io, takes);
        assert_int_equal(log_has(&g.log, "O_DIRECT refused"), !takes);
        fprintf(stderr, "%s: O_DIRECT %s\n", types[i], takes ? "used" : "refused, fell back");
        if (i == 0)
            assert_false(takes);
        weir_storage_close(g.s);
        assert_int_equal(umount(mnt), 0);
    }
}

int main(void)
{
    require_io_uring();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(direct_io_where_the_filesystem_allows, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_at_open_falls_back_with_a_log_line, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(no_direct_option, setup, teardown),
        cmocka_unit_test_setup_teardown(real_filesystems, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
