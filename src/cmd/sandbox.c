/*
 * sandbox.c - dropping root and the seccomp allow-list of `sealauth serve`.
 *
 * The allow-list holds what a running server calls: file and socket I/O
 * (the stores, WebSockets, push and trust fetches over libcurl, DNS
 * lookups), memory, threads and their synchronisation, time, signals and
 * randomness. Opening files stays allowed (SQLite opens its journal files,
 * the key ring is reloaded, libcurl reads its CA bundle), and so do new
 * sockets (reconnecting to PostgreSQL or Redis). What a compromised worker
 * would want next is refused: starting programs, tracing, mounting,
 * changing identity, loading modules, new namespaces.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <seccomp.h>

#include "cmd/sandbox.h"
#include "core/log.h"
#include "core/util.h"

enum sa_err
sandbox_drop_to(const char *user, const char *data_dir)
{
	struct passwd *pw;
	struct stat st;

	if (user == NULL || user[0] == '\0') {
		if (geteuid() == 0)
			log_warn("serve.user",
				 "running as root; set SEALAUTH_USER to drop "
				 "to an unprivileged user after binding");
		return SA_OK;
	}
	if ((pw = getpwnam(user)) == NULL) {
		log_error("serve.user", "SEALAUTH_USER: no user named \"%s\"",
			  user);
		return SA_ERR_CONFIG;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return SA_OK;
		log_error("serve.user",
			  "SEALAUTH_USER=%s needs serve to start as root "
			  "(it runs as uid %u)",
			  user, (unsigned int)geteuid());
		return SA_ERR_CONFIG;
	}
	if (pw->pw_uid == 0) {
		log_error("serve.user", "SEALAUTH_USER must not be root");
		return SA_ERR_CONFIG;
	}
	if (mkdir_p(data_dir, 0700) != SA_OK || stat(data_dir, &st) != 0) {
		log_error("serve.user", "cannot create %s: %s", data_dir,
			  strerror(errno));
		return SA_ERR_IO;
	}
	if (st.st_uid != pw->pw_uid) {
		/* Only an empty directory is given away: chowning a tree as
		 * root could follow links planted in it. */
		if (rmdir(data_dir) == 0 && mkdir(data_dir, 0700) == 0 &&
		    chown(data_dir, pw->pw_uid, pw->pw_gid) == 0) {
			log_info("serve.user", "created %s for %s", data_dir,
				 user);
		} else {
			log_error("serve.user",
				  "%s belongs to uid %u, not to %s: run chown "
				  "-R %s %s",
				  data_dir, (unsigned int)st.st_uid, user, user,
				  data_dir);
			return SA_ERR_CONFIG;
		}
	}
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		log_error("serve.user", "cannot switch to %s: %s", user,
			  strerror(errno));
		return SA_ERR_INTERNAL;
	}
	if (setuid(0) == 0 || geteuid() == 0) {
		log_error("serve.user",
			  "root could be regained after "
			  "switching to %s",
			  user);
		return SA_ERR_INTERNAL;
	}
	log_info("serve.user", "running as %s (uid %u, gid %u)", user,
		 (unsigned int)pw->pw_uid, (unsigned int)pw->pw_gid);
	return SA_OK;
}

/* What serving calls. Names unknown to this architecture are skipped. */
static const char *const allowed[] = {
    /* files */
    "read",
    "write",
    "readv",
    "writev",
    "pread64",
    "pwrite64",
    "preadv",
    "pwritev",
    "lseek",
    "close",
    "fstat",
    "newfstatat",
    "stat",
    "lstat",
    "statx",
    "statfs",
    "fstatfs",
    "open",
    "openat",
    "access",
    "faccessat",
    "faccessat2",
    "readlink",
    "readlinkat",
    "getdents64",
    "fsync",
    "fdatasync",
    "ftruncate",
    "fallocate",
    "fcntl",
    "flock",
    "unlink",
    "unlinkat",
    "rename",
    "renameat",
    "renameat2",
    "umask",
    "getcwd",
    "ioctl",
    "dup",
    "dup2",
    "dup3",
    "pipe",
    "pipe2",
    "fchmod",
    "fchown",
    /* memory */
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "mprotect",
    "madvise",
    "mincore",
    "membarrier",
    /* threads */
    "clone",
    "clone3",
    "set_robust_list",
    "get_robust_list",
    "rseq",
    "futex",
    "futex_waitv",
    "set_tid_address",
    "sched_yield",
    "sched_getaffinity",
    "gettid",
    "getpid",
    "getppid",
    "tgkill",
    "exit",
    "exit_group",
    "prctl",
    "arch_prctl",
    "restart_syscall",
    /* time */
    "clock_gettime",
    "clock_getres",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "time",
    "timerfd_create",
    "timerfd_settime",
    "timerfd_gettime",
    /* events and sockets */
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_wait",
    "epoll_pwait",
    "epoll_pwait2",
    "eventfd",
    "eventfd2",
    "poll",
    "ppoll",
    "select",
    "pselect6",
    "socket",
    "socketpair",
    "connect",
    "accept",
    "accept4",
    "bind",
    "listen",
    "shutdown",
    "getsockname",
    "getpeername",
    "setsockopt",
    "getsockopt",
    "sendto",
    "recvfrom",
    "sendmsg",
    "recvmsg",
    "sendmmsg",
    "recvmmsg",
    /* signals, identity queries, randomness, system facts */
    "rt_sigaction",
    "rt_sigprocmask",
    "rt_sigreturn",
    "rt_sigtimedwait",
    "sigaltstack",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getresuid",
    "getresgid",
    "getgroups",
    "getrandom",
    "uname",
    "sysinfo",
    "getrusage",
    "getrlimit",
    "prlimit64",
    "getpriority",
    "sched_getparam",
    "sched_getscheduler",
};

/* What would run other code or reach into other processes: fatal. */
static const char *const fatal[] = {
    "execve",		"execveat",   "ptrace",	     "process_vm_writev",
    "process_vm_readv", "kexec_load", "init_module", "finit_module",
};

/* add_rules adds action for each named call this architecture knows;
 * *added counts them. Returns 0, or -1 when libseccomp refuses a rule. */
static int
add_rules(scmp_filter_ctx ctx, uint32_t action, const char *const *names,
	  size_t n, size_t *added)
{
	for (size_t i = 0; i < n; i++) {
		int nr = seccomp_syscall_resolve_name(names[i]);
		if (nr == __NR_SCMP_ERROR)
			continue;
		if (seccomp_rule_add(ctx, action, nr, 0) != 0)
			return -1;
		(*added)++;
	}
	return 0;
}

enum sa_err
sandbox_seccomp(void)
{
	scmp_filter_ctx ctx;
	enum sa_err rc = SA_ERR_INTERNAL;
	size_t n = 0, nfatal = 0;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		log_error("serve.seccomp", "PR_SET_NO_NEW_PRIVS: %s",
			  strerror(errno));
		return SA_ERR_INTERNAL;
	}
	if ((ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM))) == NULL)
		return SA_ERR_NOMEM;
	/* Every thread, those already running included. */
	if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) != 0 ||
	    add_rules(ctx, SCMP_ACT_ALLOW, allowed, ARRAY_LEN(allowed), &n) !=
		0 ||
	    add_rules(ctx, SCMP_ACT_KILL_PROCESS, fatal, ARRAY_LEN(fatal),
		      &nfatal) != 0)
		goto out;
	if (seccomp_load(ctx) != 0) {
		log_error("serve.seccomp", "cannot load the filter");
		goto out;
	}
	log_info("serve.seccomp", "system calls restricted to %zu allowed ones",
		 n);
	rc = SA_OK;
out:
	seccomp_release(ctx);
	return rc;
}
