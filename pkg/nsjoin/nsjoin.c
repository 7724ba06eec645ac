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
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/prctl.h>

int nsjoin_ran = 0;	// the variable was set
int nsjoin_failed = -1;	// position in the list of the entry that failed
int nsjoin_errno = 0;	// its errno; EINVAL for a malformed list

__attribute__((constructor)) static void nsjoin(void)
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
}
