/*
 * ofc_cluster.c - initdb and pg_ctl for the node's embedded cluster.
 *
 * Every PostgreSQL program runs through run_program(): fork, execv of an
 * absolute path with an argument vector (no shell, so no path can be
 * misread as syntax), standard output and error captured in a pipe so
 * that a failure can be reported with what the program said.
 *
 * Caution: pg_ctl start forks the postmaster, which would keep our pipe
 * open for its whole life if it inherited it. pg_ctl redirects the
 * server's output to the log file named by -l, so -l must always be given.
 */
/* System. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* libofc. */
#include "ofc_cluster.h"
#include "ofc_fs.h"
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_log.h"
#include "ofc_mem.h"

/* Where Debian (and the PGDG packages) install the server's programs. */
#define PG_LIB_DIR "/usr/lib/postgresql"

/* pg_ctl waits this long for start and stop; the server's own default is 60 s too. */
#define PG_CTL_TIMEOUT "60"

/* How much of the server log's tail is searched for the reason of a failed start. */
#define LOG_TAIL_BYTES 16384

struct ofc_cluster {
    char *conf_bindir; /* pg_bindir from the config, "" = search */
    char *bindir;      /* resolved on first use */
    char *data_dir;
    char *init_dir; /* initdb works here, renamed to data_dir when complete */
    char *socket_dir;
    char *log_dir;
    char *log_file;
};

struct ofc_cluster *ofc_cluster_new(const struct ofc_config *cfg)
{
    struct ofc_cluster *cl = ofc_xcalloc(1, sizeof(*cl));
    cl->conf_bindir = ofc_xstrdup(cfg->pg_bindir != NULL ? cfg->pg_bindir : "");
    cl->data_dir = ofc_config_pgdata_dir(cfg);
    cl->init_dir = ofc_xasprintf("%s.init", cl->data_dir);
    cl->socket_dir = ofc_config_pgsocket_dir(cfg);
    cl->log_dir = ofc_config_node_log_dir(cfg);
    cl->log_file = ofc_xasprintf("%s/postgresql.log", cl->log_dir);
    return cl;
}

void ofc_cluster_free(struct ofc_cluster **clp)
{
    struct ofc_cluster *cl = *clp;
    if (cl == NULL)
        return;
    free(cl->conf_bindir);
    free(cl->bindir);
    free(cl->data_dir);
    free(cl->init_dir);
    free(cl->socket_dir);
    free(cl->log_dir);
    free(cl->log_file);
    free(cl);
    *clp = NULL;
}

const char *ofc_cluster_data_dir(const struct ofc_cluster *cl)
{
    return cl->data_dir;
}

const char *ofc_cluster_socket_dir(const struct ofc_cluster *cl)
{
    return cl->socket_dir;
}

const char *ofc_cluster_log_file(const struct ofc_cluster *cl)
{
    return cl->log_file;
}

char *ofc_cluster_conninfo(const struct ofc_cluster *cl, const char *dbname)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_puts(&sb, "host=");
    ofc_conninfo_append_value(&sb, cl->socket_dir);
    ofc_strbuf_printf(&sb, " port=%d dbname=", OFC_CLUSTER_PORT);
    ofc_conninfo_append_value(&sb, dbname);
    ofc_strbuf_puts(&sb, " user=" OFC_CLUSTER_ROLE);
    return ofc_strbuf_detach(&sb);
}

static bool file_exists(const char *dir, const char *name)
{
    char *path = ofc_xasprintf("%s/%s", dir, name);
    struct stat st;
    bool ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    free(path);
    return ok;
}

bool ofc_cluster_exists(const struct ofc_cluster *cl)
{
    return file_exists(cl->data_dir, "PG_VERSION");
}

/* ---- helpers --------------------------------------------------------- */

/*
 * nftw() has no user pointer; the first failure is kept per thread so
 * that two threads removing trees do not mix up their errors.
 */
static _Thread_local int rm_errno;
static _Thread_local char *rm_failed_path;

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    if (rc < 0 && errno != ENOENT && rm_errno == 0) {
        rm_errno = errno;
        rm_failed_path = ofc_xstrdup(path);
    }
    return 0; /* remove what can be removed; report the first failure */
}

/* rm -rf; a missing tree is fine. Returns 0 or -1 with *error_r. */
static int remove_tree(const char *dir, char **error_r)
{
    struct stat st;
    if (lstat(dir, &st) < 0) {
        if (errno == ENOENT)
            return 0;
        *error_r = ofc_xasprintf("cannot remove %s: %s", dir, strerror(errno));
        return -1;
    }
    rm_errno = 0;
    rm_failed_path = NULL;
    if (nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS) < 0 && rm_errno == 0) {
        rm_errno = errno;
        rm_failed_path = ofc_xstrdup(dir);
    }
    if (rm_errno != 0) {
        *error_r = ofc_xasprintf("cannot remove %s: %s", rm_failed_path, strerror(rm_errno));
        OFC_FREE(rm_failed_path);
        return -1;
    }
    return 0;
}

/* PostgreSQL refuses root; saying so up front beats initdb's message. */
static int refuse_root(const char *what, char **error_r)
{
    if (geteuid() != 0)
        return 0;
    *error_r = ofc_xasprintf("cannot %s the embedded cluster as root "
                             "(PostgreSQL refuses; run as the node's user)",
                             what);
    return -1;
}

/* The socket's path must fit in sockaddr_un, or the server cannot bind it. */
static int check_socket_path(const struct ofc_cluster *cl, char **error_r)
{
    struct sockaddr_un sun;
    char *sock = ofc_xasprintf("%s/.s.PGSQL.%d", cl->socket_dir, OFC_CLUSTER_PORT);
    size_t len = strlen(sock);
    free(sock);
    if (len < sizeof(sun.sun_path))
        return 0;
    *error_r = ofc_xasprintf("socket directory %s is too long for a unix socket "
                             "(at most %zu characters); choose a shorter var_dir",
                             cl->socket_dir, sizeof(sun.sun_path) - 1 - strlen("/.s.PGSQL.5432"));
    return -1;
}

/*
 * The socket directory is what keeps trust authentication safe: only its
 * owner (and group) may reach the socket inside. Create it, and insist on
 * 0750 every time, in case someone loosened it.
 */
static int prepare_socket_dir(const struct ofc_cluster *cl, char **error_r)
{
    if (ofc_mkdir_p(cl->socket_dir, 0750, 0755, error_r) < 0)
        return -1;
    if (chmod(cl->socket_dir, 0750) < 0) {
        *error_r = ofc_xasprintf("cannot set mode 0750 on %s: %s", cl->socket_dir, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads the major version recorded in <dir>/PG_VERSION; 0 if unreadable. */
static long data_dir_version(const char *dir)
{
    char *path = ofc_xasprintf("%s/PG_VERSION", dir);
    FILE *fp = fopen(path, "re");
    free(path);
    if (fp == NULL)
        return 0;
    char buf[32];
    long v = 0;
    if (fgets(buf, sizeof(buf), fp) != NULL)
        v = strtol(buf, NULL, 10);
    (void)fclose(fp);
    return v;
}

static bool bindir_usable(const char *dir)
{
    char *initdb = ofc_xasprintf("%s/initdb", dir);
    char *pg_ctl = ofc_xasprintf("%s/pg_ctl", dir);
    bool ok = access(initdb, X_OK) == 0 && access(pg_ctl, X_OK) == 0;
    free(initdb);
    free(pg_ctl);
    return ok;
}

/* The newest /usr/lib/postgresql/<N>/bin with initdb, or NULL. */
static char *newest_bindir(void)
{
    glob_t g;
    char *best = NULL;
    long best_version = -1;

    if (glob(PG_LIB_DIR "/*/bin/initdb", 0, NULL, &g) != 0)
        return NULL;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *rest = g.gl_pathv[i] + strlen(PG_LIB_DIR "/");
        char *end;
        long v = strtol(rest, &end, 10);
        if (end == rest || *end != '/' || v <= best_version)
            continue;
        char *dir = ofc_xstrndup(g.gl_pathv[i], (size_t)(end - g.gl_pathv[i]) + strlen("/bin"));
        if (!bindir_usable(dir)) {
            free(dir);
            continue;
        }
        free(best);
        best = dir;
        best_version = v;
    }
    globfree(&g);
    return best;
}

static const char *find_bindir(struct ofc_cluster *cl, char **error_r)
{
    if (cl->bindir != NULL)
        return cl->bindir;
    if (cl->conf_bindir[0] != '\0') {
        if (!bindir_usable(cl->conf_bindir)) {
            *error_r = ofc_xasprintf("pg_bindir %s holds no initdb and pg_ctl", cl->conf_bindir);
            return NULL;
        }
        cl->bindir = ofc_xstrdup(cl->conf_bindir);
        return cl->bindir;
    }
    /* A data directory only works with the major version that created it. */
    long v = data_dir_version(cl->data_dir);
    if (v > 0) {
        char *dir = ofc_xasprintf(PG_LIB_DIR "/%ld/bin", v);
        if (bindir_usable(dir)) {
            cl->bindir = dir;
            return cl->bindir;
        }
        free(dir);
    }
    cl->bindir = newest_bindir();
    if (cl->bindir == NULL) {
        *error_r = ofc_xstrdup("no PostgreSQL server found in " PG_LIB_DIR "/*/bin "
                               "(install postgresql, or set pg_bindir in the configuration)");
        return NULL;
    }
    return cl->bindir;
}

/*
 * Runs <bindir>/<prog> with args (NULL-terminated, without argv[0]),
 * stdin from /dev/null, stdout and stderr into *out. Sets *exit_r to the
 * exit status. Returns 0 when the program ran to an exit (whatever its
 * status), -1 with *error_r when it could not be run or died of a signal.
 */
static int run_program(struct ofc_cluster *cl, const char *prog, const char *const *args,
                       struct ofc_strbuf *out, int *exit_r, char **error_r)
{
    const char *bindir = find_bindir(cl, error_r);
    if (bindir == NULL)
        return -1;

    size_t nargs = 0;
    while (args[nargs] != NULL)
        nargs++;
    char *path = ofc_xasprintf("%s/%s", bindir, prog);
    /* Built before fork: the child may only call async-signal-safe functions. */
    char **argv = ofc_xcalloc(nargs + 2, sizeof(*argv));
    argv[0] = path;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = (char *)args[i];
    static const char exec_failed[] = "cannot execute the program\n";

    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        *error_r = ofc_xasprintf("cannot run %s: pipe: %s", path, strerror(errno));
        free(argv);
        free(path);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *error_r = ofc_xasprintf("cannot run %s: fork: %s", path, strerror(errno));
        (void)close(fds[0]);
        (void)close(fds[1]);
        free(argv);
        free(path);
        return -1;
    }
    if (pid == 0) {
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0 || dup2(null_fd, STDIN_FILENO) < 0 || dup2(fds[1], STDOUT_FILENO) < 0 ||
            dup2(fds[1], STDERR_FILENO) < 0)
            _exit(127);
        execv(path, argv);
        ssize_t ignored = write(STDERR_FILENO, exec_failed, sizeof(exec_failed) - 1);
        (void)ignored;
        _exit(127);
    }

    (void)close(fds[1]);
    char buf[4096];
    for (;;) {
        ssize_t n = read(fds[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ofc_strbuf_append(out, buf, (size_t)n);
    }
    (void)close(fds[0]);

    int status;
    pid_t w;
    do {
        w = waitpid(pid, &status, 0);
    } while (w < 0 && errno == EINTR);
    int ret = 0;
    if (w < 0) {
        *error_r = ofc_xasprintf("%s: waitpid: %s", path, strerror(errno));
        ret = -1;
    } else if (WIFSIGNALED(status)) {
        *error_r = ofc_xasprintf("%s was killed by signal %d", path, WTERMSIG(status));
        ret = -1;
    } else {
        *exit_r = WEXITSTATUS(status);
    }
    free(argv);
    free(path);
    return ret;
}

/* "<what>: <prog> exited with status N: <its output>". */
static char *program_failed(const char *what, const char *prog, int status,
                            const struct ofc_strbuf *out)
{
    char *said = ofc_str_one_line(out->data);
    char *msg = ofc_xasprintf("%s: %s exited with status %d%s%s", what, prog, status,
                              said[0] != '\0' ? ": " : "", said);
    free(said);
    return msg;
}

/* The last FATAL or PANIC line of the server log, or NULL. Heap string. */
static char *last_fatal_log_line(const struct ofc_cluster *cl)
{
    FILE *fp = fopen(cl->log_file, "re");
    if (fp == NULL)
        return NULL;
    if (fseek(fp, 0, SEEK_END) == 0) {
        long size = ftell(fp);
        if (size > LOG_TAIL_BYTES && fseek(fp, size - LOG_TAIL_BYTES, SEEK_SET) != 0)
            rewind(fp);
        else if (size <= LOG_TAIL_BYTES)
            rewind(fp);
    }
    char *found = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, fp)) > 0) {
        if (strstr(line, "FATAL:") != NULL || strstr(line, "PANIC:") != NULL) {
            free(found);
            found = ofc_str_one_line(line);
        }
    }
    free(line);
    (void)fclose(fp);
    return found;
}

/* Appends the settings that make the cluster private to <dir>/postgresql.conf. */
static int append_settings(const struct ofc_cluster *cl, const char *dir, char **error_r)
{
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_puts(&sb, "\n# Added by ofcsetup: the embedded cluster of an ofcmail node.\n"
                         "# No TCP at all; the only way in is the unix socket below, in a\n"
                         "# directory that only the node's account may enter (mode 0750).\n"
                         "listen_addresses = ''\n"
                         "unix_socket_directories = '");
    /* postgresql.conf strings: quotes doubled, backslashes escaped. */
    for (const char *p = cl->socket_dir; *p != '\0'; p++) {
        if (*p == '\'')
            ofc_strbuf_putc(&sb, '\'');
        else if (*p == '\\')
            ofc_strbuf_putc(&sb, '\\');
        ofc_strbuf_putc(&sb, *p);
    }
    ofc_strbuf_printf(&sb,
                      "'\n"
                      "unix_socket_permissions = 0770\n"
                      "# The socket file lives in the private directory, so the usual\n"
                      "# port cannot clash with another server.\n"
                      "port = %d\n"
                      "# Server messages go to the file pg_ctl -l names, in the node's log\n"
                      "# directory.\n"
                      "logging_collector = off\n",
                      OFC_CLUSTER_PORT);

    char *conf = ofc_xasprintf("%s/postgresql.conf", dir);
    int ret = 0;
    int fd = open(conf, O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) {
        *error_r = ofc_xasprintf("cannot open %s: %s", conf, strerror(errno));
        ret = -1;
    } else {
        const char *p = sb.data;
        size_t left = sb.len;
        while (left > 0) {
            ssize_t n = write(fd, p, left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0) {
                *error_r = ofc_xasprintf("cannot write %s: %s", conf, strerror(errno));
                ret = -1;
                break;
            }
            p += n;
            left -= (size_t)n;
        }
        if (ret == 0 && fsync(fd) < 0) {
            *error_r = ofc_xasprintf("cannot write %s: fsync: %s", conf, strerror(errno));
            ret = -1;
        }
        if (close(fd) < 0 && ret == 0) {
            *error_r = ofc_xasprintf("cannot write %s: %s", conf, strerror(errno));
            ret = -1;
        }
    }
    free(conf);
    ofc_strbuf_free(&sb);
    return ret;
}

/* The parent of path (a heap string): "/a/b/c" -> "/a/b". */
static char *parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return ofc_xstrdup(".");
    if (slash == path)
        return ofc_xstrdup("/");
    return ofc_xstrndup(path, (size_t)(slash - path));
}

/* Removes a half-made cluster; the error that led here is what gets reported. */
static void discard_init_dir(const struct ofc_cluster *cl)
{
    char *error = NULL;
    if (remove_tree(cl->init_dir, &error) < 0) {
        ofc_warn("%s", error);
        free(error);
    }
}

/* ---- the verbs ------------------------------------------------------- */

int ofc_cluster_init(struct ofc_cluster *cl, char **error_r)
{
    if (ofc_cluster_exists(cl))
        return 0;
    if (refuse_root("create", error_r) < 0 || check_socket_path(cl, error_r) < 0)
        return -1;

    char *parent = parent_dir(cl->data_dir);
    int rc = ofc_mkdir_p(parent, 0750, 0755, error_r);
    free(parent);
    if (rc < 0)
        return -1;
    /* What a killed initdb or ofcsetup left behind is of no use. */
    if (remove_tree(cl->init_dir, error_r) < 0)
        return -1;

    /*
     * Trust authentication, and no password anywhere: safe because the
     * server listens on no TCP port and its socket sits in a directory of
     * mode 0750 that belongs to the run user, so only that user (and its
     * group, which holds no one else) can connect. Anyone who can enter
     * that directory can read the data files anyway.
     */
    const char *const args[] = {"-D",    cl->init_dir, "-U",   OFC_CLUSTER_ROLE,   "-A",
                                "trust", "-E",         "UTF8", "--locale=C.UTF-8", NULL};
    struct ofc_strbuf out = OFC_STRBUF_INIT;
    int status = 0;
    if (run_program(cl, "initdb", args, &out, &status, error_r) < 0) {
        ofc_strbuf_free(&out);
        return -1;
    }
    if (status != 0) {
        *error_r = program_failed("cannot create the embedded cluster", "initdb", status, &out);
        ofc_strbuf_free(&out);
        /* initdb cleans up after itself, but not when it was killed halfway. */
        discard_init_dir(cl);
        return -1;
    }
    ofc_strbuf_free(&out);

    if (append_settings(cl, cl->init_dir, error_r) < 0)
        goto fail;
    /* rename(2) replaces an empty directory, and refuses a non-empty one. */
    if (rename(cl->init_dir, cl->data_dir) < 0) {
        int err = errno;
        *error_r =
            ofc_xasprintf("cannot move the new cluster to %s: %s%s", cl->data_dir, strerror(err),
                          err == ENOTEMPTY || err == EEXIST
                              ? " (the directory holds something else; move it away)"
                              : "");
        goto fail;
    }
    if (prepare_socket_dir(cl, error_r) < 0)
        return -1;
    ofc_info("created the embedded PostgreSQL cluster in %s", cl->data_dir);
    return 0;

fail:
    discard_init_dir(cl);
    return -1;
}

int ofc_cluster_running(struct ofc_cluster *cl, bool *running_r, char **error_r)
{
    *running_r = false;
    if (!ofc_cluster_exists(cl))
        return 0;

    const char *const args[] = {"-D", cl->data_dir, "status", NULL};
    struct ofc_strbuf out = OFC_STRBUF_INIT;
    int status = 0;
    if (run_program(cl, "pg_ctl", args, &out, &status, error_r) < 0) {
        ofc_strbuf_free(&out);
        return -1;
    }
    /* pg_ctl status: 0 running, 3 not running, 4 no usable data directory. */
    int ret = 0;
    if (status == 0) {
        *running_r = true;
    } else if (status != 3 && status != 4) {
        *error_r =
            program_failed("cannot ask whether the embedded cluster runs", "pg_ctl", status, &out);
        ret = -1;
    }
    ofc_strbuf_free(&out);
    return ret;
}

int ofc_cluster_start(struct ofc_cluster *cl, bool *started_r, char **error_r)
{
    bool running = false;

    if (started_r != NULL)
        *started_r = false;
    if (!ofc_cluster_exists(cl)) {
        *error_r = ofc_xasprintf("there is no cluster in %s (ofcsetup create-node makes one)",
                                 cl->data_dir);
        return -1;
    }
    if (refuse_root("start", error_r) < 0 || check_socket_path(cl, error_r) < 0 ||
        prepare_socket_dir(cl, error_r) < 0 || ofc_mkdir_p(cl->log_dir, 0750, 0755, error_r) < 0)
        return -1;
    if (ofc_cluster_running(cl, &running, error_r) < 0)
        return -1;
    if (running)
        return 0;

    const char *const args[] = {"-D", cl->data_dir,   "-l",    cl->log_file, "-w",
                                "-t", PG_CTL_TIMEOUT, "start", NULL};
    struct ofc_strbuf out = OFC_STRBUF_INIT;
    int status = 0;
    if (run_program(cl, "pg_ctl", args, &out, &status, error_r) < 0) {
        ofc_strbuf_free(&out);
        return -1;
    }
    if (status != 0) {
        char *msg = program_failed("cannot start the embedded cluster", "pg_ctl", status, &out);
        char *why = last_fatal_log_line(cl);
        *error_r = ofc_xasprintf("%s; server log %s%s%s", msg, cl->log_file,
                                 why != NULL ? " says: " : "", why != NULL ? why : "");
        free(msg);
        free(why);
        ofc_strbuf_free(&out);
        return -1;
    }
    ofc_strbuf_free(&out);
    ofc_info("started the embedded PostgreSQL cluster (socket in %s)", cl->socket_dir);
    if (started_r != NULL)
        *started_r = true;
    return 0;
}

int ofc_cluster_stop(struct ofc_cluster *cl, bool *stopped_r, char **error_r)
{
    bool running = false;

    if (stopped_r != NULL)
        *stopped_r = false;
    if (ofc_cluster_running(cl, &running, error_r) < 0)
        return -1;
    if (!running)
        return 0;

    const char *const args[] = {"-D", cl->data_dir,   "-m",   "fast", "-w",
                                "-t", PG_CTL_TIMEOUT, "stop", NULL};
    struct ofc_strbuf out = OFC_STRBUF_INIT;
    int status = 0;
    if (run_program(cl, "pg_ctl", args, &out, &status, error_r) < 0) {
        ofc_strbuf_free(&out);
        return -1;
    }
    if (status != 0) {
        *error_r = program_failed("cannot stop the embedded cluster", "pg_ctl", status, &out);
        ofc_strbuf_free(&out);
        return -1;
    }
    ofc_strbuf_free(&out);
    ofc_info("stopped the embedded PostgreSQL cluster");
    if (stopped_r != NULL)
        *stopped_r = true;
    return 0;
}

int ofc_cluster_create_database(struct ofc_cluster *cl, bool *created_r, char **error_r)
{
    if (created_r != NULL)
        *created_r = false;
    char *conninfo = ofc_cluster_conninfo(cl, "postgres");
    struct ofc_db *db = ofc_db_new(conninfo, "ofcsetup");
    free(conninfo);

    char *why = NULL;
    int ret = -1;
    if (ofc_db_connect(db, &why) < 0) {
        *error_r = ofc_xasprintf("cannot connect to the embedded cluster: %s", why);
        free(why);
        goto out;
    }
    const char *const params[] = {OFC_CLUSTER_DATABASE};
    PGresult *res =
        ofc_db_query(db, "SELECT 1 FROM pg_catalog.pg_database WHERE datname = $1", 1, params);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot list the databases of the embedded cluster: %s",
                                 ofc_db_error(db));
        goto out;
    }
    int found = PQntuples(res);
    PQclear(res);
    if (found == 0) {
        /*
         * CREATE DATABASE takes no parameters; the name is our constant,
         * never input. Another ofcsetup may have won the race (42P04).
         */
        if (ofc_db_exec(db, "CREATE DATABASE " OFC_CLUSTER_DATABASE, 0, NULL) < 0) {
            if (strcmp(ofc_db_sqlstate(db), "42P04") != 0) {
                *error_r = ofc_xasprintf("cannot create the database " OFC_CLUSTER_DATABASE ": %s",
                                         ofc_db_error(db));
                goto out;
            }
        } else {
            ofc_info("created the database " OFC_CLUSTER_DATABASE " in the embedded cluster");
            if (created_r != NULL)
                *created_r = true;
        }
    }
    ret = 0;
out:
    ofc_db_free(&db);
    return ret;
}

int ofc_cluster_remove(struct ofc_cluster *cl, char **error_r)
{
    if (ofc_cluster_stop(cl, NULL, error_r) < 0)
        return -1;
    if (remove_tree(cl->data_dir, error_r) < 0 || remove_tree(cl->init_dir, error_r) < 0 ||
        remove_tree(cl->socket_dir, error_r) < 0)
        return -1;
    ofc_info("removed the embedded PostgreSQL cluster %s", cl->data_dir);
    return 0;
}
