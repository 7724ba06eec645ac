// Joining namespaces before the Go runtime starts: see nsjoin.go.
//
// This constructor runs in every process of a binary that links the
// package, before main and so before the Go runtime creates its threads. It
// does nothing unless _OCI_UNSHARE_SETNS is set. Then it makes the process
// non-dumpable (processes in the namespaces it enters must not be able to
// ptrace it or open its /proc files) and calls setns(2) on each listed
// descriptor, in the order given. It never exits and never prints: the
// outcome is left in the three variables below for the Go code to report
// with the name of the spec field.
//
// Hand-off (_OCI_UNSHARE_HANDOFF=FD:INDEX, set by unshare.Launch for a
// child image that has nothing else to do): once every namespace is
// joined, take the root in _OCI_UNSHARE_ROOT if there is one, close the
// image's own descriptors, and exec the program open at FD with argv from
// INDEX on and the environment without the _OCI_UNSHARE_* variables: the
// next stage starts without this image's Go runtime ever starting (about
// 1 ms of CPU and 2 ms of wall time per `oci-run exec`, measured). On any
// failure it returns, and the Go code does the same steps and reports.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int nsjoin_ran = 0;	// the variable was set
int nsjoin_failed = -1;	// position in the list of the entry that failed
int nsjoin_errno = 0;	// its errno; EINVAL for a malformed list
int nsjoin_fork_errno = 0;	// fork after the joins failed (fork mode)

static void handoff(int argc, char **argv, char **envp);
static int forkjoined(void);

__attribute__((constructor)) static void nsjoin(int argc, char **argv, char **envp)
{
	const char *p = getenv("_OCI_UNSHARE_SETNS");
	if (p == NULL || *p == '\0')
		return;
	nsjoin_ran = 1;
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		nsjoin_errno = errno;
		return;
	}
	// The list is "FD:FLAG,FD:FLAG,...", both decimal.
	for (int pos = 0; *p != '\0'; pos++) {
		char *end;
		long fd = strtol(p, &end, 10);
		if (end == p || *end != ':')
			goto malformed;
		p = end + 1;
		long flag = strtol(p, &end, 10);
		if (end == p || (*end != ',' && *end != '\0'))
			goto malformed;
		p = *end == ',' ? end + 1 : end;
		if (setns((int)fd, (int)flag) < 0) {
			nsjoin_failed = pos;
			nsjoin_errno = errno;
			return;
		}
		continue;
malformed:
		nsjoin_failed = pos;
		nsjoin_errno = EINVAL;
		return;
	}
	if (forkjoined() < 0)
		return;
	handoff(argc, argv, envp);
}

static int envfd(const char *name);

// Fork mode (_OCI_UNSHARE_FORK=SYNCFD, set by oci-run exec): a joined pid
// namespace applies to children only, so once every namespace is joined
// this process forks; the child, in the pid namespace, goes on (hand-off);
// the parent reports the child's pid on the sync socket, as oci-unshare's
// parent does, and exits. As runc's nsexec, without the Go runtime that a
// parent oci-unshare would start. Returns -1 when the fork failed
// (nsjoin_fork_errno), 0 in the child or without fork mode.
static int forkjoined(void)
{
	int sync = envfd("_OCI_UNSHARE_FORK");
	if (sync < 0)
		return 0;
	pid_t pid = fork();
	if (pid < 0) {
		nsjoin_fork_errno = errno;
		return -1;
	}
	if (pid == 0)
		return 0;
	char msg[96];
	int n = snprintf(msg, sizeof(msg), "{\"type\":\"pid\",\"stage\":\"oci-unshare\",\"pid\":%d}", (int)pid);
	if (write(sync, msg, n) != n) {
		kill(pid, SIGKILL);
		_exit(1);
	}
	_exit(0);
}

static int envfd(const char *name)
{
	const char *v = getenv(name);
	if (v == NULL || *v == '\0')
		return -1;
	char *end;
	long fd = strtol(v, &end, 10);
	return (*end == '\0' && fd >= 0) ? (int)fd : -1;
}

static void handoff(int argc, char **argv, char **envp)
{
	const char *h = getenv("_OCI_UNSHARE_HANDOFF");
	if (h == NULL || *h == '\0')
		return;
	char *end;
	long fd = strtol(h, &end, 10);
	if (end == h || *end != ':')
		return;
	long idx = strtol(end + 1, &end, 10);
	if (*end != '\0' || idx <= 0 || idx >= argc)
		return;
	int root = envfd("_OCI_UNSHARE_ROOT");
	if (root >= 0) {
		// After the mount namespace: joining it put us at its root.
		if (fchdir(root) < 0 || chroot(".") < 0)
			return;
		close(root);
	}
	// The joined namespaces are nothing the next stages need.
	for (const char *p = getenv("_OCI_UNSHARE_SETNS"); p != NULL && *p != '\0';) {
		char *end;
		long ns = strtol(p, &end, 10);
		if (end == p)
			break;
		close((int)ns);
		p = strchr(end, ',');
		if (p != NULL)
			p++;
	}
	int self = envfd("_OCI_UNSHARE_SELF");
	if (self >= 0 && self != fd)
		close(self);
	int n = 0;
	while (envp[n] != NULL)
		n++;
	char **env = calloc(n + 1, sizeof(char *));
	if (env == NULL)
		return;
	int k = 0;
	for (int i = 0; i < n; i++)
		if (strncmp(envp[i], "_OCI_UNSHARE_", 13) != 0)
			env[k++] = envp[i];
	syscall(SYS_execveat, (int)fd, "", &argv[idx], env, AT_EMPTY_PATH);
	free(env);
}
