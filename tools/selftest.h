/* weir selftest: checks of this installation on the user's own configuration and disk.
 *
 *   weir selftest recovery [-c FILE] [-D key=value]... [-p N] [--kills N] [--records N]
 *                          [--keep]
 *
 * recovery runs a built-in stateful job (keyed tumbling-window counts into exactly-once
 * files) once without failures, then again killed with SIGKILL N times and restored with
 * --from-checkpoint latest each time, and compares the committed rows of the two: exit 0
 * and "recovery: PASS (...)" when they are equal, 1 and "recovery: FAIL: ..." when not,
 * 2 for bad usage or configuration. */
#ifndef WEIR_TOOLS_SELFTEST_H
#define WEIR_TOOLS_SELFTEST_H

/* argv[0] is "selftest". Returns the exit status. */
int cmd_selftest(int argc, char **argv);

#endif
