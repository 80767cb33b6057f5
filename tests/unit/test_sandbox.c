/*
 * test_sandbox.c - least privilege: the seccomp allow-list refuses a call
 * serving never needs and ends the process on execve, in a forked child;
 * dropping root to a user cannot be undone.
 *
 * Dropping root needs root; without it that test is skipped, and
 * SEALAUTH_ROOT_TESTS_REQUIRED=1 (scripts/test) makes it a failure.
 */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "cmd/sandbox.h"
#include "core/log.h"

/* Child exit codes: what went wrong, for the parent's assertion. */
#define CHILD_OK 0
#define CHILD_NO_FILTER 10
#define CHILD_ALLOWED_BROKEN 11
#define CHILD_NOT_REFUSED 12
#define CHILD_EXEC_RAN 13

static int
run_child(int (*fn)(void))
{
	int st = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return st;
}

static int
child_refused(void)
{
	char buf[8];
	int fds[2];

	if (sandbox_seccomp() != SA_OK)
		return CHILD_NO_FILTER;
	/* What serving uses still works. */
	if (pipe(fds) != 0 || write(fds[1], "ok", 2) != 2 ||
	    read(fds[0], buf, sizeof(buf)) != 2 || getpid() <= 0)
		return CHILD_ALLOWED_BROKEN;
	/* personality(2) is off the list: refused, the process lives on. */
	errno = 0;
	if (syscall(SYS_personality, 0xffffffffUL) != -1 || errno != EPERM)
		return CHILD_NOT_REFUSED;
	return CHILD_OK;
}

static int
child_exec(void)
{
	char *argv[] = {"/bin/true", NULL};

	if (sandbox_seccomp() != SA_OK)
		return CHILD_NO_FILTER;
	execv("/bin/true", argv);
	return CHILD_EXEC_RAN;
}

static void
test_forbidden_call_is_refused(void **state)
{
	int st;

	(void)state;
	/* Without the filter the same call succeeds. */
	assert_true(syscall(SYS_personality, 0xffffffffUL) != -1);
	st = run_child(child_refused);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), CHILD_OK);
}

static void
test_execve_ends_the_process(void **state)
{
	int st;

	(void)state;
	st = run_child(child_exec);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGSYS);
}

static int
child_drop(void)
{
	static char dir[] = "/tmp/test_sandbox_XXXXXX";
	char data[64];
	struct passwd *pw = getpwnam("nobody");

	if (pw == NULL || mkdtemp(dir) == NULL || chmod(dir, 0755) != 0)
		return 20;
	snprintf(data, sizeof(data), "%s/data", dir);
	if (sandbox_drop_to("nobody", data) != SA_OK)
		return 21;
	if (getuid() != pw->pw_uid || geteuid() != pw->pw_uid ||
	    getgid() != pw->pw_gid)
		return 22;
	/* For good: root cannot come back. */
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 23;
	/* The data directory is the user's: it can write there. */
	snprintf(data, sizeof(data), "%s/data/f", dir);
	if (fopen(data, "w") == NULL)
		return 24;
	return 0;
}

static void
test_drop_root_for_good(void **state)
{
	const char *req = getenv("SEALAUTH_ROOT_TESTS_REQUIRED");
	int st;

	(void)state;
	if (geteuid() != 0 || getpwnam("nobody") == NULL) {
		fprintf(stderr, "test_drop_root_for_good: SKIPPED: needs root "
				"and a user named nobody\n");
		if (req != NULL && strcmp(req, "1") == 0)
			fail_msg("SEALAUTH_ROOT_TESTS_REQUIRED=1 and not root");
		skip();
	}
	st = run_child(child_drop);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_drop_refuses_a_foreign_data_dir(void **state)
{
	char dir[] = "/tmp/test_sandbox_own_XXXXXX", f[64];
	FILE *fp;

	(void)state;
	if (geteuid() != 0 || getpwnam("nobody") == NULL)
		skip();
	assert_non_null(mkdtemp(dir));
	snprintf(f, sizeof(f), "%s/keep", dir);
	assert_non_null(fp = fopen(f, "w"));
	fclose(fp);
	/* Root's non-empty directory is not given away. */
	assert_int_equal(sandbox_drop_to("nobody", dir), SA_ERR_CONFIG);
	assert_int_equal(geteuid(), 0);
	unlink(f);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_forbidden_call_is_refused),
	    cmocka_unit_test(test_execve_ends_the_process),
	    cmocka_unit_test(test_drop_root_for_good),
	    cmocka_unit_test(test_drop_refuses_a_foreign_data_dir),
	};
	log_set_level(SA_LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
