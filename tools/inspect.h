/* weir inspect: what a checkpoint or savepoint holds, without its job.
 *
 *   weir inspect [--json] [--key K [--state NAME]] [-D key=value]... PATH
 *
 * PATH is a checkpoint (chk-N), a savepoint or a local-recovery copy. It prints the job,
 * the checkpoint id, each operator (uid, parallelism, key groups per subtask, its states with
 * entry counts and bytes, its timers, its subtasks' files and operator state) after every
 * checksum was verified; --json the document weir_checkpoint_inspect (weir/inspect.h) makes;
 * --key K (a number, 0x for hex) the value of key K in state NAME (every keyed state without
 * --state), as hex and, when printable, text; -D a setting of the scratch backends the state
 * is read into (memory.task.heap.size). Exit status: 0; 1 when a file is damaged (one
 * line: the file and the checksum or check that failed) or K has no value; 2 when PATH is
 * not a checkpoint or the command line is wrong. */
#ifndef WEIR_TOOLS_INSPECT_H
#define WEIR_TOOLS_INSPECT_H

/* argv[0] is "inspect". Returns the exit status. */
int cmd_inspect(int argc, char **argv);

#endif
