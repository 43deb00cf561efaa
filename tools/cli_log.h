/* The weir command's log lines under systemd: every line on stderr ("weir: ...", from the
 * command, the engine or a library) is one event; when stderr is the journal's stream
 * (systemd sets JOURNAL_STREAM to its device:inode), each line goes out with the sd-daemon
 * level prefix "<N>" that journald reads as its priority, so `journalctl -p warning` finds
 * the warnings and errors. Anywhere else the lines are unchanged.
 *
 *     int main(int argc, char **argv) { cli_log_init(); ... }
 *
 * The level comes from the line's words (cli_log_level), so no call site names one: a line
 * saying something failed, or could not be done, is an error (3); one about a restart, a
 * retry or a fallback a warning (4); the rest information (6). */
#ifndef WEIR_TOOLS_CLI_LOG_H
#define WEIR_TOOLS_CLI_LOG_H

#include <stddef.h>

/* Replaces stderr by the prefixing stream when JOURNAL_STREAM names stderr; else nothing. */
void cli_log_init(void);

/* The sd-daemon level (3, 4 or 6) of one line of len bytes. */
int cli_log_level(const char *line, size_t len);

#endif
