"""The integration test harness: real programs, a real PostgreSQL.

Every integration test builds on these pieces:

    Home     a temporary installation root (etc/, log/, var/) whose
             etc/ofcmail.conf points at the build's bin/ directory
    Node     a node made by `ofcsetup create-node`, either in a private
             PostgreSQL cluster started for the test (--connect) or in the
             embedded cluster ofcsetup creates itself; torn down at exit,
             even when the test fails or is interrupted

    with Node() as node:
        node.sql("SELECT name FROM node")        # -> [['ESNODE']]
        node.ofcsetup("status")                  # CompletedProcess

When the tests run as root (CI does), servers and ofcmail processes run as
the unprivileged `ofcmail` user, as in production.
"""
import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import pgcluster  # noqa: E402  (tests/pgcluster.py)

BUILD_DIR = os.environ.get("OFC_BUILD_DIR") or os.path.join(os.path.dirname(os.path.dirname(HERE)), "build")
BIN_DIR = os.path.join(BUILD_DIR, "bin")
SOURCE_DIR = os.environ.get("OFC_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
SCHEMA_DIR = os.path.join(SOURCE_DIR, "schema")

ADMIN_PASSWORD = "Adm1n-test-pw"
ORAPOST_PASSWORD = "0rapost-test-pw"

_cleanups = []


def _run_cleanups():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception as e:  # teardown must go on
            sys.stderr.write("ofctest: cleanup failed: %s\n" % e)


atexit.register(_run_cleanups)


def _on_signal(signum, frame):
    _run_cleanups()
    sys.exit(128 + signum)


signal.signal(signal.SIGTERM, _on_signal)


def migration_count():
    return len([f for f in os.listdir(SCHEMA_DIR) if f[:3].isdigit() and f.endswith(".sql")])


def latest_migration():
    return max(int(f[:3]) for f in os.listdir(SCHEMA_DIR) if f[:3].isdigit() and f.endswith(".sql"))


class Home:
    """A temporary ofcmail installation root."""

    def __init__(self, node="ESNODE", sid="ofctest", connect="", extra=""):
        self.dir = tempfile.mkdtemp(prefix="ofc-test-")
        _cleanups.append(self.remove)
        self.uid, self.gid = pgcluster.ensure_run_user()
        os.chmod(self.dir, 0o755)
        self.node = node
        self.sid = sid
        self.etc = os.path.join(self.dir, "etc")
        os.makedirs(self.etc)
        self.config = os.path.join(self.etc, "ofcmail.conf")
        self.write_config(connect, extra)
        pgcluster.chown_tree(self.dir, self.uid, self.gid)

    def write_config(self, connect="", extra=""):
        with open(self.config, "w") as f:
            f.write('home = "%s"\n' % self.dir)
            f.write('node = "%s"\n' % self.node)
            f.write('sid = "%s"\n' % self.sid)
            f.write('bin_dir = "%s"\n' % BIN_DIR)
            f.write('connect = "%s"\n' % connect.replace("\\", "\\\\").replace('"', '\\"'))
            f.write(extra)
        os.chmod(self.config, 0o640)
        if os.geteuid() == 0:
            os.chown(self.config, 0, self.gid)

    @property
    def log_dir(self):
        return os.path.join(self.dir, "log", self.sid)

    @property
    def pgdata(self):
        return os.path.join(self.dir, "var", self.sid, "pgdata")

    @property
    def socket_dir(self):
        return os.path.join(self.dir, "var", self.sid, "run")

    def embedded_conninfo(self):
        return "host=%s port=5432 dbname=ofcmail user=ofcmail" % self.socket_dir

    def remove(self):
        # A cluster left running in this home would keep files open.
        if os.path.exists(os.path.join(self.pgdata, "postmaster.pid")):
            c = pgcluster.PgCluster(os.path.join(self.dir, "var", self.sid))
            c.data = self.pgdata
            c.stop(remove=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def run(args, env=None, input=None, timeout=120):
    """Runs a program with stdin from `input` (never a terminal)."""
    e = dict(os.environ)
    e.pop("OFC_ADMIN_PASSWORD", None)
    e.pop("OFC_ORAPOST_PASSWORD", None)
    e.pop("OFC_DEMO_PASSWORD", None)
    e.pop("OFC_OOMGR_PASSWORD", None)
    if env:
        e.update(env)
    return subprocess.run(args, input=input if input is not None else "", env=e, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


class Node:
    """A node made by ofcsetup. embedded=False: in a private cluster started
    here (the default, and what later tests use); embedded=True: ofcsetup
    makes and runs its own cluster under the home's var/ directory."""

    def __init__(self, embedded=False, node="ESNODE", domain="com", create=True, demo_user=None):
        self.embedded = embedded
        self.cluster = None
        self.dbname = "ofcmail"
        if embedded:
            self.home = Home(node=node)
            self.conninfo = self.home.embedded_conninfo()
        else:
            cdir = tempfile.mkdtemp(prefix="ofc-pg-")
            self.cluster = pgcluster.PgCluster(cdir)
            _cleanups.append(lambda: self.cluster.stop(remove=True))
            self.cluster.start()
            self.cluster.createdb(self.dbname)
            self.conninfo = self.cluster.conninfo(dbname=self.dbname)
            self.home = Home(node=node, connect=self.conninfo)
        self.node = node
        self.domain = domain
        self.demo_user = demo_user
        if create:
            self.create()

    def ofcsetup(self, *args, env=None, input=None):
        return run([os.path.join(BIN_DIR, "ofcsetup"), "-c", self.home.config] + list(args),
                   env=env, input=input)

    def oomgr(self, script="", *args, login="ADMIN", password=ADMIN_PASSWORD, env=None):
        """Runs oomgr on this node with `script` on stdin (never a terminal).
        login goes first on the command line (None: none); the password
        travels in $OFC_OOMGR_PASSWORD (None: not set). Extra args follow
        the login ("@file.ofc", "--continue", ...)."""
        argv = [os.path.join(BIN_DIR, "oomgr"), "-c", self.home.config]
        if login is not None:
            argv.append(login)
        e = {} if password is None else {"OFC_OOMGR_PASSWORD": password}
        if env:
            e.update(env)
        return run(argv + list(args), env=e, input=script)

    def create(self, *extra):
        env = {"OFC_ADMIN_PASSWORD": ADMIN_PASSWORD, "OFC_ORAPOST_PASSWORD": ORAPOST_PASSWORD}
        args = ["create-node", "--node=" + self.node, "--domain=" + self.domain]
        if self.demo_user:
            args.append("--demo-user=" + self.demo_user[0])
            env["OFC_DEMO_PASSWORD"] = self.demo_user[1]
        r = self.ofcsetup(*(args + list(extra)), env=env)
        if r.returncode != 0:
            raise AssertionError("ofcsetup create-node failed (%d):\n%s%s"
                                 % (r.returncode, r.stdout, r.stderr))
        return r

    def sql(self, query, *params, check=True):
        """Runs one statement in schema ofc; returns rows as lists of strings
        (None for NULL). Parameters travel as psql variables, quoted by psql."""
        args = ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-R", "\x1e", "-P", "null=\x01NULL",
                "-v", "ON_ERROR_STOP=1"]
        for i, p in enumerate(params, 1):
            args += ["-v", "p%d=%s" % (i, p)]
        env = dict(os.environ)
        if self.embedded:
            args += ["-h", self.home.socket_dir, "-p", "5432", "-U", "ofcmail", "-d", self.dbname]
        else:
            args += ["-h", self.cluster.sockdir, "-p", str(self.cluster.port), "-U",
                     pgcluster.SUPERUSER, "-d", self.dbname]
            env["PGPASSWORD"] = pgcluster.SUPERUSER_PASSWORD
        env["PGOPTIONS"] = "-c search_path=ofc"
        r = subprocess.run(args, input=query, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, env=env)
        if check and r.returncode != 0:
            raise RuntimeError("SQL failed: %s\n%s" % (query, r.stderr.strip()))
        if not check:
            return r
        out = r.stdout
        if out.endswith("\n"):
            out = out[:-1]
        if out == "":
            return []
        rows = []
        for line in out.split("\x1e"):
            line = line.lstrip("\n")
            rows.append([None if v == "\x01NULL" else v for v in line.split("\x1f")])
        return rows

    def value(self, query, *params):
        rows = self.sql(query, *params)
        return rows[0][0] if rows else None

    def close(self):
        if self.embedded:
            self.ofcsetup("drop-node", "--yes")
        self.home.remove()
        if self.cluster:
            self.cluster.stop(remove=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


class TestCase(unittest.TestCase):
    def assertOk(self, r, msg=""):
        self.assertEqual(r.returncode, 0, "%s exit %d\nstdout:\n%s\nstderr:\n%s"
                         % (msg, r.returncode, r.stdout, r.stderr))

    def assertOneLineError(self, r, *needles):
        self.assertNotEqual(r.returncode, 0, "expected failure, got 0:\n%s" % r.stdout)
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        self.assertEqual(len(lines), 1, "expected one error line, got:\n%s" % r.stderr)
        for n in needles:
            self.assertIn(n.lower(), lines[0].lower())
        return lines[0]


def wait_until(fn, timeout, interval=0.05, what="condition"):
    """Calls fn until it returns a true value, and returns that value;
    raises AssertionError naming `what` after `timeout` seconds."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


def pid_alive(pid):
    """True while pid exists and is not a zombie (pids from the database may be strings)."""
    try:
        with open("/proc/%d/stat" % int(pid)) as f:
            stat = f.read()
    except (OSError, ValueError, TypeError):
        return False
    return stat[stat.rindex(")") + 2:][:1] != "Z"


class Guardian:
    """ofcguard on a node: start, stop, status, its pid and log. A Guardian
    still running at exit is stopped (killed, if it will not stop)."""

    def __init__(self, node):
        self.node = node
        self.exe = os.path.join(BIN_DIR, "ofcguard")
        _cleanups.append(self._cleanup)

    def run(self, *args, timeout=120):
        return run([self.exe, "-c", self.node.home.config] + list(args), timeout=timeout)

    def start(self, *args):
        return self.run("start", *args)

    def stop(self, *args):
        return self.run("stop", *args)

    def status(self):
        return self.run("status")

    @property
    def pidfile(self):
        return os.path.join(self.node.home.socket_dir, "ofcguard.pid")

    @property
    def logfile(self):
        return os.path.join(self.node.home.log_dir, "%s_local_guardian01.log" % self.node.node)

    def pid(self):
        """The pid in the pid file, or None."""
        try:
            with open(self.pidfile) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def log(self):
        try:
            with open(self.logfile) as f:
                return f.read()
        except OSError:
            return ""

    def _cleanup(self):
        pid = self.pid()
        if pid is None or not pid_alive(pid):
            return
        r = self.stop("-t", "30")
        if r.returncode != 0 and pid_alive(pid):
            # Its children get SIGTERM through PR_SET_PDEATHSIG.
            os.kill(pid, signal.SIGKILL)


def register_worker_type(node, name, executable="ofctestworker"):
    """A process type served by ofctestworker (type=NAME), with the common
    parameters copied from GUARDIAN's and the worker's own three. Quick
    heartbeats, so that the health check can use short timeouts."""
    node.sql("""
        INSERT INTO process_type (name, executable, args, log_base, log_numbered, managed,
                                  display_name)
        VALUES (:'p1', :'p2', 'type=' || :'p1', lower(:'p1'), true, true, :'p1');
        INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value,
                                            max_value, description)
        SELECT :'p1', name, value_type, default_value, min_value, max_value, description
          FROM process_type_parameter WHERE type = 'GUARDIAN';
        INSERT INTO process_type_parameter (type, name, value_type, default_value) VALUES
            (:'p1', 'Mode', 'STRING', 'run'), (:'p1', 'Echo', 'STRING', 'hello'),
            (:'p1', 'CrashAfter', 'INT', '1');
        UPDATE process_type_parameter SET default_value = v.value
          FROM (VALUES ('HeartbeatInterval', '1'), ('PollInterval', '1'),
                       ('HeartbeatTimeout', '10'), ('StopGrace', '2')) AS v(name, value)
         WHERE type = :'p1' AND process_type_parameter.name = v.name;
    """, name, executable)
