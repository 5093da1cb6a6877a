#!/usr/bin/env python3
"""A private PostgreSQL cluster for tests: a temp directory, a unix socket in
it and a loopback TCP port, never the system's service.

PostgreSQL refuses to run as root. When the tests run as root (CI does), the
cluster runs as the unprivileged `ofcmail` user, created here if missing, and
its directory belongs to that user.

As a library:   c = PgCluster(dir); c.start(); c.conninfo(); c.stop()
As a command:   pgcluster.py start DIR   (writes DIR/conninfo)
                pgcluster.py stop DIR    (stops it and removes DIR)
                pgcluster.py restart DIR [SECONDS]
                                         (fast stop, SECONDS down, start again
                                          on the same port: reconnect tests)
"""
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time

RUN_USER = os.environ.get("OFC_TEST_USER", "ofcmail")
SUPERUSER = "ofcadmin"
SUPERUSER_PASSWORD = "ofc-test-superuser"


def pg_bindir():
    """The newest installed PostgreSQL server's bin directory."""
    env = os.environ.get("OFC_PG_BINDIR")
    if env:
        return env
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise RuntimeError("no PostgreSQL server found (apt-get install postgresql)")
    return os.path.dirname(found[-1])


def ensure_run_user():
    """Returns (uid, gid) to run servers as: ours when not root, else the
    `ofcmail` system user (created when missing)."""
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    try:
        pw = pwd.getpwnam(RUN_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                        "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                        RUN_USER], check=True)
        pw = pwd.getpwnam(RUN_USER)
    return pw.pw_uid, pw.pw_gid


def chown_tree(path, uid, gid):
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in files:
            os.chown(os.path.join(root, name), uid, gid)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class PgCluster:
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.data = os.path.join(self.dir, "data")
        self.sockdir = os.path.join(self.dir, "run")
        self.logfile = os.path.join(self.dir, "postgresql.log")
        self.port = None
        self.uid, self.gid = ensure_run_user()

    def _demote(self):
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)

    def _run(self, args, **kw):
        return subprocess.run(args, preexec_fn=self._demote, check=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)

    def start(self):
        os.makedirs(self.sockdir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        pwfile = os.path.join(self.dir, "pw")
        with open(pwfile, "w") as f:
            f.write(SUPERUSER_PASSWORD + "\n")
        chown_tree(self.dir, self.uid, self.gid)
        bindir = pg_bindir()
        # Passwords are checked even on the unix socket, so that tests of
        # a wrong password mean something.
        self._run([os.path.join(bindir, "initdb"), "-D", self.data, "-U", SUPERUSER,
                   "--pwfile", pwfile, "-A", "scram-sha-256", "-E", "UTF8",
                   "--locale", "C.UTF-8", "--no-sync"])
        os.unlink(pwfile)
        self.port = free_port()
        opts = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=64MB" % (self.port, self.sockdir))
        self._run([os.path.join(bindir, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                   "-o", opts, "-w", "-t", "60", "start"])
        with open(os.path.join(self.dir, "port"), "w") as f:
            f.write("%d\n" % self.port)
        with open(os.path.join(self.dir, "conninfo"), "w") as f:
            f.write(self.conninfo() + "\n")
        return self

    def load(self):
        """Attach to a cluster started earlier by `pgcluster.py start`."""
        with open(os.path.join(self.dir, "port")) as f:
            self.port = int(f.read())
        return self

    def conninfo(self, dbname="postgres", user=SUPERUSER, password=SUPERUSER_PASSWORD, tcp=False):
        host = "127.0.0.1" if tcp else self.sockdir
        parts = ["host=%s" % host, "port=%d" % self.port, "dbname=%s" % dbname,
                 "user=%s" % user]
        if password is not None:
            parts.append("password=%s" % password)
        return " ".join(parts)

    def psql(self, sql, dbname="postgres", check=True):
        bindir = pg_bindir()
        psql = os.path.join(bindir, "psql")
        if not os.path.exists(psql):
            psql = "psql"
        env = dict(os.environ, PGPASSWORD=SUPERUSER_PASSWORD)
        r = subprocess.run([psql, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-h", self.sockdir, "-p", str(self.port), "-U", SUPERUSER,
                            "-d", dbname, "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        if check and r.returncode != 0:
            raise RuntimeError("psql failed: %s" % r.stderr.strip())
        return r.stdout.strip()

    def createdb(self, name):
        self.psql('CREATE DATABASE "%s"' % name.replace('"', '""'))
        return name

    def restart(self, stop_seconds=0.0):
        """Stops the server (fast), waits, starts it again on the same port."""
        bindir = pg_bindir()
        self._run([os.path.join(bindir, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "stop"])
        time.sleep(stop_seconds)
        opts = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200 -c shared_buffers=64MB" % (self.port, self.sockdir))
        self._run([os.path.join(bindir, "pg_ctl"), "-D", self.data, "-l", self.logfile,
                   "-o", opts, "-w", "-t", "60", "start"])

    def stop(self, remove=True):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            try:
                self._run([os.path.join(pg_bindir(), "pg_ctl"), "-D", self.data,
                           "-m", "immediate", "-w", "stop"])
            except subprocess.CalledProcessError as e:
                sys.stderr.write("pg_ctl stop: %s\n" % e.stdout)
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)


def main(argv):
    if (len(argv) == 3 and argv[1] in ("start", "stop")) or \
            (len(argv) in (3, 4) and argv[1] == "restart"):
        pass
    else:
        sys.stderr.write("usage: pgcluster.py start|stop DIR | restart DIR [SECONDS]\n")
        return 2
    c = PgCluster(argv[2])
    if argv[1] == "restart":
        try:
            c.load().restart(float(argv[3]) if len(argv) == 4 else 0.0)
        except (OSError, ValueError, subprocess.CalledProcessError) as e:
            sys.stderr.write("%s\n%s\n" % (e, getattr(e, "stdout", "") or ""))
            return 1
        return 0
    if argv[1] == "start":
        c.stop(remove=True)  # a cluster left behind by a killed run
        try:
            c.start()
        except subprocess.CalledProcessError as e:
            sys.stderr.write("%s\n%s\n" % (e, e.stdout))
            return 1
        print(c.conninfo())
    else:
        c.stop(remove=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
