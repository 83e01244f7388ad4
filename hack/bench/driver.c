/*
 * The bench's timing driver: runs a sequence of commands (one container's create, start and
 * delete, or a `run`, an `exec`...) and appends one line per step to an output file. A step's
 * time is CLOCK_MONOTONIC read right before posix_spawn (a vfork: no page tables copied) and
 * right after wait4 returns, so no shell, no fork of a large process and no output formatting
 * falls inside a measured span; the driver's own start-up happens before the first step.
 *
 *   driver -o OUT -k KEY STEP...
 *   driver -r CMD...                    (see reaper() below)
 *   STEP = =LABEL[,FLAG...] ARG...      (the next argument starting with '=' ends the step)
 *   FLAG = pid=FILE   after the step, read FILE (the runtime's --pid-file) and record init's
 *                     Rss, Pss, private memory (Private_Clean + Private_Dirty) and
 *                     anonymous memory from /proc/PID/smaps_rollup
 *          n=N        run the command N times in a row; one line with the total time
 *          smaps      no command: ARGs are pid files; record the sums over their processes
 *          anyexit    a non-zero exit status is expected (still not a death by signal)
 *
 * Output line: KEY LABEL NS MAXRSS_KIB MINFLT RSS_KIB PSS_KIB PRIVATE_KIB ANON_KIB ("-"
 * where not measured). MAXRSS and MINFLT come from wait4's rusage, as /usr/bin/time's %M and %R: the
 * peak RSS of the command (or of a child it waited for, if larger) and the minor page faults
 * of the command and the children it waited for (with n=N: the largest peak, the faults of
 * all N runs).
 * The command's stdin and stdout are /dev/null; its stderr goes to a scratch file that is
 * printed when it fails. Any failure (non-zero exit, signal, unreadable pid file) stops the
 * driver with exit status 1: the bench must not average over broken runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *errfile;

/* Prints "driver: MESSAGE" (%m is errno's text) and exits with status 1. */
static void die(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	fputs("driver: ", stderr);
	errno = e;
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int any_exit;

static void show_failure(char **argv, int status)
{
	fprintf(stderr, "driver: command failed (");
	if (WIFEXITED(status))
		fprintf(stderr, "exit %d", WEXITSTATUS(status));
	else
		fprintf(stderr, "signal %d", WTERMSIG(status));
	fprintf(stderr, "):");
	for (char **a = argv; *a; a++)
		fprintf(stderr, " %s", *a);
	fprintf(stderr, "\n");
	FILE *f = fopen(errfile, "r");
	if (f) {
		char buf[4096];
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, f)) > 0)
			fwrite(buf, 1, n, stderr);
		fclose(f);
	}
	exit(1);
}

/* Runs argv once; returns its wall time in ns, its peak RSS in KiB and its minor faults. */
static int64_t run_once(char **argv, long *maxrss, long *minflt)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, errfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	pid_t pid;
	int status;
	struct rusage ru;
	int64_t t0 = now_ns();
	int err = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
	if (err != 0) {
		errno = err;
		die("spawn %s: %m", argv[0]);
	}
	while (wait4(pid, &status, 0, &ru) < 0)
		if (errno != EINTR)
			die("wait4 %s: %m", argv[0]);
	int64_t t1 = now_ns();
	posix_spawn_file_actions_destroy(&fa);
	if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && !any_exit))
		show_failure(argv, status);
	*maxrss = ru.ru_maxrss;
	*minflt = ru.ru_minflt;
	return t1 - t0;
}

struct mem {
	long rss, pss, priv, anon;
};

static pid_t read_pid(const char *pidfile)
{
	FILE *f = fopen(pidfile, "r");
	long pid = 0;
	if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 0)
		die("pid file %s: no pid", pidfile);
	fclose(f);
	return (pid_t)pid;
}

/* Adds the Rss, Pss, private and anonymous KiB of pid's smaps_rollup to *m. */
static void add_smaps(pid_t pid, struct mem *m)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/smaps_rollup", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		die("%s: %m", path);
	int seen = 0;
	while (fgets(line, sizeof line, f)) {
		long v;
		if (sscanf(line, "Rss: %ld", &v) == 1)
			m->rss += v, seen++;
		else if (sscanf(line, "Pss: %ld", &v) == 1)
			m->pss += v, seen++;
		else if (sscanf(line, "Private_Clean: %ld", &v) == 1 ||
			 sscanf(line, "Private_Dirty: %ld", &v) == 1)
			m->priv += v, seen++;
		else if (sscanf(line, "Anonymous: %ld", &v) == 1)
			m->anon += v, seen++;
	}
	fclose(f);
	if (seen != 5)
		die("%s: Rss, Pss, Private_* or Anonymous missing", path);
}

/*
 * driver -r CMD...: runs CMD as a child subreaper. The containers' inits are orphaned when
 * the runtime that made them exits; they are re-parented here and reaped as soon as they
 * die, as a shim would, so a `delete` never waits on a zombie that nobody collects (v1
 * cgroups cannot be removed while one is in them), whichever runtime made it.
 *
 * CMD runs in a process group of its own. SIGINT, SIGTERM or SIGHUP sent to the reaper (a ^C
 * on the terminal, the bench's cleanup) is passed on once, as SIGTERM, to that group: CMD
 * and the step it is running stop, CMD's own cleanup deletes its containers, and the reaper
 * keeps reaping until CMD has exited, then dies of the signal it got.
 */
static volatile sig_atomic_t stop_signal;
static pid_t group;

static void on_stop(int sig)
{
	if (!stop_signal) {
		stop_signal = sig;
		kill(-group, SIGTERM);
	}
}

static int reaper(char **argv)
{
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		die("PR_SET_CHILD_SUBREAPER: %m");
	/* Blocked until CMD's group exists and the handler knows it; CMD starts unblocked. */
	sigset_t stops, none;
	sigemptyset(&stops);
	sigemptyset(&none);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	sigprocmask(SIG_BLOCK, &stops, NULL);
	posix_spawnattr_t attr;
	posix_spawnattr_init(&attr);
	/* ...and with their default actions (a shell starts a background job with SIGINT ignored). */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&attr, 0);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &stops);
	pid_t pid;
	int err = posix_spawn(&pid, argv[0], NULL, &attr, argv, environ);
	if (err != 0) {
		errno = err;
		die("spawn %s: %m", argv[0]);
	}
	group = pid;
	struct sigaction sa = { .sa_handler = on_stop };  /* no SA_RESTART: wait() returns EINTR */
	sigemptyset(&sa.sa_mask);
	for (int s = 0, sigs[] = { SIGINT, SIGTERM, SIGHUP }; s < 3; s++)
		if (sigaction(sigs[s], &sa, NULL) < 0)
			die("sigaction: %m");
	sigprocmask(SIG_UNBLOCK, &stops, NULL);
	for (;;) {
		int status;
		pid_t p = wait(&status);
		if (p < 0 && errno == EINTR)
			continue;
		if (p < 0)
			die("wait: %m");
		if (p == pid) {
			while (waitpid(-1, NULL, WNOHANG) > 0)
				;
			if (stop_signal) {
				signal(stop_signal, SIG_DFL);
				raise(stop_signal);
			}
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "-r"))
		return reaper(argv + 2);
	const char *out = NULL, *key = NULL;
	int opt;
	while ((opt = getopt(argc, argv, "+o:k:")) != -1) {
		if (opt == 'o')
			out = optarg;
		else if (opt == 'k')
			key = optarg;
		else
			return 2;
	}
	if (!out || !key || optind >= argc || argv[optind][0] != '=')
		die("usage: driver -o OUT -k KEY =LABEL[,pid=FILE|,n=N|,smaps] ARG... ...");

	char errpath[4096];
	snprintf(errpath, sizeof errpath, "%s.stderr", out);
	errfile = errpath;

	/* Lines are collected and written once at the end: no file I/O between steps. */
	static char lines[1 << 16];
	size_t used = 0;

	int i = optind;
	while (i < argc) {
		char spec[512];
		snprintf(spec, sizeof spec, "%s", argv[i] + 1);
		int start = ++i;
		while (i < argc && argv[i][0] != '=')
			i++;
		int nargs = i - start;
		char **cmd = calloc(nargs + 1, sizeof *cmd);
		memcpy(cmd, &argv[start], nargs * sizeof *cmd);

		char *label = strtok(spec, ",");
		const char *pidfile = NULL;
		long repeat = 1;
		int smaps = 0;
		any_exit = 0;
		for (char *f = strtok(NULL, ","); f; f = strtok(NULL, ",")) {
			if (!strncmp(f, "pid=", 4))
				pidfile = f + 4;
			else if (!strncmp(f, "n=", 2))
				repeat = atol(f + 2);
			else if (!strcmp(f, "smaps"))
				smaps = 1;
			else if (!strcmp(f, "anyexit"))
				any_exit = 1;
			else
				die("unknown flag %s", f);
		}
		if (!label || repeat < 1 || (!smaps && nargs == 0))
			die("bad step %s", argv[start - 1]);

		char ns[32] = "-", maxrss[32] = "-", minflt[32] = "-";
		struct mem m = {0, 0, 0, 0};
		int have_mem = 0;
		if (smaps) {
			for (int k = 0; k < nargs; k++)
				add_smaps(read_pid(cmd[k]), &m);
			have_mem = 1;
		} else {
			int64_t total = 0;
			long peak = 0, faults = 0, r, f;
			for (long k = 0; k < repeat; k++) {
				total += run_once(cmd, &r, &f);
				if (r > peak)
					peak = r;
				faults += f;
			}
			snprintf(ns, sizeof ns, "%lld", (long long)total);
			snprintf(maxrss, sizeof maxrss, "%ld", peak);
			snprintf(minflt, sizeof minflt, "%ld", faults);
			if (pidfile) {
				add_smaps(read_pid(pidfile), &m);
				have_mem = 1;
			}
		}
		int n;
		if (have_mem)
			n = snprintf(lines + used, sizeof lines - used, "%s %s %s %s %s %ld %ld %ld %ld\n",
				     key, label, ns, maxrss, minflt, m.rss, m.pss, m.priv, m.anon);
		else
			n = snprintf(lines + used, sizeof lines - used, "%s %s %s %s %s - - - -\n", key,
				     label, ns, maxrss, minflt);
		if (n < 0 || (size_t)n >= sizeof lines - used)
			die("too many steps");
		used += n;
		free(cmd);
	}

	int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, lines, used) != (ssize_t)used)
		die("write %s: %m", out);
	close(fd);
	unlink(errfile);
	return 0;
}
