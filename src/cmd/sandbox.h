/*
 * sandbox.h - least privilege for `sealauth serve`: dropping root to a
 * configured user once the listening socket is bound, and a seccomp
 * allow-list of system calls once start-up is over.
 */
#ifndef SEALAUTH_SANDBOX_H
#define SEALAUTH_SANDBOX_H

#include "core/errors.h"

/*
 * sandbox_drop_to switches a process started as root to user (its uid, gid
 * and no supplementary groups), for good: it checks that root cannot be
 * regained. data_dir must be the user's (created for it if missing), so
 * that the stores can write. Without root it does nothing if user is
 * empty or is the current user, and refuses otherwise. Errors are logged
 * and name what to fix.
 */
enum sa_err sandbox_drop_to(const char *user, const char *data_dir);

/*
 * sandbox_seccomp installs the allow-list on every thread of the process
 * (no new privileges first). A system call off the list fails with EPERM;
 * the ones that would run other code (execve, execveat, ptrace, ...) end
 * the process. Call it when start-up is over: the list holds what serving
 * needs, not what starting needs.
 */
enum sa_err sandbox_seccomp(void);

#endif
