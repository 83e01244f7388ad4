/*
 * The floor: the kernel work that `hull spec`'s default config asks for, done by a small
 * static C program with nothing else (no config parsing, no state directory, no exec fifo,
 * no logging), then execve of the command and a wait for it. A runtime's `run` of the same
 * bundle cannot be faster than this; the bench reports it next to the runtimes' `run`.
 *
 *   floor ROOTFS [ARG...]        (default ARG: /bin/true)
 *
 * What it does, in a runtime's order:
 *  parent  one read each of /proc/self/mountinfo and /proc/self/cgroup (which v1 hierarchies
 *          exist, and our own cgroup in each); a cgroup floor-PID below our own cgroup in
 *          every v1 hierarchy (cpuset.cpus and cpuset.mems copied from the parent, as any
 *          runtime must); clone with new mount, pid, network, ipc and uts namespaces; the
 *          child moved into every cgroup; the devices cgroup set to the default spec's
 *          "deny all" plus runc's default allow list (one write per rule, as v1 takes them);
 *  child   a new cgroup namespace (after joining the cgroups, so they are its root);
 *          / made rslave; the rootfs bind-mounted onto itself; proc, /dev tmpfs, devpts,
 *          /dev/shm tmpfs, mqueue, sysfs (ro) and /sys/fs/cgroup (a tmpfs with one ro
 *          cgroup mount per v1 hierarchy, the tmpfs remounted ro) with the default spec's
 *          options; the six default devices by mknod (null zero full random urandom tty)
 *          and the /dev/ptmx, fd, stdin, stdout, stderr links (no /dev/core: runc adds it
 *          only where /proc/kcore exists, and hull does not); pivot_root; the root remounted
 *          read-only (root.readonly); read-only paths (bind + ro remount) and masked paths
 *          (/dev/null over files, a ro tmpfs over directories; absent ones skipped); hostname;
 *          a new session keyring; RLIMIT_NOFILE; setgroups/setresgid/setresuid to 0; the
 *          bounding set reduced to the default three capabilities, capset, ambient raise;
 *          no_new_privs; execve.
 *  parent  waits for the child (pid 1 of its namespace: when it exits the namespaces go),
 *          removes its cgroups (retrying while the kernel drains them).
 * Everything mounted lives in the child's mount namespace and goes with it; the cgroups are
 * removed on every path out, so nothing is left behind, pass or fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef KEYCTL_JOIN_SESSION_KEYRING
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif

#define MAX_HIER 16

struct hier {
	char mnt[256];	  /* where the host mounts it, e.g. /sys/fs/cgroup/cpu */
	char opts[128];	  /* its controllers as mount options, e.g. cpu or name=systemd */
	char name[256];	  /* directory name under /sys/fs/cgroup */
	char path[512];	  /* our cgroup in it */
	int made;
};

static struct hier hiers[MAX_HIER];
static int nhier;
static pid_t child = -1;

static void cleanup(void);

static void fail(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "floor: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", strerror(e));
	va_end(ap);
	cleanup();
	exit(1);
}

/* In the child: report and exit; the parent cleans up. */
static void cfail(const char *fmt, ...)
{
	int e = errno;
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "floor (child): ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, ": %s\n", strerror(e));
	va_end(ap);
	_exit(1);
}

static void cleanup(void)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
		child = -1;
	}
	for (int i = 0; i < nhier; i++) {
		if (!hiers[i].made)
			continue;
		/* A v1 cgroup can stay busy for a moment after its last task is reaped. */
		for (int tries = 0; rmdir(hiers[i].path) < 0; tries++) {
			if (errno == ENOENT)
				break;
			if (errno != EBUSY || tries == 1000) {
				fprintf(stderr, "floor: rmdir %s: %s\n", hiers[i].path, strerror(errno));
				break;
			}
			struct timespec ts = {0, 100000};
			nanosleep(&ts, NULL);
		}
		hiers[i].made = 0;
	}
}

static void write_file(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open %s", path);
	if (write(fd, value, strlen(value)) < 0)
		fail("write %s to %s", value, path);
	close(fd);
}

static ssize_t read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fail("open %s", path);
	size_t n = 0;
	ssize_t r;
	while (n < size - 1 && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += r;
	if (r < 0)
		fail("read %s", path);
	buf[n] = 0;
	close(fd);
	return n;
}

/* The v1 hierarchies from mountinfo, and our own cgroup in each from /proc/self/cgroup. */
static void find_hierarchies(void)
{
	static char mi[1 << 16], cg[4096];
	read_file("/proc/self/mountinfo", mi, sizeof mi);
	read_file("/proc/self/cgroup", cg, sizeof cg);
	for (char *line = strtok(mi, "\n"); line; line = strtok(NULL, "\n")) {
		char mnt[256], fstype[32], super[256];
		/* id parent dev root mountpoint opts [optional...] - fstype source superopts */
		char *sep = strstr(line, " - ");
		if (!sep || sscanf(line, "%*s %*s %*s %*s %255s", mnt) != 1 ||
		    sscanf(sep + 3, "%31s %*s %255s", fstype, super) != 2 || strcmp(fstype, "cgroup"))
			continue;
		if (nhier == MAX_HIER)
			break;
		struct hier *h = &hiers[nhier];
		snprintf(h->mnt, sizeof h->mnt, "%s", mnt);
		const char *base = strrchr(mnt, '/');
		snprintf(h->name, sizeof h->name, "%s", base ? base + 1 : mnt);
		/* The controllers are the super options other than rw/ro and the like. */
		h->opts[0] = 0;
		char *save = NULL;
		for (char *o = strtok_r(super, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
			if (!strcmp(o, "rw") || !strcmp(o, "ro") || !strncmp(o, "release_agent", 13) ||
			    !strcmp(o, "clone_children") || !strcmp(o, "noprefix") ||
			    !strcmp(o, "xattr") || !strcmp(o, "cpuset_v2_mode") ||
			    !strcmp(o, "favordynmods"))
				continue;
			if (h->opts[0])
				strncat(h->opts, ",", sizeof h->opts - strlen(h->opts) - 1);
			strncat(h->opts, o, sizeof h->opts - strlen(h->opts) - 1);
		}
		/* Our cgroup in this hierarchy: the /proc/self/cgroup line whose controller list
		 * equals these options (order as the kernel prints both). */
		char own[256] = "";
		char cgcopy[4096], *s2 = NULL;
		snprintf(cgcopy, sizeof cgcopy, "%s", cg);
		for (char *l = strtok_r(cgcopy, "\n", &s2); l; l = strtok_r(NULL, "\n", &s2)) {
			char *c1 = strchr(l, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
			if (!c2)
				continue;
			*c2 = 0;
			if (!strcmp(c1 + 1, h->opts))
				snprintf(own, sizeof own, "%s", strcmp(c2 + 1, "/") ? c2 + 1 : "");
		}
		snprintf(h->path, sizeof h->path, "%s%s/floor-%d", mnt, own, getpid());
		nhier++;
	}
	if (nhier == 0) {
		errno = ENOENT;
		fail("no cgroup v1 hierarchy in /proc/self/mountinfo");
	}
}

static void make_cgroups(void)
{
	for (int i = 0; i < nhier; i++) {
		struct hier *h = &hiers[i];
		if (mkdir(h->path, 0755) < 0)
			fail("mkdir %s", h->path);
		h->made = 1;
		if (!strcmp(h->opts, "cpuset")) {
			/* A new cpuset is empty; tasks cannot join it until it has cpus and mems. */
			char parent[512], from[600], to[600], val[4096];
			snprintf(parent, sizeof parent, "%s", h->path);
			*strrchr(parent, '/') = 0;
			const char *files[] = {"cpuset.cpus", "cpuset.mems"};
			for (int k = 0; k < 2; k++) {
				snprintf(from, sizeof from, "%s/%s", parent, files[k]);
				snprintf(to, sizeof to, "%s/%s", h->path, files[k]);
				read_file(from, val, sizeof val);
				write_file(to, val);
			}
		}
	}
}

static void join_cgroups(pid_t pid)
{
	char p[600], v[32];
	snprintf(v, sizeof v, "%d", pid);
	for (int i = 0; i < nhier; i++) {
		snprintf(p, sizeof p, "%s/cgroup.procs", hiers[i].path);
		write_file(p, v);
		if (!strcmp(hiers[i].opts, "devices")) {
			static const char *allow[] = {
			    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
			    "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
			};
			snprintf(p, sizeof p, "%s/devices.deny", hiers[i].path);
			write_file(p, "a");
			snprintf(p, sizeof p, "%s/devices.allow", hiers[i].path);
			int fd = open(p, O_WRONLY | O_CLOEXEC);
			if (fd < 0)
				fail("open %s", p);
			for (size_t k = 0; k < sizeof allow / sizeof *allow; k++)
				if (write(fd, allow[k], strlen(allow[k])) < 0)
					fail("write %s to %s", allow[k], p);
			close(fd);
		}
	}
}

/* ---- the child: everything below runs in the new namespaces ---- */

static char root[4096];

static const char *in_root(const char *path)
{
	static char buf[2][4096];
	static int n;
	char *b = buf[n++ & 1];
	snprintf(b, sizeof buf[0], "%s%s", root, path);
	return b;
}

static void cmount(const char *src, const char *dst, const char *type, unsigned long flags,
		   const char *data)
{
	if (mount(src, dst, type, flags, data) < 0)
		cfail("mount %s on %s (%s)", src ? src : "-", dst, type ? type : "-");
}

static void cmkdir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		cfail("mkdir %s", path);
}

static void mount_cgroups(void)
{
	const unsigned long fl = MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RELATIME;
	const char *cgdir = in_root("/sys/fs/cgroup");
	char dir[4096];
	snprintf(dir, sizeof dir, "%s", cgdir);
	cmount("tmpfs", dir, "tmpfs", fl, "mode=755");
	for (int i = 0; i < nhier; i++) {
		char d[4200];
		snprintf(d, sizeof d, "%s/%s", dir, hiers[i].name);
		cmkdir(d);
		cmount("cgroup", d, "cgroup", fl | MS_RDONLY, hiers[i].opts);
	}
	cmount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY | fl, "mode=755");
}

static void mknods(void)
{
	static const struct {
		const char *path;
		unsigned maj, min;
	} devs[] = {
	    {"/dev/null", 1, 3}, {"/dev/zero", 1, 5},	 {"/dev/full", 1, 7},
	    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0},
	};
	umask(0);
	for (size_t i = 0; i < sizeof devs / sizeof *devs; i++) {
		const char *p = in_root(devs[i].path);
		if (mknod(p, S_IFCHR | 0666, makedev(devs[i].maj, devs[i].min)) < 0)
			cfail("mknod %s", p);
		if (chown(p, 0, 0) < 0)
			cfail("chown %s", p);
	}
	umask(022);
	static const char *links[][2] = {
	    {"pts/ptmx", "/dev/ptmx"},		{"/proc/self/fd", "/dev/fd"},
	    {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
	    {"/proc/self/fd/2", "/dev/stderr"},
	};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++)
		if (symlink(links[i][0], in_root(links[i][1])) < 0)
			cfail("symlink %s", links[i][1]);
}

static void pivot(void)
{
	int oldroot = open("/", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	int newroot = open(root, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
	if (oldroot < 0 || newroot < 0)
		cfail("open / or %s", root);
	if (fchdir(newroot) < 0)
		cfail("chdir %s", root);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		cfail("pivot_root %s", root);
	/* The old root is now stacked under "."; detach it (runc's way, no put_old dir). */
	if (fchdir(oldroot) < 0)
		cfail("fchdir old root");
	cmount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL);
	if (umount2(".", MNT_DETACH) < 0)
		cfail("umount old root");
	if (chdir("/") < 0)
		cfail("chdir /");
	close(oldroot);
	close(newroot);
}

/* The mount flags a bind remount must keep (locked flags cannot be cleared). */
static unsigned long kept_flags(const char *path)
{
	struct statvfs sv;
	if (statvfs(path, &sv) < 0)
		cfail("statvfs %s", path);
	unsigned long f = 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

static void readonly_path(const char *p)
{
	if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) {
		if (errno == ENOENT)
			return;
		cfail("bind %s", p);
	}
	cmount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(p), NULL);
}

static void mask_path(const char *p)
{
	struct stat st;
	if (stat(p, &st) < 0) {
		if (errno == ENOENT)
			return;
		cfail("stat %s", p);
	}
	if (S_ISDIR(st.st_mode))
		cmount("tmpfs", p, "tmpfs", MS_RDONLY, NULL);
	else
		cmount("/dev/null", p, NULL, MS_BIND, NULL);
}

static void set_caps(void)
{
	const unsigned keep = (1u << CAP_KILL) | (1u << CAP_NET_BIND_SERVICE) | (1u << CAP_AUDIT_WRITE);
	for (int cap = 0;; cap++) {
		if (prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0)
			break; /* past the kernel's last capability */
		if (cap < 32 && (keep & (1u << cap)))
			continue;
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
			cfail("drop capability %d from the bounding set", cap);
	}
	struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct data[2] = {{keep, keep, 0}, {0, 0, 0}};
	if (syscall(SYS_capset, &hdr, data) < 0)
		cfail("capset");
	/* Ambient needs the capability inheritable, which the default spec does not make it:
	 * the kernel refuses, and runtimes go on (as runc does). */
	const int amb[] = {CAP_KILL, CAP_NET_BIND_SERVICE, CAP_AUDIT_WRITE};
	for (int i = 0; i < 3; i++)
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, amb[i], 0, 0);
}

static int child_main(int sync_fd, char **argv)
{
	char c;
	if (read(sync_fd, &c, 1) != 1)
		cfail("wait for the parent");
	close(sync_fd);

	if (unshare(CLONE_NEWCGROUP) < 0)
		cfail("unshare cgroup namespace");
	cmount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL);
	cmount(root, root, NULL, MS_BIND | MS_REC, NULL);

	cmount("proc", in_root("/proc"), "proc", 0, NULL);
	cmount("tmpfs", in_root("/dev"), "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
	cmkdir(in_root("/dev/pts"));
	cmount("devpts", in_root("/dev/pts"), "devpts", MS_NOSUID | MS_NOEXEC,
	       "newinstance,ptmxmode=0666,mode=0620,gid=5");
	cmkdir(in_root("/dev/shm"));
	cmount("shm", in_root("/dev/shm"), "tmpfs", MS_NOSUID | MS_NOEXEC | MS_NODEV,
	       "mode=1777,size=65536k");
	cmkdir(in_root("/dev/mqueue"));
	cmount("mqueue", in_root("/dev/mqueue"), "mqueue", MS_NOSUID | MS_NOEXEC | MS_NODEV, NULL);
	cmount("sysfs", in_root("/sys"), "sysfs", MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY, NULL);
	mount_cgroups();
	mknods();

	pivot();
	cmount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags("/"), NULL);
	static const char *ro[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
				   "/proc/sysrq-trigger"};
	for (size_t i = 0; i < sizeof ro / sizeof *ro; i++)
		readonly_path(ro[i]);
	static const char *masked[] = {"/proc/acpi",	 "/proc/asound",     "/proc/kcore",
				       "/proc/keys",	 "/proc/latency_stats", "/proc/timer_list",
				       "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
				       "/proc/scsi"};
	for (size_t i = 0; i < sizeof masked / sizeof *masked; i++)
		mask_path(masked[i]);

	if (sethostname("hull", 4) < 0)
		cfail("sethostname");
	if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "_ses.floor") < 0)
		cfail("join a new session keyring");
	struct rlimit rl = {1024, 1024};
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		cfail("setrlimit NOFILE");
	if (setgroups(0, NULL) < 0 || setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
		cfail("set user 0:0");
	set_caps();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		cfail("no_new_privs");

	char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		       "TERM=xterm", "HOME=/root", NULL};
	execve(argv[0], argv, env);
	cfail("execve %s", argv[0]);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: floor /ABSOLUTE/ROOTFS [ARG...]\n");
		return 2;
	}
	snprintf(root, sizeof root, "%s", argv[1]);
	static char *def[] = {"/bin/true", NULL};
	char **args = argc > 2 ? argv + 2 : def;

	find_hierarchies();
	make_cgroups();

	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		fail("pipe");
	child = syscall(SYS_clone, CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC |
				       CLONE_NEWUTS | SIGCHLD,
			NULL, NULL, NULL, NULL);
	if (child < 0)
		fail("clone");
	if (child == 0) {
		close(sync[1]);
		_exit(child_main(sync[0], args));
	}
	close(sync[0]);
	join_cgroups(child);
	if (write(sync[1], "", 1) != 1)
		fail("release the child");
	close(sync[1]);

	int status;
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			fail("wait");
	child = -1;
	cleanup();
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	fprintf(stderr, "floor: child killed by signal %d\n", WTERMSIG(status));
	return 1;
}
