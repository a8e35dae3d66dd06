/*
 * mcp-agent: the in-sandbox agent (docs/agent-protocol.md, version 3).
 *
 * PID 1 of a sandbox: starts processes for the host, frames their stdout/stderr onto fd 1, feeds their
 * stdin from fd 0, reaps every child (orphans too) and forwards termination signals to the process
 * groups it started. On request it listens on 127.0.0.1:port and relays every TCP connection to the host
 * (the sandbox's only way out). One thread, one poll(2) loop over: fd 0 (host frames), a signalfd (SIGCHLD
 * and the forwarded signals), the pipes of every process it started, the listener and the connections.
 *
 * The host is trusted but checked strictly (a bad frame: `error` on stream 0, exit 2). Writes to fd 1 block
 * until complete: a host that stops reading stops the agent, and full pipes then stop the children.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <grp.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define AGENT_NAME "mcp-agent 1.1"
enum {
    PROTOCOL_VERSION = 3,
    MAX_PAYLOAD = 65536,
    HEADER = 9,             /* u32 length, u8 type, u32 stream */
    MAX_PROCS = 64,
    MAX_STRINGS = 4096,
    MAX_ERROR = 1024,
    DRAIN_MS = 100,         /* how long pipes may outlive their process (a background descendant) */
    DRAIN_CAP = 1 << 20,    /* at most this much more is read from such a pipe before it is closed */
    MAX_ID = 0x7fffffff,
    MAX_CONNS = 64,         /* relayed connections open at once; then the listener's backlog waits */
    CONN_BIT = 0x80000000u, /* connection ids have it, process and file ids never */
};
enum {
    T_START = 0x01, T_STDIN, T_STDIN_CLOSE, T_SIGNAL, T_SHUTDOWN,
    T_FILE_WRITE, T_FILE_CHUNK, T_FILE_END, T_FILE_ABORT, T_FILE_READ, T_FILE_LIST, T_FILE_DELETE,
    T_NET_LISTEN, T_CONN_DATA, T_CONN_EOF, T_CONN_CLOSE, T_CONN_ACK,
    T_READY = 0x81, T_STARTED, T_STDOUT, T_STDERR, T_EXIT, T_ERROR,
    T_FILE_DATA, T_FILE_ENTRY, T_FILE_DONE, T_STDIN_TAKEN,
    T_NET_STATUS, T_CONN_OPEN, T_CONN_DATA_OUT, T_CONN_EOF_OUT, T_CONN_CLOSED, T_CONN_ACK_OUT,
};

struct proc {
    uint32_t id;            /* 0: a free slot */
    pid_t pid;              /* also its process group */
    int in, out, err;       /* the agent's ends of its pipes, -1 once closed */
    int host_closed_in;     /* the host sent stdin_close */
    int exited, status;
    int64_t deadline;       /* once exited: when its pipes stop being waited for */
    size_t pend_off, pend_len;  /* stdin bytes accepted but not yet written */
};

static struct proc procs[MAX_PROCS];
static unsigned char pending[MAX_PROCS][MAX_PAYLOAD];  /* one stdin frame per process */
static unsigned char in_buf[HEADER + MAX_PAYLOAD];     /* the host frame being read */
static size_t in_have;
static int in_held;                                    /* a complete frame waits for a stdin pipe */
static unsigned char out_buf[HEADER + MAX_PAYLOAD];    /* the frame being written */
static uint32_t last_id;                               /* ids only grow: an id <= last_id has been used */
static int sig_fd;
static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void finish(int code);
static void abort_writes(void);
static void close_net(void);

/* ---- frame I/O ---------------------------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = v >> 24; p[1] = v >> 16; p[2] = v >> 8; p[3] = v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes all of it, waiting (blocking the agent) while the host does not read. */
static void write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && errno == EAGAIN) {
            struct pollfd pf = { .fd = fd, .events = POLLOUT };
            if (poll(&pf, 1, -1) > 0 && (pf.revents & (POLLHUP | POLLERR)) && !(pf.revents & POLLOUT)) {
                fprintf(stderr, "mcp-agent: the host closed the channel\n");
                finish(1);  /* a virtio port whose host end closed: nobody to report to */
            }
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            fprintf(stderr, "mcp-agent: writing to the host failed: %s\n", w < 0 ? strerror(errno) : "no progress");
            finish(1);  /* the host is gone: nobody to report to */
        }
    }
}

/* One whole frame onto fd 1; the payload may already sit at out_buf + HEADER. */
static void send_frame(uint8_t type, uint32_t stream, const void *payload, size_t n)
{
    put32(out_buf, (uint32_t)(n + 5));
    out_buf[4] = type;
    put32(out_buf + 5, stream);
    if (n > 0 && payload != out_buf + HEADER)
        memmove(out_buf + HEADER, payload, n);
    write_all(1, out_buf, HEADER + n);
}

static void send_error(uint32_t stream, const char *fmt, ...)
{
    char text[MAX_ERROR + 1];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 1)
        n = snprintf(text, sizeof text, "error");
    send_frame(T_ERROR, stream, text, n > MAX_ERROR ? MAX_ERROR : (size_t)n);
}

static void violation(const char *why)
{
    send_error(0, "protocol violation: %s", why);
    finish(2);
}

/* ---- the process table -------------------------------------------------------------------------- */

static struct proc *by_id(uint32_t id)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].id == id)
            return &procs[i];
    return NULL;
}

static struct proc *by_pid(pid_t pid)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].id != 0 && procs[i].pid == pid && !procs[i].exited)
            return &procs[i];
    return NULL;
}

/* The process a stdin/stdin_close/signal frame names, or NULL when it has ended (the host may not have
 * read the end yet, so that is no violation). An id never started is. */
static struct proc *target(uint32_t id)
{
    if (id == 0 || id > last_id)
        violation("frame for a process id that was never started");
    return by_id(id);
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void close_stdin(struct proc *p)
{
    close_fd(&p->in);
    p->pend_off = p->pend_len = 0;
}

/* Sends `exit` once the process is reaped and both its output pipes are closed; frees the slot. */
static void maybe_exit(struct proc *p)
{
    if (p->id == 0 || !p->exited || p->out >= 0 || p->err >= 0)
        return;
    unsigned char e[2];
    if (WIFSIGNALED(p->status)) {
        e[0] = 1;
        e[1] = (unsigned char)WTERMSIG(p->status);
    } else {
        e[0] = 0;
        e[1] = (unsigned char)WEXITSTATUS(p->status);
    }
    send_frame(T_EXIT, p->id, e, 2);
    close_stdin(p);
    memset(p, 0, sizeof *p);
    p->in = p->out = p->err = -1;
}

/* SIGKILL to every process group still known; as PID 1 to every process in the sandbox. Waits (bounded)
 * for the killed leaders so that none outlives the agent unreaped. */
static void kill_all(void)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (procs[i].id != 0)
            kill(-procs[i].pid, SIGKILL);
    if (getpid() == 1)
        kill(-1, SIGKILL);
    for (int i = 0; i < MAX_PROCS; i++)
        for (int tries = 0; procs[i].id != 0 && !procs[i].exited && tries < 1000; tries++) {
            if (waitpid(procs[i].pid, NULL, WNOHANG) != 0)
                break;
            usleep(1000);
        }
}

static void finish(int code)
{
    abort_writes();
    close_net();
    kill_all();
    exit(code);
}

/* ---- start -------------------------------------------------------------------------------------- */

/* Makes the missing directories of an absolute path (mode 0755), as the child's own user: `mkdir -p`. */
static int make_dirs(const char *path)
{
    char dir[4096];
    size_t n = strlen(path);
    if (n >= sizeof dir) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (dir[i] == '/' || dir[i] == 0) {
            char c = dir[i];
            dir[i] = 0;
            if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -1;
            dir[i] = c;
        }
    return 0;
}

/* In the forked child: becomes the process the host asked for, or reports why not through `status`. */
static void child(int status, int in_r, int out_w, int err_w, const char *cwd, char **argv, char **envp)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < _NSIG; s++)
        signal(s, SIG_DFL);  /* fails harmlessly for SIGKILL, SIGSTOP and libc-internal signals */
    setpgid(0, 0);
    int report[2] = { 'f', 0 };
    if (dup2(in_r, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0) {
        report[1] = errno;
    } else if ((cwd[0] == '/' && make_dirs(cwd) < 0) || chdir(cwd) < 0) {
        report[0] = 'c';
        report[1] = errno;
    } else {
        extern char **environ;
        environ = envp;  /* execvp searches the PATH of the env the host gave */
        execvp(argv[0], argv);
        report[0] = 'x';
        report[1] = errno;
    }
    if (write(status, report, sizeof report) < 0)
        _exit(126);
    _exit(127);
}

/* Splits a start payload into cwd, argv and envp (pointers into the frame), or calls it a violation. */
static const char *parse_start(unsigned char *p, size_t n, char **argv, char **envp)
{
    if (n < 4)
        violation("start payload too short");
    unsigned argc = (unsigned)p[0] << 8 | p[1], envc = (unsigned)p[2] << 8 | p[3];
    if (argc < 1 || argc > MAX_STRINGS || envc > MAX_STRINGS)
        violation("start with argc or envc out of range");
    size_t at = 4;
    const char *cwd = NULL;
    for (unsigned i = 0; i < 1 + argc + envc; i++) {
        unsigned char *end = memchr(p + at, 0, n - at);
        if (end == NULL)
            violation("start with fewer strings than its counts");
        char *s = (char *)p + at;
        size_t len = (size_t)(end - (p + at));
        if (i == 0)
            cwd = s;
        else if (i <= argc)
            argv[i - 1] = s;
        else
            envp[i - 1 - argc] = s;
        if (len == 0 && i <= argc)
            violation("start with an empty cwd or argument");
        if (i > argc && (len == 0 || s[0] == '=' || memchr(s, '=', len) == NULL))
            violation("start with an environment entry that is not NAME=value");
        at += len + 1;
    }
    if (at != n)
        violation("start with bytes after its last string");
    argv[argc] = NULL;
    envp[envc] = NULL;
    return cwd;
}

static int nonblock(int fd)
{
    return fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void start(uint32_t id, unsigned char *payload, size_t n)
{
    static char *argv[MAX_STRINGS + 1], *envp[MAX_STRINGS + 1];
    if (id == 0 || id > MAX_ID)
        violation("start with an id out of range");
    if (id <= last_id)
        violation("start with an id that is not new");
    last_id = id;
    const char *cwd = parse_start(payload, n, argv, envp);
    struct proc *p = by_id(0);
    if (p == NULL) {
        send_error(id, "too many running processes (at most %d)", MAX_PROCS);
        return;
    }
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 }, st[2] = { -1, -1 };
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0
            || pipe2(st, O_CLOEXEC) < 0 || nonblock(in[1]) < 0 || nonblock(out[0]) < 0
            || nonblock(err[0]) < 0) {
        int e = errno;
        int all[] = { in[0], in[1], out[0], out[1], err[0], err[1], st[0], st[1] };
        for (int i = 0; i < 8; i++)
            close_fd(&all[i]);
        send_error(id, "cannot create pipes: %s", strerror(e));
        return;
    }
    pid_t pid = fork();
    if (pid == 0)
        child(st[1], in[0], out[1], err[1], cwd, argv, envp);
    int e = errno;
    close(in[0]);
    close(out[1]);
    close(err[1]);
    close(st[1]);
    int report[2];
    ssize_t got = 0;
    if (pid > 0)
        do
            got = read(st[0], report, sizeof report);  /* EOF: exec succeeded (the pipe is close-on-exec) */
        while (got < 0 && errno == EINTR);
    close(st[0]);
    if (pid < 0 || got != 0) {
        close(in[1]);
        close(out[0]);
        close(err[0]);
        if (pid < 0) {
            send_error(id, "cannot fork: %s", strerror(e));
            return;
        }
        if (got != sizeof report)
            kill(pid, SIGKILL);  /* no clear word from it: make sure it is not left running */
        waitpid(pid, NULL, 0);  /* it is exiting right now; reap it before anyone could signal it */
        if (got != sizeof report)
            send_error(id, "cannot start the process");
        else
            send_error(id, "cannot %s: %s", report[0] == 'c' ? "change to the working directory"
                       : report[0] == 'x' ? "execute the program" : "set up stdio", strerror(report[1]));
        return;
    }
    *p = (struct proc){ .id = id, .pid = pid, .in = in[1], .out = out[0], .err = err[0] };
    unsigned char pidb[4];
    put32(pidb, (uint32_t)pid);
    send_frame(T_STARTED, id, pidb, 4);
}

/* ---- pumps -------------------------------------------------------------------------------------- */

/* One read of an output pipe into one frame. Returns the bytes sent, 0 at EOF (the pipe is closed),
 * -1 when nothing is there now. */
static ssize_t pump(struct proc *p, int *fd, uint8_t type)
{
    ssize_t r = read(*fd, out_buf + HEADER, MAX_PAYLOAD);
    if (r > 0) {
        send_frame(type, p->id, out_buf + HEADER, (size_t)r);
        return r;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return -1;
    close_fd(fd);
    return 0;
}

/* The process is gone but something (a background descendant) holds a pipe open past DRAIN_MS: take
 * what is already buffered (bounded) and close it; the descendant's later writes fail with EPIPE. */
static void drain(struct proc *p, int *fd, uint8_t type)
{
    size_t total = 0;
    ssize_t r;
    while (*fd >= 0 && total < DRAIN_CAP && (r = pump(p, fd, type)) > 0)
        total += (size_t)r;
    close_fd(fd);
}

/* Writes pending stdin without blocking; a closed reader drops it (the process no longer reads). Once the
 * frame is written or dropped, `stdin_taken` tells the host it may send the next one. */
static void flush_stdin(struct proc *p)
{
    while (p->pend_off < p->pend_len) {
        ssize_t w = write(p->in, pending[p - procs] + p->pend_off, p->pend_len - p->pend_off);
        if (w > 0)
            p->pend_off += (size_t)w;
        else if (w < 0 && errno == EAGAIN)
            return;
        else if (!(w < 0 && errno == EINTR)) {
            close_stdin(p);
            send_frame(T_STDIN_TAKEN, p->id, NULL, 0);
            return;
        }
    }
    p->pend_off = p->pend_len = 0;
    if (p->host_closed_in)
        close_stdin(p);
    send_frame(T_STDIN_TAKEN, p->id, NULL, 0);
}

/* ---- files -------------------------------------------------------------------------------------- */

/* Every path is resolved from "/" one component at a time with O_NOFOLLOW, so no symbolic link is ever
 * followed (openat2 would do it in one call, but gVisor may lack it). A write goes to a temporary file
 * beside its target, renamed over the target at file_end: an aborted or failed write leaves the old file,
 * and a hard link at the target is replaced, never written through. */
enum {
    MAX_WRITES = 8,         /* file writes open at once (until their file_end, file_abort or failure) */
    MAKE_PARENTS = 0x10000, /* file_write mode flag: make missing parent directories */
    MAX_PATH = 4096,
    MAX_NAME = 255,
    FILE_OK = 0, FILE_ERROR = 1, FILE_TRUNCATED = 2,
    KIND_FILE = 0, KIND_DIR = 1, KIND_LINK = 2, KIND_OTHER = 3,
};

struct file_write {
    uint32_t id;                /* 0: a free slot */
    int dir, fd;                /* the target's directory (O_PATH) and the temporary file */
    uint32_t mode;
    char name[MAX_NAME + 1];    /* the target's name in dir */
    char tmp[32];               /* the temporary file's name in dir */
    char path[MAX_PATH + 1];    /* for messages */
};

static struct file_write writes[MAX_WRITES];

static void put64(unsigned char *p, uint64_t v)
{
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* Copies s as valid UTF-8 (each byte of a bad sequence becomes '?') into at most cap bytes, never cutting a
 * character: file names in messages are the sandbox's bytes, the host refuses text that is not UTF-8. */
static size_t utf8_clean(const unsigned char *s, size_t n, unsigned char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                   : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = (s[i + k] & 0xc0) == 0x80;
        if (ok && len >= 3) {
            unsigned c1 = s[i + 1];
            ok = !(c == 0xe0 && c1 < 0xa0) && !(c == 0xed && c1 > 0x9f) && !(c == 0xf0 && c1 < 0x90)
                 && !(c == 0xf4 && c1 > 0x8f);
        }
        if (!ok)
            len = 1;
        if (o + len > cap)
            break;
        if (ok)
            memcpy(out + o, s + i, len);
        else
            out[o] = '?';
        o += len;
        i += len;
    }
    return o;
}

static void file_done(uint32_t id, int status)
{
    unsigned char s = (unsigned char)status;
    send_frame(T_FILE_DONE, id, &s, 1);
}

/* file_done with status error and why (valid UTF-8, at most MAX_ERROR bytes). */
static void file_failed(uint32_t id, const char *fmt, ...)
{
    char text[2 * MAX_ERROR];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (n < 1)
        n = snprintf(text, sizeof text, "error");
    if ((size_t)n >= sizeof text)
        n = sizeof text - 1;
    unsigned char *p = out_buf + HEADER;
    p[0] = FILE_ERROR;
    size_t len = utf8_clean((unsigned char *)text, (size_t)n, p + 1, MAX_ERROR);
    send_frame(T_FILE_DONE, id, p, 1 + len);
}

static void failed_at(uint32_t id, const char *path, int e)
{
    if (e == ENOENT)
        file_failed(id, "%s does not exist", path);
    else
        file_failed(id, "cannot open %s: %s", path, strerror(e));
}

static const char *kind_of(mode_t m)
{
    return S_ISREG(m) ? "a regular file" : S_ISDIR(m) ? "a directory" : S_ISLNK(m) ? "a symbolic link"
         : S_ISFIFO(m) ? "a FIFO" : S_ISSOCK(m) ? "a socket" : S_ISCHR(m) ? "a character device"
         : S_ISBLK(m) ? "a block device" : "not a regular file";
}

/* A file operation takes a new id, like a start: ids only grow, whatever they name. */
static void new_file_id(uint32_t id)
{
    if (id == 0 || id > MAX_ID)
        violation("file operation with an id out of range");
    if (id <= last_id)
        violation("file operation with an id that is not new");
    last_id = id;
}

/* The path that fills p[at..n): absolute, ending with the frame (its NUL is the last byte), at most
 * MAX_PATH bytes, no empty, "." or ".." component. Anything else is a violation. */
static char *parse_path(unsigned char *p, size_t at, size_t n)
{
    if (n <= at || memchr(p + at, 0, n - at) != p + n - 1)
        violation("file path without exactly one NUL at its end");
    char *path = (char *)p + at;
    if (n - 1 - at > MAX_PATH || path[0] != '/')
        violation("file path not absolute or longer than 4096 bytes");
    if (path[1] != 0)
        for (const char *c = path + 1;;) {
            const char *end = strchr(c, '/');
            size_t len = end != NULL ? (size_t)(end - c) : strlen(c);
            if (len == 0 || (len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
                violation("file path with an empty, \".\" or \"..\" component");
            if (end == NULL)
                break;
            c = end + 1;
        }
    return path;
}

/* openat(O_DIRECTORY | O_NOFOLLOW) that holds on gVisor too, which follows a link in the last component: the
 * entry is looked at first (a link is ELOOP, anything else not a directory ENOTDIR), and what was opened must
 * be what was looked at (else ELOOP: it was swapped in between). */
static int open_dir_at(int dir, const char *name, int flags)
{
    struct stat before, after;
    if (fstatat(dir, name, &before, AT_SYMLINK_NOFOLLOW) < 0)
        return -1;
    if (!S_ISDIR(before.st_mode)) {
        errno = S_ISLNK(before.st_mode) ? ELOOP : ENOTDIR;
        return -1;
    }
    int fd = openat(dir, name, flags | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (fstat(fd, &after) < 0 || after.st_dev != before.st_dev || after.st_ino != before.st_ino) {
        close(fd);
        errno = ELOOP;
        return -1;
    }
    return fd;
}

/* Opens (O_PATH) the directory holding the last component of path (not "/") without following any link and
 * points *name at that component; or sends file_done error and returns -1. With make, a missing directory on
 * the way is made (mode 0755; mkdirat makes nothing where a link is, and the link is then refused). */
static int open_parent(uint32_t id, char *path, char **name, int make)
{
    *name = strrchr(path, '/') + 1;
    int dir = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0) {
        file_failed(id, "cannot open /: %s", strerror(errno));
        return -1;
    }
    for (char *c = path + 1; c < *name;) {
        char *slash = strchr(c, '/');
        *slash = 0;  /* path is now the prefix up to c, for the messages */
        int next = open_dir_at(dir, c, O_PATH);
        if (next < 0 && errno == ENOENT && make && (mkdirat(dir, c, 0755) == 0 || errno == EEXIST))
            next = open_dir_at(dir, c, O_PATH);
        if (next < 0) {
            int e = errno;
            struct stat st;
            if ((e == ENOTDIR || e == ELOOP) && fstatat(dir, c, &st, AT_SYMLINK_NOFOLLOW) == 0)
                file_failed(id, S_ISLNK(st.st_mode) ? "%s is %s" : "%s is %s, not a directory", path,
                            kind_of(st.st_mode));
            else
                failed_at(id, path, e);
            close(dir);
            return -1;
        }
        *slash = '/';
        close(dir);
        dir = next;
        c = slash + 1;
    }
    return dir;
}

/* Opens path for reading if it is a regular file (looked at before it is opened, so no FIFO or device is
 * ever opened); or sends file_done error and returns -1. */
static int open_regular(uint32_t id, char *path)
{
    if (path[1] == 0) {
        file_failed(id, "/ is a directory");
        return -1;
    }
    char *name;
    int dir = open_parent(id, path, &name, 0);
    if (dir < 0)
        return -1;
    struct stat st;
    int fd = -1;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        failed_at(id, path, errno);
    else if (!S_ISREG(st.st_mode))
        file_failed(id, "%s is %s", path, kind_of(st.st_mode));
    else if ((fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)) < 0) {
        if (errno == ELOOP)
            file_failed(id, "%s is a symbolic link", path);  /* swapped for one meanwhile */
        else
            failed_at(id, path, errno);
    }
    else if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        file_failed(id, "%s is %s", path, kind_of(st.st_mode));
        close(fd);
        fd = -1;
    }
    close(dir);
    return fd;
}

/* file_read: up to maxBytes in file_data frames, then file_done (truncated when there was more). */
static void file_read(uint32_t id, unsigned char *p, size_t n)
{
    new_file_id(id);
    if (n < 8)
        violation("file_read payload too short");
    uint64_t max = get64(p);
    if (max == 0 || max > INT64_MAX)
        violation("file_read with maxBytes 0 or above 2^63-1");
    char *path = parse_path(p, 8, n);
    int fd = open_regular(id, path);
    if (fd < 0)
        return;
    for (uint64_t sent = 0;;) {
        size_t want = max - sent < MAX_PAYLOAD ? (size_t)(max - sent) : MAX_PAYLOAD;
        unsigned char probe;
        ssize_t r = want > 0 ? read(fd, out_buf + HEADER, want) : read(fd, &probe, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            file_failed(id, "cannot read %s: %s", path, strerror(errno));
        else if (want == 0 || r == 0)
            file_done(id, r > 0 ? FILE_TRUNCATED : FILE_OK);
        else {
            send_frame(T_FILE_DATA, id, out_buf + HEADER, (size_t)r);
            sent += (uint64_t)r;
            continue;
        }
        close(fd);
        return;
    }
}

static int entry_kind(mode_t m)
{
    return S_ISREG(m) ? KIND_FILE : S_ISDIR(m) ? KIND_DIR : S_ISLNK(m) ? KIND_LINK : KIND_OTHER;
}

/* file_list: one file_entry per entry (not "." or ".."), at most maxEntries, then file_done. */
static void file_list(uint32_t id, unsigned char *p, size_t n)
{
    new_file_id(id);
    if (n < 4)
        violation("file_list payload too short");
    uint32_t max = get32(p);
    if (max == 0)
        violation("file_list with maxEntries 0");
    char *path = parse_path(p, 4, n);
    int fd;
    if (path[1] == 0) {
        fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            failed_at(id, path, errno);
            return;
        }
    } else {
        char *name;
        int dir = open_parent(id, path, &name, 0);
        if (dir < 0)
            return;
        fd = open_dir_at(dir, name, O_RDONLY | O_NONBLOCK);
        if (fd < 0) {
            int e = errno;
            struct stat st;
            if ((e == ENOTDIR || e == ELOOP) && fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
                file_failed(id, "%s is %s, not a directory", path, kind_of(st.st_mode));
            else
                failed_at(id, path, e);
            close(dir);
            return;
        }
        close(dir);
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        file_failed(id, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return;
    }
    uint32_t count = 0;
    int status = FILE_OK;
    struct dirent *de;
    for (errno = 0; (de = readdir(d)) != NULL; errno = 0) {
        size_t len = strlen(de->d_name);
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || len > MAX_NAME)
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                continue;  /* removed since it was read */
            memset(&st, 0, sizeof st);
        }
        if (count == max) {
            status = FILE_TRUNCATED;
            break;
        }
        unsigned char *e = out_buf + HEADER;
        e[0] = st.st_mode == 0 ? KIND_OTHER : (unsigned char)entry_kind(st.st_mode);
        put64(e + 1, st.st_size > 0 ? (uint64_t)st.st_size : 0);
        put64(e + 9, (uint64_t)(int64_t)st.st_mtim.tv_sec);
        memcpy(e + 17, de->d_name, len);
        send_frame(T_FILE_ENTRY, id, e, 17 + len);
        count++;
    }
    if (de == NULL && errno != 0)
        file_failed(id, "cannot read %s: %s", path, strerror(errno));
    else
        file_done(id, status);
    closedir(d);
}

/* file_delete: a regular file, a link (never its target), any other non-directory or an empty directory. */
static void file_delete(uint32_t id, unsigned char *p, size_t n)
{
    new_file_id(id);
    char *path = parse_path(p, 0, n);
    if (path[1] == 0) {
        file_failed(id, "cannot delete /");
        return;
    }
    char *name;
    int dir = open_parent(id, path, &name, 0);
    if (dir < 0)
        return;
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        failed_at(id, path, errno);
    else if (unlinkat(dir, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
        file_failed(id, "cannot delete %s: %s", path, errno == ENOTEMPTY || errno == EEXIST
                    ? "the directory is not empty" : strerror(errno));
    else
        file_done(id, FILE_OK);
    close(dir);
}

static struct file_write *write_by_id(uint32_t id)
{
    for (int i = 0; i < MAX_WRITES; i++)
        if (writes[i].id == id)
            return &writes[i];
    return NULL;
}

/* The open write a file_chunk/file_end/file_abort names, or NULL when it has ended (its file_done is sent:
 * the host may not have read it yet, so that is no violation). An id never used is. */
static struct file_write *write_target(uint32_t id)
{
    if (id == 0 || id > last_id)
        violation("file frame for an id that was never used");
    return write_by_id(id);
}

static void end_write(struct file_write *w, int remove_tmp)
{
    if (remove_tmp)
        unlinkat(w->dir, w->tmp, 0);
    close(w->fd);
    close(w->dir);
    memset(w, 0, sizeof *w);
}

/* Ends the write (its temporary file removed unless it is no longer ours), then says why it failed: the
 * host, reading file_done, sees no temporary file left. */
static void write_failed(struct file_write *w, int remove_tmp, const char *fmt, ...)
{
    char text[2 * MAX_ERROR];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    uint32_t id = w->id;
    end_write(w, remove_tmp);
    file_failed(id, "%s", text);
}

static void abort_writes(void)
{
    for (int i = 0; i < MAX_WRITES; i++)
        if (writes[i].id != 0)
            end_write(&writes[i], 1);
}

/* Whether name in dir may be replaced by a written file (missing or a regular file); else why not. */
static const char *not_replaceable(int dir, const char *name)
{
    struct stat st;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? NULL : strerror(errno);
    return S_ISREG(st.st_mode) ? NULL : kind_of(st.st_mode);
}

static void file_write(uint32_t id, unsigned char *p, size_t n)
{
    new_file_id(id);
    if (n < 4)
        violation("file_write payload too short");
    uint32_t mode = get32(p);
    int make_parents = (mode & MAKE_PARENTS) != 0;
    mode &= ~(uint32_t)MAKE_PARENTS;
    if (mode > 0777)
        violation("file_write with a mode beyond the permission bits 0777 and the make-parents flag");
    char *path = parse_path(p, 4, n);
    struct file_write *w = write_by_id(0);
    if (w == NULL) {
        file_failed(id, "too many file writes open (at most %d)", MAX_WRITES);
        return;
    }
    if (path[1] == 0) {
        file_failed(id, "/ is a directory");
        return;
    }
    char *name;
    int dir = open_parent(id, path, &name, make_parents);
    if (dir < 0)
        return;
    const char *why = strlen(name) > MAX_NAME ? "a name longer than 255 bytes" : not_replaceable(dir, name);
    if (why != NULL) {
        file_failed(id, "cannot write %s: it is %s", path, why);
        close(dir);
        return;
    }
    *w = (struct file_write){ .id = id, .dir = dir, .mode = mode };
    snprintf(w->tmp, sizeof w->tmp, ".mcp-agent-%u.part", (unsigned)id);
    strcpy(w->name, name);
    strcpy(w->path, path);
    /* 0600 until file_end: nobody else opens it half-written. */
    w->fd = openat(dir, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        file_failed(id, "cannot create %s beside %s: %s", w->tmp, path, strerror(errno));
        close(dir);
        memset(w, 0, sizeof *w);
    }
}

static void file_chunk(uint32_t id, unsigned char *p, size_t n)
{
    if (n == 0)
        violation("empty file_chunk");
    struct file_write *w = write_target(id);
    while (w != NULL && n > 0) {
        ssize_t r = write(w->fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            write_failed(w, 1, "cannot write %s: %s", w->path, r < 0 ? strerror(errno) : "no progress");
            return;
        }
        p += r;
        n -= (size_t)r;
    }
}

/* file_end: the temporary file becomes the target (renameat never follows a link: one swapped in meanwhile
 * is replaced, a directory refuses). */
static void file_end(uint32_t id, size_t n)
{
    if (n != 0)
        violation("file_end with a payload");
    struct file_write *w = write_target(id);
    if (w == NULL)
        return;
    struct stat mine, there;
    const char *why;
    if (fstat(w->fd, &mine) < 0 || fstatat(w->dir, w->tmp, &there, AT_SYMLINK_NOFOLLOW) < 0
            || mine.st_ino != there.st_ino || mine.st_dev != there.st_dev)
        write_failed(w, 0, "cannot write %s: %s beside it was replaced or removed", w->path, w->tmp);
    else if ((why = not_replaceable(w->dir, w->name)) != NULL)
        write_failed(w, 1, "cannot write %s: it is %s", w->path, why);
    else if (fchmod(w->fd, w->mode) < 0 || renameat(w->dir, w->tmp, w->dir, w->name) < 0)
        write_failed(w, 1, "cannot write %s: %s", w->path, strerror(errno));
    else {
        end_write(w, 0);
        file_done(id, FILE_OK);
    }
}

static void file_abort(uint32_t id, size_t n)
{
    if (n != 0)
        violation("file_abort with a payload");
    struct file_write *w = write_target(id);
    if (w != NULL)
        write_failed(w, 1, "the host aborted the write of %s", w->path);
}

/* ---- connections -------------------------------------------------------------------------------- */

/* The sandbox's only way out: a TCP listener on 127.0.0.1 whose connections are relayed to the host, one
 * frame in flight per connection and direction (the other side's conn_ack releases the next), so a slow
 * peer on either side costs one buffer, never the channel. */
struct conn {
    uint32_t id;            /* 0: a free slot */
    int fd;
    int awaiting_ack;       /* our conn_data is with the host: the socket is not read until its conn_ack */
    int sent_eof;           /* the sandbox side ended its sending (read returned 0) and we said conn_eof */
    int host_eof;           /* the host sent conn_eof: SHUT_WR once pending bytes are written */
    size_t pend_off, pend_len;  /* host bytes accepted but not yet written */
};

static struct conn conns[MAX_CONNS];
static unsigned char conn_pending[MAX_CONNS][MAX_PAYLOAD];  /* static pool: pages touched only when used */
static int listen_fd = -1;
static int listen_asked;
static uint32_t last_conn = CONN_BIT;                       /* the highest conn_open so far */

static struct conn *conn_by_id(uint32_t id)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].id == id)
            return &conns[i];
    return NULL;
}

static int open_conns(void)
{
    int n = 0;
    for (int i = 0; i < MAX_CONNS; i++)
        n += conns[i].id != 0;
    return n;
}

static void free_conn(struct conn *c)
{
    close_fd(&c->fd);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* The socket is done (both directions, or it failed): the id dies and the host hears it once. */
static void conn_closed(struct conn *c)
{
    uint32_t id = c->id;
    free_conn(c);
    send_frame(T_CONN_CLOSED, id, NULL, 0);
}

static void maybe_conn_done(struct conn *c)
{
    if (c->id != 0 && c->sent_eof && c->host_eof && c->pend_off == c->pend_len)
        conn_closed(c);
}

/* The connection a host frame names, or NULL when it is dead (frames in flight are ignored). An id that no
 * conn_open has named is a violation. */
static struct conn *conn_target(uint32_t id)
{
    if (!(id & CONN_BIT) || id == CONN_BIT || id > last_conn)
        violation("connection frame for an id the agent never opened");
    return conn_by_id(id);
}

static void net_listen(uint32_t id, const unsigned char *p, size_t n)
{
    if (id != 0 || n != 2)
        violation("net_listen without stream 0 and a u16 port");
    unsigned port = (unsigned)p[0] << 8 | p[1];
    if (port == 0)
        violation("net_listen for port 0");
    if (listen_asked)
        violation("a second net_listen");
    listen_asked = 1;
    /* Loopback only: nothing outside the sandbox's namespace could reach it anyway, and a second process
     * cannot take the port while we hold it (SO_REUSEADDR does not let a second listener bind). */
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0
            || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, MAX_CONNS) < 0) {
        char text[MAX_ERROR + 1];
        int len = snprintf(text + 1, sizeof text - 1, "cannot listen on 127.0.0.1:%u: %s", port, strerror(errno));
        text[0] = 1;
        if (fd >= 0)
            close(fd);
        send_frame(T_NET_STATUS, 0, text, 1 + (size_t)(len > MAX_ERROR - 1 ? MAX_ERROR - 1 : len));
        return;
    }
    listen_fd = fd;
    unsigned char ok = 0;
    send_frame(T_NET_STATUS, 0, &ok, 1);
}

/* One connection from the sandbox, while a slot is free (else the listener is not polled: the backlog
 * waits). Ids only grow; when they run out the listener is closed. */
static void conn_accept(void)
{
    struct conn *c = conn_by_id(0);
    if (c == NULL)
        return;
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        /* Out of fds or memory (a program of the sandbox may lower our RLIMIT_NOFILE): the listener stays
         * readable, so back off a little rather than spin on it. EAGAIN: a connection reset before we took it. */
        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM || errno == ENOBUFS)
            nanosleep(&(struct timespec){ .tv_nsec = 10 * 1000 * 1000 }, NULL);
        return;
    }
    *c = (struct conn){ .id = ++last_conn, .fd = fd };
    if (last_conn == UINT32_MAX)
        close_fd(&listen_fd);
    send_frame(T_CONN_OPEN, c->id, NULL, 0);
}

/* One read of the socket into one conn_data (or its end, or its failure). */
static void conn_read(struct conn *c)
{
    ssize_t r = read(c->fd, out_buf + HEADER, MAX_PAYLOAD);
    if (r > 0) {
        c->awaiting_ack = 1;
        send_frame(T_CONN_DATA_OUT, c->id, out_buf + HEADER, (size_t)r);
    } else if (r == 0) {
        c->sent_eof = 1;
        send_frame(T_CONN_EOF_OUT, c->id, NULL, 0);
        maybe_conn_done(c);
    } else if (errno != EAGAIN && errno != EINTR) {
        conn_closed(c);
    }
}

/* Writes the pending host bytes without blocking; conn_ack once they are all in the socket. */
static void conn_flush(struct conn *c)
{
    while (c->pend_off < c->pend_len) {
        ssize_t w = send(c->fd, conn_pending[c - conns] + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
        if (w > 0)
            c->pend_off += (size_t)w;
        else if (w < 0 && errno == EAGAIN)
            return;
        else if (!(w < 0 && errno == EINTR)) {
            conn_closed(c);  /* EPIPE, ECONNRESET: the id dies, which releases the host's writer too */
            return;
        }
    }
    c->pend_off = c->pend_len = 0;
    send_frame(T_CONN_ACK_OUT, c->id, NULL, 0);
    if (c->host_eof && shutdown(c->fd, SHUT_WR) < 0) {
        conn_closed(c);
        return;
    }
    maybe_conn_done(c);
}

static void conn_frame(uint8_t type, uint32_t id, const unsigned char *p, size_t n)
{
    if (type == T_CONN_DATA ? n == 0 : n != 0)
        violation(type == T_CONN_DATA ? "empty conn_data" : "conn_eof, conn_close or conn_ack with a payload");
    struct conn *c = conn_target(id);
    if (c == NULL)
        return;
    switch (type) {
    case T_CONN_DATA:
        if (c->host_eof)
            violation("conn_data after conn_eof");
        if (c->pend_off < c->pend_len)
            violation("a second conn_data before the agent's conn_ack");
        memcpy(conn_pending[c - conns], p, n);
        c->pend_off = 0;
        c->pend_len = n;
        conn_flush(c);
        break;
    case T_CONN_EOF:
        if (c->host_eof)
            violation("conn_eof twice");
        c->host_eof = 1;
        if (c->pend_off == c->pend_len) {
            if (shutdown(c->fd, SHUT_WR) < 0)
                conn_closed(c);
            else
                maybe_conn_done(c);
        }
        break;
    case T_CONN_CLOSE:
        free_conn(c);  /* the host has dropped it: nothing more is said about it */
        break;
    default:  /* T_CONN_ACK */
        if (!c->awaiting_ack)
            violation("conn_ack with no conn_data outstanding");
        c->awaiting_ack = 0;
        break;
    }
}

static void close_net(void)
{
    close_fd(&listen_fd);
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].id != 0)
            free_conn(&conns[i]);
}

/* ---- host frames -------------------------------------------------------------------------------- */

/* Acts on the complete frame in in_buf. Returns 0 when it must wait (stdin for a process whose previous
 * stdin frame is still being written); it is then dispatched again later, so nothing changes before. */
static int dispatch(void)
{
    size_t n = get32(in_buf) - 5;
    uint8_t type = in_buf[4];
    uint32_t id = get32(in_buf + 5);
    unsigned char *payload = in_buf + HEADER;
    struct proc *p;
    switch (type) {
    case T_START:
        start(id, payload, n);
        return 1;
    case T_STDIN:
        if (n == 0)
            violation("empty stdin frame");
        p = target(id);
        if (p != NULL && p->host_closed_in)
            violation("stdin after stdin_close");
        if (p == NULL)
            return 1;  /* the process has ended: the bytes are dropped (its exit tells the host) */
        if (p->in < 0) {
            send_frame(T_STDIN_TAKEN, p->id, NULL, 0);  /* it stopped reading: dropped */
            return 1;
        }
        if (p->pend_off < p->pend_len)
            return 0;
        memcpy(pending[p - procs], payload, n);
        p->pend_off = 0;
        p->pend_len = n;
        flush_stdin(p);
        return 1;
    case T_STDIN_CLOSE:
        if (n != 0)
            violation("stdin_close with a payload");
        p = target(id);
        if (p != NULL && p->host_closed_in)
            violation("stdin_close twice");
        if (p != NULL) {
            p->host_closed_in = 1;
            if (p->pend_off == p->pend_len)
                close_stdin(p);
        }
        return 1;
    case T_SIGNAL:
        if (n != 1 || payload[0] < 1 || payload[0] > 64)
            violation("signal frame without one signal number 1..64");
        p = target(id);
        if (p != NULL && !p->exited)
            kill(-p->pid, payload[0]);
        return 1;
    case T_SHUTDOWN:
        if (id != 0 || n != 0)
            violation("shutdown with a stream or payload");
        finish(0);
        return 1;
    case T_FILE_WRITE:
        file_write(id, payload, n);
        return 1;
    case T_FILE_CHUNK:
        file_chunk(id, payload, n);
        return 1;
    case T_FILE_END:
        file_end(id, n);
        return 1;
    case T_FILE_ABORT:
        file_abort(id, n);
        return 1;
    case T_FILE_READ:
        file_read(id, payload, n);
        return 1;
    case T_FILE_LIST:
        file_list(id, payload, n);
        return 1;
    case T_FILE_DELETE:
        file_delete(id, payload, n);
        return 1;
    case T_NET_LISTEN:
        net_listen(id, payload, n);
        return 1;
    case T_CONN_DATA:
    case T_CONN_EOF:
    case T_CONN_CLOSE:
    case T_CONN_ACK:
        conn_frame(type, id, payload, n);
        return 1;
    default:
        violation("unknown frame type");
        return 1;
    }
}

/* Reads at most the rest of the current frame, so a held frame never has another behind it. */
static void read_host(void)
{
    size_t want = in_have < 4 ? 4 : 4 + get32(in_buf);
    ssize_t r = read(0, in_buf + in_have, want - in_have);
    if (r == 0)
        finish(0);  /* the host has gone away: so do the processes */
    if (r < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return;
        fprintf(stderr, "mcp-agent: reading from the host failed: %s\n", strerror(errno));
        finish(1);
    }
    in_have += (size_t)r;
    if (in_have == 4) {
        uint32_t len = get32(in_buf);
        if (len < 5 || len > 5 + MAX_PAYLOAD)
            violation("frame length out of range");
    }
    if (in_have > 4 && in_have == 4 + get32(in_buf)) {
        in_held = !dispatch();
        if (!in_held)
            in_have = 0;
    }
}

/* ---- reaping and signals ------------------------------------------------------------------------ */

static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        struct proc *p = by_pid(pid);
        if (p == NULL)
            continue;  /* an orphan this init inherited */
        p->exited = 1;
        p->status = status;
        p->deadline = now_ms() + DRAIN_MS;
        close_stdin(p);
        maybe_exit(p);
    }
}

static void on_signals(void)
{
    struct signalfd_siginfo si;
    while (read(sig_fd, &si, sizeof si) == (ssize_t)sizeof si)
        if (si.ssi_signo != SIGCHLD)
            for (int i = 0; i < MAX_PROCS; i++)
                if (procs[i].id != 0 && !procs[i].exited)
                    kill(-procs[i].pid, (int)si.ssi_signo);
    reap();
}

/* ---- main loop ---------------------------------------------------------------------------------- */

/* `--user UID`: started as root (by a microVM guest's init, docs/microvm.md), the agent becomes UID before
 * anything else, with no supplementary groups, no capabilities (the bounding set emptied too) and no way back
 * (no_new_privs): the sandbox's programs never run as root. Containers start it as that user already and
 * pass nothing. */
static void become_user(int argc, char **argv)
{
    if (argc == 1)
        return;
    char *end;
    long uid = argc == 3 && strcmp(argv[1], "--user") == 0 ? strtol(argv[2], &end, 10) : -1;
    if (uid <= 0 || uid > 65535 || *end != '\0') {
        fprintf(stderr, "mcp-agent: usage: mcp-agent [--user UID]\n");
        exit(2);
    }
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            fprintf(stderr, "mcp-agent: cannot drop capability %d: %s\n", cap, strerror(errno));
            exit(1);
        }
    if (setgroups(0, NULL) < 0 || setgid((gid_t)uid) < 0 || setuid((uid_t)uid) < 0 || setuid(0) == 0
        || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        fprintf(stderr, "mcp-agent: cannot become uid %ld: %s\n", uid, strerror(errno));
        exit(1);
    }
}

static void setup(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
            exit(1);  /* without its channel the agent has nothing to do */
    /* Nothing else inherited may reach a child either. */
    if (syscall(SYS_close_range, 3U, ~0U, 4U /* CLOSE_RANGE_CLOEXEC */) < 0)
        for (int fd = 3; fd < 1024; fd++)
            fcntl(fd, F_SETFD, FD_CLOEXEC);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++)
        sigaddset(&set, forwarded[i]);
    sigprocmask(SIG_BLOCK, &set, NULL);  /* blocked signals are queued even for PID 1 */
    sig_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sig_fd < 0)
        exit(1);
    /* Every other signal is ignored: the kernel keeps a namespace's init from signals sent from inside it, but
     * gVisor does not, and the sandbox's programs run as our user. A real fault still kills (the kernel forces
     * SIGSEGV/SIGBUS/SIGILL/SIGFPE then). Children get every disposition back to the default (child()). */
    for (int s = 1; s < _NSIG; s++)
        if (!sigismember(&set, s) && s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_IGN);  /* fails harmlessly for libc-internal signals */
    prctl(PR_SET_CHILD_SUBREAPER, 1);  /* orphans come to us even when we are not PID 1 */
    /* Not dumpable: processes of the same uid can neither ptrace the agent nor open its channel through
     * /proc/1/fd. Its children are dumpable again after their execve. */
    if (prctl(PR_SET_DUMPABLE, 0) < 0)
        exit(1);
    for (int i = 0; i < MAX_PROCS; i++)
        procs[i].in = procs[i].out = procs[i].err = -1;
}

int main(int argc, char **argv)
{
    become_user(argc, argv);
    /* In a VM (--user) the channel is a virtio port: once its host end has closed, a blocking write would wait
     * for a host that never comes back, where a pipe's fails. Non-blocking, write_all sees the hang-up. */
    if (argc > 1 && fcntl(1, F_SETFL, fcntl(1, F_GETFL) | O_NONBLOCK) < 0)
        exit(1);
    setup();
    unsigned char ready[2 + sizeof AGENT_NAME - 1] = { 0, PROTOCOL_VERSION };
    memcpy(ready + 2, AGENT_NAME, sizeof AGENT_NAME - 1);
    send_frame(T_READY, 0, ready, sizeof ready);
    for (;;) {
        if (in_held && dispatch()) {
            in_held = 0;
            in_have = 0;
        }
        struct pollfd pfd[2 + 3 * MAX_PROCS + 1 + MAX_CONNS];
        struct proc *owner[2 + 3 * MAX_PROCS];
        int nfd = 0, timeout = -1;
        int64_t now = now_ms();
        pfd[nfd++] = (struct pollfd){ .fd = sig_fd, .events = POLLIN };
        pfd[nfd++] = (struct pollfd){ .fd = in_held ? -1 : 0, .events = POLLIN };
        for (int i = 0; i < MAX_PROCS; i++) {
            struct proc *p = &procs[i];
            if (p->id == 0)
                continue;
            int fds[3] = { p->out, p->err, p->pend_off < p->pend_len ? p->in : -1 };
            for (int k = 0; k < 3; k++)
                if (fds[k] >= 0) {
                    owner[nfd] = p;
                    pfd[nfd++] = (struct pollfd){ .fd = fds[k], .events = k < 2 ? POLLIN : POLLOUT };
                }
            if (p->exited) {
                int64_t left = p->deadline > now ? p->deadline - now : 0;
                if (timeout < 0 || left < timeout)
                    timeout = (int)left;
            }
        }
        int nproc = nfd;
        /* The listener only while a slot is free; a socket only while there is something to do with it. */
        pfd[nfd++] = (struct pollfd){ .fd = open_conns() < MAX_CONNS ? listen_fd : -1, .events = POLLIN };
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &conns[i];
            short ev = (c->id != 0 && !c->awaiting_ack && !c->sent_eof ? POLLIN : 0)
                     | (c->id != 0 && c->pend_off < c->pend_len ? POLLOUT : 0);
            pfd[nfd++] = (struct pollfd){ .fd = ev != 0 ? c->fd : -1, .events = ev };
        }
        if (poll(pfd, (nfds_t)nfd, timeout) < 0 && errno != EINTR) {
            fprintf(stderr, "mcp-agent: poll failed: %s\n", strerror(errno));
            finish(1);
        }
        /* Output first, so that a process's last bytes are read before its exit is noticed. */
        for (int i = 2; i < nproc; i++) {
            struct proc *p = owner[i];
            if (pfd[i].revents == 0)
                continue;
            if (pfd[i].fd == p->out)
                pump(p, &p->out, T_STDOUT);
            else if (pfd[i].fd == p->err)
                pump(p, &p->err, T_STDERR);
            else if (pfd[i].fd == p->in)
                flush_stdin(p);
            maybe_exit(p);
        }
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *c = &conns[i];
            short rev = pfd[nproc + 1 + i].revents;
            if (rev & (POLLOUT | POLLERR | POLLHUP) && c->pend_off < c->pend_len)
                conn_flush(c);
            if (rev & (POLLIN | POLLERR | POLLHUP) && c->id != 0 && !c->awaiting_ack && !c->sent_eof)
                conn_read(c);
        }
        if (pfd[nproc].revents)
            conn_accept();
        if (pfd[0].revents)
            on_signals();
        now = now_ms();
        for (int i = 0; i < MAX_PROCS; i++)
            if (procs[i].id != 0 && procs[i].exited && procs[i].deadline <= now) {
                drain(&procs[i], &procs[i].out, T_STDOUT);
                drain(&procs[i], &procs[i].err, T_STDERR);
                maybe_exit(&procs[i]);
            }
        if (pfd[1].revents)
            read_host();
    }
}
