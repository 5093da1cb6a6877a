"""oomgr (IOFCMGR): logins, process control, parameters, schedules, the
statement language, and its three modes (terminal, script, stdin).

No Guardian runs here: the tests check what oomgr writes to the database
(desired state, schedules, parameters, NOTIFY) and read back what a
Guardian would have written (process_status, guardian_status), set by SQL.
"""
import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
import unittest
import warnings

import ofctest
from ofctest import Node, TestCase, pgcluster

with warnings.catch_warnings():
    # Deprecated in 3.11, gone in 3.13: only used to make test accounts.
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import crypt
    except ImportError:  # pragma: no cover
        crypt = None

PW = ofctest.ADMIN_PASSWORD
OOMGR = os.path.join(ofctest.BIN_DIR, "oomgr")


def yescrypt(password):
    """A $y$ hash as libcrypt makes it (Debian's libxcrypt)."""
    if crypt is None:
        raise unittest.SkipTest("python crypt module missing")
    salt = "$y$j9T$" + "".join(
        "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[b % 64]
        for b in os.urandom(16)) + "$"
    h = crypt.crypt(password, salt)
    if not h or not h.startswith("$y$"):
        raise unittest.SkipTest("libcrypt without yescrypt")
    return h


def add_account(node, name, password, domain="com", grant=None):
    """A PERSON in `domain` with a password, optionally administering `grant`."""
    oid = node.value(
        "INSERT INTO dir_object (domain_id, class, name)"
        " SELECT id, 'PERSON', :'p1' FROM domain WHERE fqdn = :'p2' RETURNING id", name, domain)
    node.sql("INSERT INTO account (object_id, object_class, home_node_id, password_hash)"
             " SELECT :'p1'::bigint, 'PERSON', id, :'p2' FROM node WHERE is_local",
             oid, yescrypt(password))
    if grant:
        node.sql("INSERT INTO admin_grant (account_id, domain_id)"
                 " SELECT :'p1'::bigint, id FROM domain WHERE fqdn = :'p2'", oid, grant)
    return oid


def add_domain(node, fqdn, parent):
    node.sql("INSERT INTO domain (parent_id, fqdn, confignode_id)"
             " SELECT p.id, :'p1', n.id FROM domain p, node n"
             " WHERE p.fqdn = :'p2' AND n.is_local", fqdn, parent)


def desired(node):
    return dict((r[0] + "/" + r[1], r[2]) for r in node.sql(
        "SELECT type, instance, desired_state FROM process"))


class Listener:
    """psql LISTENing on a channel in the background; notifications() returns
    the payloads it saw once it has finished."""

    def __init__(self, node, channel, seconds=2):
        args = ["psql", "-X", "-A", "-t", "-h", node.cluster.sockdir, "-p",
                str(node.cluster.port), "-U", pgcluster.SUPERUSER, "-d", node.dbname]
        env = dict(os.environ, PGPASSWORD=pgcluster.SUPERUSER_PASSWORD)
        script = ("LISTEN %s;\nSELECT 'ready';\nSELECT pg_sleep(%d);\nSELECT 'done';\n"
                  % (channel, seconds))
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, env=env)
        self.proc.stdin.write(script)
        self.proc.stdin.close()
        self.lines = []
        # psql flushes after each query: "ready" means LISTEN has run.
        while True:
            line = self.proc.stdout.readline()
            if not line or line.strip() == "ready":
                break
            self.lines.append(line)

    def notifications(self):
        out = self.proc.stdout.read()
        self.proc.wait(timeout=30)
        return [l for l in (self.lines + out.splitlines()) if "notification" in l]


class LoginTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        add_domain(cls.node, "acme.com", "com")
        add_account(cls.node, "jdoe", "Jdoe-pw-1")
        add_account(cls.node, "boss", "Boss-pw-1", domain="acme.com", grant="acme.com")

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def test_whoami_exact(self):
        r = self.node.oomgr("whoami\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: COM\n")
        self.assertEqual(r.stderr, "")

    def test_login_forms(self):
        # USER/PASSWORD on the command line, any case.
        r = self.node.oomgr("whoami;\n", login="admin/" + PW, password=None)
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: COM\n")
        # USER/PASSWORD@CONNECT/DOMAIN.
        r = self.node.oomgr("whoami;\n", login="ADMIN/%s@%s/acme.com" % (PW, self.node.conninfo),
                            password=None)
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: ACME.COM\n")
        # USER//DOMAIN with the password from the environment.
        r = self.node.oomgr("whoami;\n", login="ADMIN//.acme.com")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: ACME.COM\n")
        # The user from the environment too.
        r = self.node.oomgr("whoami;\n", login=None, env={"OFC_OOMGR_USER": "Admin"})
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: COM\n")

    def test_connect_inside_session(self):
        script = ("whoami\n"
                  "connect admin/%s//acme.com\n"
                  "whoami\n"
                  "connect user=ADMIN password=\"%s\" domain=com;\n"
                  "whoami;\n" % (PW, PW))
        r = self.node.oomgr(script)
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: COM\n"
                                   "Connected.\n"
                                   "Login: ADMIN Node: ESNODE Domain: ACME.COM\n"
                                   "Connected.\n"
                                   "Login: ADMIN Node: ESNODE Domain: COM\n")
        # A service (connect string) given explicitly: the guide's four parts.
        r = self.node.oomgr('connect "ADMIN/%s/%s/acme.com"\nwhoami\n' % (PW, self.node.conninfo))
        self.assertOk(r)
        self.assertEqual(r.stdout.splitlines()[-1], "Login: ADMIN Node: ESNODE Domain: ACME.COM")
        # Without a password in the statement: $OFC_OOMGR_PASSWORD.
        r = self.node.oomgr("connect ADMIN//acme.com\nwhoami\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Connected.\nLogin: ADMIN Node: ESNODE Domain: ACME.COM\n")
        # A refused connect keeps the session it had (and stops the script).
        r = self.node.oomgr("connect admin/wrong\nwhoami\n", "--continue")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "stdin:1: invalid username or password\n")
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: COM\n")

    def test_wrong_password_and_user(self):
        for login, pw in (("ADMIN", "wrong"), ("nobody", PW), ("ADMIN", "")):
            t0 = time.monotonic()
            r = self.node.oomgr("whoami\n", login=login, password=None if pw == "" else pw,
                                env={"OFC_OOMGR_PASSWORD": pw} if pw == "" else None)
            elapsed = time.monotonic() - t0
            if pw == "":
                # No password anywhere and no terminal: a usage error, at once.
                self.assertEqual(r.returncode, 2, r.stderr)
                continue
            self.assertOneLineError(r, "invalid username or password")
            self.assertEqual(r.returncode, 1)
            self.assertEqual(r.stdout, "")
            self.assertGreaterEqual(elapsed, 1.9, "a refused login must take its delay")
        # The password never reaches the log.
        log = open(os.path.join(self.node.home.log_dir, "oomgr.log")).read()
        self.assertIn("login refused for nobody", log)
        self.assertNotIn(PW, log)
        self.assertNotIn("wrong", log)

    def test_argv_password_not_in_log(self):
        r = self.node.oomgr("startup process postman;\nshutdown process postman;\n",
                            login="ADMIN/" + PW, password=None)
        self.assertOk(r)
        log = open(os.path.join(self.node.home.log_dir, "oomgr.log")).read()
        self.assertIn("ADMIN (domain com): startup POSTMAN", log)
        self.assertNotIn(PW, log)

    def test_unknown_domain_and_no_login(self):
        r = self.node.oomgr("whoami\n", login="ADMIN//nowhere.org")
        self.assertOneLineError(r, "unknown domain 'nowhere.org'")
        r = self.node.oomgr("whoami\n", login=None)
        self.assertOneLineError(r, "no login")
        self.assertEqual(r.returncode, 2)

    def test_admin_of_parent_domain_only(self):
        # boss administers acme.com: found there, not in com.
        r = self.node.oomgr("whoami\n", login="boss//acme.com", password="Boss-pw-1")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: boss Node: ESNODE Domain: ACME.COM\n")
        r = self.node.oomgr("whoami\n", login="boss", password="Boss-pw-1")
        self.assertOneLineError(r, "invalid username or password")

    def test_privileges(self):
        before = desired(self.node)
        # A person without any grant: whoami only.
        r = self.node.oomgr("whoami\nstartup all;\n", "--continue", login="jdoe",
                            password="Jdoe-pw-1")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "Login: jdoe Node: ESNODE Domain: COM\n")
        self.assertIn("stdin:2: insufficient privileges", r.stderr)
        r = self.node.oomgr("disp process;\n", login="jdoe", password="Jdoe-pw-1")
        self.assertOneLineError(r, "insufficient privileges", "jdoe does not administer")
        # The administrator of a subdomain sees the processes but cannot control them.
        r = self.node.oomgr("disp process postman;\n", login="boss//acme.com",
                            password="Boss-pw-1")
        self.assertOk(r)
        self.assertIn("Postman", r.stdout)
        for stmt in ("startup all;", "shutdown process postman;", "refresh all;",
                     "register process postman;", "deregister process postman instance=1;",
                     "set param LogLevel=debug process=postman;",
                     "set schedule process=postman instance=1;",
                     "clear schedule process=postman instance=1;"):
            r = self.node.oomgr(stmt + "\n", login="boss//acme.com", password="Boss-pw-1")
            self.assertOneLineError(r, "insufficient privileges", "top domain of ESNODE")
        self.assertEqual(desired(self.node), before)
        self.assertEqual(self.node.value("SELECT count(*) FROM process_parameter"), "0")
        # ADMIN of com connected to acme.com still controls the node.
        r = self.node.oomgr("startup process postman;\nshutdown process postman;\n",
                            login="ADMIN//acme.com")
        self.assertOk(r)

    # The interactive session on a pseudo-terminal: prompts, no echo of the
    # password, continuation lines, ^C, history without passwords.

    def read_until(self, fd, pattern, timeout=15):
        buf = b""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.2)
            if not r:
                continue
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            buf += data
            if pattern.encode() in buf:
                return buf.decode(errors="replace")
        self.fail("no %r from oomgr; got %r" % (pattern, buf))

    def test_interactive_session(self):
        node = self.node
        home = tempfile.mkdtemp(prefix="ofc-oomgr-home-")
        self.addCleanup(shutil.rmtree, home, True)
        pid, fd = pty.fork()
        if pid == 0:  # pragma: no cover (child)
            env = dict(os.environ, HOME=home, TERM="xterm")
            env.pop("OFC_OOMGR_PASSWORD", None)
            env.pop("OFC_OOMGR_USER", None)
            try:
                os.execve(OOMGR, ["oomgr", "-c", node.home.config], env)
            finally:
                os._exit(127)
        try:
            out = self.read_until(fd, "Username: ")
            self.assertIn("ofcmail Server Manager: Release", out)
            os.write(fd, b"admin\n")
            self.read_until(fd, "Password: ")
            os.write(fd, PW.encode() + b"\n")
            out = self.read_until(fd, "Connect string: ")
            self.assertNotIn(PW, out)
            os.write(fd, b"\n")
            self.read_until(fd, "Domain: ")
            os.write(fd, b"\n")
            self.read_until(fd, "IOFCMGR> ")
            os.write(fd, b"whoami\n")
            out = self.read_until(fd, "IOFCMGR> ")
            self.assertIn("Login: ADMIN Node: ESNODE Domain: COM", out)
            os.write(fd, b"disp process\n")
            self.read_until(fd, "...> ")
            os.write(fd, b"postman;\n")
            out = self.read_until(fd, "IOFCMGR> ")
            self.assertIn("Postman            1", out)
            # ^C drops the statement being typed, not the session, even over lines.
            os.write(fd, b"startup proc\x03")
            self.read_until(fd, "IOFCMGR> ")
            os.write(fd, b"startup\n")
            self.read_until(fd, "...> ")
            os.write(fd, b"all\x03")
            self.read_until(fd, "IOFCMGR> ")
            os.write(fd, b"connect admin\n")
            self.read_until(fd, "Password: ")
            os.write(fd, PW.encode() + b"\n")
            out = self.read_until(fd, "IOFCMGR> ")
            self.assertIn("Connected.", out)
            os.write(fd, ("connect ADMIN/%s\n" % PW).encode())
            self.read_until(fd, "IOFCMGR> ")
            os.write(fd, b"bogus;\n")
            out = self.read_until(fd, "IOFCMGR> ")
            self.assertIn("oomgr: unknown statement 'bogus'", out)
            os.write(fd, b"exit\n")
            _, status = os.waitpid(pid, 0)
            pid = 0
            self.assertEqual(os.waitstatus_to_exitcode(status), 0)
        finally:
            if pid:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            os.close(fd)
        # Nothing was started: ^C really dropped "startup proc...".
        self.assertEqual(node.value("SELECT count(*) FROM process"
                                    " WHERE desired_state = 'RUNNING'"), "0")
        hist = os.path.join(home, ".oomgr_history")
        self.assertEqual(os.stat(hist).st_mode & 0o777, 0o600)
        text = open(hist).read()
        self.assertIn("whoami", text)
        self.assertNotIn("connect", text)
        self.assertNotIn(PW, text)


class ProcessTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def setUp(self):
        n = self.node
        n.sql("DELETE FROM process WHERE instance > 1")
        n.sql("UPDATE process SET desired_state = 'STOPPED'")
        n.sql("DELETE FROM process_status")
        n.sql("DELETE FROM guardian_status")

    def guardian_alive(self):
        self.node.sql("INSERT INTO guardian_status (node_id, pid, backend_pid, last_wakeup)"
                      " SELECT id, 4242, 4343, now() FROM node WHERE is_local")

    def test_startup_shutdown_all(self):
        r = self.node.oomgr("startup all;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Started successfully.\n")
        # No Guardian: one warning line, but the change is made.
        self.assertEqual(r.stderr, "stdin:1: warning: the Guardian of ESNODE is not running: "
                                   "the processes start when it runs (ofcguard start)\n")
        self.assertEqual(set(desired(self.node).values()), {"RUNNING"})
        self.guardian_alive()
        r = self.node.oomgr("shutdown all;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Shut down successfully.\n")
        self.assertEqual(r.stderr, "")
        self.assertEqual(set(desired(self.node).values()), {"STOPPED"})

    def test_startup_process_instance(self):
        self.assertOk(self.node.oomgr("register process postman instance=2;\n"))
        r = self.node.oomgr("startup process postman instance=2;\n")
        self.assertOk(r)
        d = desired(self.node)
        self.assertEqual(d["POSTMAN/2"], "RUNNING")
        self.assertEqual(d["POSTMAN/1"], "STOPPED")
        r = self.node.oomgr("STARTUP PROCESS Postman;\n")
        self.assertOk(r)
        d = desired(self.node)
        self.assertEqual(d["POSTMAN/1"], "RUNNING")
        self.assertEqual(d["COLLECTOR/1"], "STOPPED")
        r = self.node.oomgr("shutdown process type=postman instance=1;\n")
        self.assertOk(r)
        self.assertEqual(desired(self.node)["POSTMAN/1"], "STOPPED")
        self.assertEqual(desired(self.node)["POSTMAN/2"], "RUNNING")
        # Unknown types and instances.
        r = self.node.oomgr("startup process postmn;\n")
        self.assertOneLineError(r, "stdin:1: unknown process type 'postmn'")
        r = self.node.oomgr("startup process postman instance=7;\n")
        self.assertOneLineError(r, "POSTMAN instance 7 is not registered on ESNODE")
        r = self.node.oomgr("startup process guardian;\n")
        self.assertOneLineError(r, "GUARDIAN is not a process the Guardian runs")

    def test_wait(self):
        n = self.node
        # Without a Guardian there is nothing to wait for: the change stays, the statement fails.
        r = n.oomgr("startup all wait=5;\n")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "Started successfully.\n")
        self.assertIn("not waiting: the Guardian of ESNODE is not running", r.stderr)
        self.assertEqual(set(desired(n).values()), {"RUNNING"})
        self.guardian_alive()
        n.sql("INSERT INTO process_status (process_id, state, pid, backend_pid)"
              " SELECT id, 'RUNNING', 1000 + id, 2000 + id FROM process")
        r = n.oomgr("startup all wait=5;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Started successfully.\nAll instances are running.\n")
        n.sql("UPDATE process_status SET state = 'THROTTLED'"
              " WHERE process_id = (SELECT id FROM process WHERE type = 'POSTMAN')")
        t0 = time.monotonic()
        r = n.oomgr("startup all wait=1;\n")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertOneLineError(r, "stdin:1: not running after 1 s: Postman 1 (THROTTLED)")
        r = n.oomgr("shutdown process postman wait=2;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Shut down successfully.\nAll instances are stopped.\n")

    def test_refresh_notifies(self):
        self.assertOk(self.node.oomgr("register process postman instance=3;\n"))
        pid3 = self.node.value("SELECT id FROM process WHERE type = 'POSTMAN' AND instance = 3")
        listener = Listener(self.node, "ofc_refresh")
        r = self.node.oomgr("refresh all;\nrefresh process postman;\n"
                            "refresh process postman instance=3;\n"
                            "refresh process guardian;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Refreshed successfully.\n" * 4)
        seen = listener.notifications()
        payloads = [l.split('payload "')[1].split('"')[0] for l in seen]
        self.assertEqual(payloads, ["*", "POSTMAN", pid3, "GUARDIAN"])
        r = self.node.oomgr("refresh process postman instance=9;\n")
        self.assertOneLineError(r, "POSTMAN instance 9 is not registered")

    def test_disp_process(self):
        n = self.node
        self.guardian_alive()
        n.sql("SET TIME ZONE 'UTC'; INSERT INTO process_status"
              " (process_id, state, pid, backend_pid, last_wakeup, restarts, last_exit)"
              " SELECT id, 'RUNNING', 3771, 652, '2026-12-06 14:24:10+00', 2, 'signal 9'"
              " FROM process WHERE type = 'POSTMAN'")
        r = n.oomgr("disp process postman;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout.splitlines(), [
            "Server Name Instance Last Wakeup  Process Id DBSession Id State   Desired Restarts"
            " Last Exit",
            "----------- -------- ------------ ---------- ------------ ------- ------- --------"
            " ---------",
            "Postman            1 06 Dec 14:24       3771          652 RUNNING STOPPED        2"
            " signal 9",
        ])
        # Every registered instance, in registration order of their types.
        r = n.oomgr("disp process;\n")
        self.assertOk(r)
        names = [l.split()[0] for l in r.stdout.splitlines()[2:]]
        registered = n.sql(
            "SELECT t.display_name || COALESCE('.' || upper(d.fqdn), '') FROM process p"
            " JOIN process_type t ON t.name = p.type LEFT JOIN domain d ON d.id = p.domain_id")
        self.assertEqual(sorted(names), sorted(row[0] for row in registered))
        self.assertIn("Postman", names)
        self.assertIn("SMTP_IN.COM", names)
        # Filters, wildcards, CSV; the node's time zone applies.
        n.sql("UPDATE node SET time_zone = 'Europe/Paris'")
        try:
            r = n.oomgr("disp process type=po* format=csv;\n")
        finally:
            n.sql("UPDATE node SET time_zone = 'UTC'")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Server Name,Instance,Last Wakeup,Process Id,DBSession Id,"
                                   "State,Desired,Restarts,Last Exit\n"
                                   "POP3SRV,1,,,,STOPPED,STOPPED,0,\n"
                                   "Postman,1,06 Dec 15:24,3771,652,RUNNING,STOPPED,2,signal 9\n")
        r = n.oomgr("disp process state=running format=csv;\n")
        self.assertEqual(len(r.stdout.splitlines()), 2)
        r = n.oomgr("disp process nosuch*;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "no rows selected\n")
        # A gateway process carries its domain.
        n.sql("UPDATE process SET domain_id = (SELECT id FROM domain WHERE fqdn = 'com')"
              " WHERE type = 'IOLISTENER'")
        r = n.oomgr("disp process iolistener format=csv;\n")
        n.sql("UPDATE process SET domain_id = NULL")
        self.assertIn("IOLISTENER.COM,1,", r.stdout)
        r = n.oomgr("disp guardian format=csv;\n")
        self.assertOk(r)
        self.assertTrue(r.stdout.startswith("Node,State,Process Id,DBSession Id,Host,Started,"
                                            "Last Wakeup\nESNODE,RUNNING,4242,4343,"), r.stdout)

    def test_register_deregister(self):
        n = self.node
        r = n.oomgr("register process type=postman;\nregister process postman;\n"
                    "register process collector instance=7 desired=running "
                    "description=\"night shift\";\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Registered POSTMAN instance 2.\n"
                                   "Registered POSTMAN instance 3.\n"
                                   "Registered COLLECTOR instance 7.\n")
        self.assertEqual(n.sql("SELECT desired_state, description FROM process"
                               " WHERE type = 'COLLECTOR' AND instance = 7"),
                         [["RUNNING", "night shift"]])
        r = n.oomgr("register process postman instance=2;\n")
        self.assertOneLineError(r, "POSTMAN instance 2 is already registered on ESNODE")
        r = n.oomgr("register process guardian;\n")
        self.assertOneLineError(r, "GUARDIAN is not a process the Guardian runs")
        r = n.oomgr("register process postman domain=nowhere.org;\n")
        self.assertOneLineError(r, "unknown domain 'nowhere.org'")
        # Started: refused, and nothing changes.
        r = n.oomgr("deregister process collector instance=7;\n")
        self.assertOneLineError(r, "COLLECTOR instance 7 is started: shut it down first")
        # Stopped by request but still running: refused too.
        n.sql("INSERT INTO process_status (process_id, state, pid)"
              " SELECT id, 'STOPPING', 999 FROM process WHERE type = 'POSTMAN' AND instance = 3")
        r = n.oomgr("deregister process postman instance=3;\n")
        self.assertOneLineError(r, "POSTMAN instance 3 is still STOPPING (pid 999)")
        r = n.oomgr("deregister process postman;\n")
        self.assertOneLineError(r, "deregister process: missing instance=")
        n.sql("UPDATE process_status SET state = 'STOPPED', pid = NULL")
        n.sql("INSERT INTO process_parameter (process_id, type, name, value)"
              " SELECT id, type, 'LogLevel', 'debug' FROM process"
              " WHERE type = 'POSTMAN' AND instance = 3")
        r = n.oomgr("deregister process postman instance=3;\n"
                    "shutdown process collector instance=7;\n"
                    "deregister process collector instance=7;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Deregistered POSTMAN instance 3.\n"
                                   "Shut down successfully.\n"
                                   "Deregistered COLLECTOR instance 7.\n")
        self.assertEqual(n.value("SELECT count(*) FROM process WHERE instance IN (3, 7)"), "0")
        self.assertEqual(n.value("SELECT count(*) FROM process_parameter"), "0")
        log = open(os.path.join(n.home.log_dir, "oomgr.log")).read()
        self.assertIn("ADMIN (domain com): deregister COLLECTOR instance 7", log)


class ParamTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.node.oomgr("register process postman;\nregister process postman;\n")

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def effective(self, instance, name):
        return self.node.sql(
            "SELECT value, tied_to_default FROM process_parameter_effective"
            " WHERE type = 'POSTMAN' AND instance = :'p1'::integer AND name = :'p2'",
            str(instance), name)[0]

    def test_override_default_and_reset(self):
        n = self.node
        r = n.oomgr("set param heartbeatINTERVAL=30 process=postman instance=2;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Parameter HeartbeatInterval of POSTMAN instance 2 set to 30.\n")
        self.assertEqual(self.effective(2, "HeartbeatInterval"), ["30", "f"])
        # A new default reaches the instances still tied to it, not the override.
        r = n.oomgr("set param HeartbeatInterval=20 process=Postman;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Default of HeartbeatInterval for POSTMAN set to 20 "
                                   "(2 instances tied to it).\n")
        self.assertEqual(self.effective(1, "HeartbeatInterval"), ["20", "t"])
        self.assertEqual(self.effective(3, "HeartbeatInterval"), ["20", "t"])
        self.assertEqual(self.effective(2, "HeartbeatInterval"), ["30", "f"])
        r = n.oomgr("disp param process=postman instance=2 name=heart*;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Name              Value Default Tied\n"
                                   "----------------- ----- ------- ----\n"
                                   "HeartbeatInterval 30    20      NO\n"
                                   "HeartbeatTimeout  120   120     YES\n")
        r = n.oomgr("disp param process=postman name=HeartbeatInterval format=csv;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Name,Default,Type,Overrides,Description\n"
                                   "HeartbeatInterval,20,INT 1..3600,2=30,"
                                   "Seconds between heartbeats (last_wakeup)\n")
        r = n.oomgr("reset param heartbeatinterval process=postman instance=2;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Parameter HeartbeatInterval of POSTMAN instance 2 is tied "
                                   "to the default (20).\n")
        self.assertEqual(self.effective(2, "HeartbeatInterval"), ["20", "t"])
        # Several at once; restore the default.
        r = n.oomgr("set param HeartbeatInterval=10 LogLevel=debug process=postman;\n")
        self.assertOk(r)
        self.assertEqual(self.effective(3, "LogLevel"), ["debug", "t"])
        self.assertOk(n.oomgr("set param LogLevel=info process=postman;\n"))

    def test_validation(self):
        n = self.node
        cases = [
            ("set param HeartbeatInterval=abc process=postman instance=1;",
             "stdin:1: invalid value 'abc' for parameter HeartbeatInterval of POSTMAN "
             "(a whole number from 1 to 3600)"),
            ("set param HeartbeatInterval=0 process=postman;",
             "stdin:1: invalid value '0' for parameter HeartbeatInterval of POSTMAN "
             "(a whole number from 1 to 3600)"),
            ("set param RemoteFlag=maybe process=postman;",
             "stdin:1: invalid value 'maybe' for parameter RemoteFlag of POSTMAN "
             "(1/0, true/false, yes/no or on/off)"),
            ("set param LogLevel=loud process=postman instance=1;",
             "stdin:1: invalid value 'loud' for parameter LogLevel of POSTMAN "
             "(error, warn, info, debug or trace)"),
            ("set param NoSuch=1 process=postman;",
             "stdin:1: unknown parameter 'NoSuch' for POSTMAN"),
            ("set param process=postman;", "stdin:1: set param: no NAME=VALUE given"),
            ("set param LogLevel=debug;", "stdin:1: set param: missing process="),
            ("set param LogLevel=debug process=postman instance=9;",
             "stdin:1: POSTMAN instance 9 is not registered on ESNODE"),
            ("reset param LogLevel process=postman;", "stdin:1: reset param: missing instance="),
        ]
        for stmt, err in cases:
            r = n.oomgr(stmt + "\n")
            line = self.assertOneLineError(r)
            self.assertTrue(line.startswith(err), "%s\n got: %s\nwant: %s" % (stmt, line, err))
        # One statement, one transaction: the valid half is not written either,
        # and the error names the line of the bad value.
        r = n.oomgr("set param LogLevel=debug\n  StopGrace=abc process=postman instance=1;\n")
        self.assertOneLineError(r, "stdin:2: invalid value 'abc' for parameter StopGrace")
        self.assertEqual(n.value("SELECT count(*) FROM process_parameter"), "0")
        self.assertEqual(n.value("SELECT default_value FROM process_type_parameter"
                                 " WHERE type = 'POSTMAN' AND name = 'HeartbeatInterval'"), "10")


class ScheduleTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def test_schedules(self):
        n = self.node
        r = n.oomgr("set schedule process=postman instance=1 days=mon-fri start=8:00 end=18:00;\n"
                    "set schedule process=postman instance=1 days=Sat,SUNDAY;\n"
                    "set schedule process=collector instance=1 days=fri-mon start=22:00 "
                    "end=06:30;\n"
                    "set schedule process=monitor instance=1 days=mon,wed,fri end=24:00;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout.splitlines(), [
            "Time slice Mon-Fri 08:00-18:00 added to POSTMAN instance 1.",
            "Time slice Sat,Sun 00:00-00:00 added to POSTMAN instance 1.",
            "Time slice Mon,Fri-Sun 22:00-06:30 added to COLLECTOR instance 1.",
            "Time slice Mon,Wed,Fri 00:00-24:00 added to MONITOR instance 1.",
        ])
        self.assertEqual(n.sql("SELECT p.type, s.days, s.start_time, s.end_time"
                               "  FROM process_schedule s JOIN process p ON p.id = s.process_id"
                               " ORDER BY s.id"),
                         [["POSTMAN", "62", "08:00:00", "18:00:00"],
                          ["POSTMAN", "65", "00:00:00", "00:00:00"],
                          ["COLLECTOR", "99", "22:00:00", "06:30:00"],
                          ["MONITOR", "42", "00:00:00", "24:00:00"]])
        r = n.oomgr("disp schedule process=postman;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout, "Server Name Instance Days    Start End\n"
                                   "----------- -------- ------- ----- -----\n"
                                   "Postman            1 Mon-Fri 08:00 18:00\n"
                                   "Postman            1 Sat,Sun 00:00 00:00\n")
        r = n.oomgr("disp schedule format=csv;\n")
        self.assertIn("Replicator,1,any time,,\n", r.stdout)
        for stmt, err in (
                ("set schedule process=postman instance=1 days=funday;",
                 "days: 'funday' is not a day"),
                ("set schedule process=postman instance=1 start=25:00;",
                 "start must be a time of day HH:MM, not '25:00'"),
                ("set schedule process=postman instance=1 end=8;", "end must be a time of day"),
                ("set schedule process=postman days=all;", "missing instance="),
                ("set schedule process=postman instance=4;", "POSTMAN instance 4 is not registered"),
        ):
            r = n.oomgr(stmt + "\n")
            self.assertOneLineError(r, err)
        r = n.oomgr("clear schedule process=postman instance=1;\n")
        self.assertOk(r)
        self.assertEqual(r.stdout,
                         "Schedule of POSTMAN instance 1 cleared: it may run at any time.\n")
        self.assertEqual(n.value("SELECT count(*) FROM process_schedule s JOIN process p"
                                 " ON p.id = s.process_id WHERE p.type = 'POSTMAN'"), "0")


class LanguageTest(TestCase):
    """The statement language, modes and messages."""

    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        cls.tmp = tempfile.mkdtemp(prefix="ofc-oomgr-")

    @classmethod
    def tearDownClass(cls):
        cls.node.close()
        shutil.rmtree(cls.tmp, True)

    def script(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_syntax_errors(self):
        cases = [
            ("disp process", "stdin:1: statement not terminated by ';' at the end of the input"),
            ("\n\nregister process postman description=\"abc;\n",
             "stdin:3: unterminated quoted string"),
            ('register process postman description="a\\qb";\n', "stdin:1: unknown escape \\q"),
            ("startup all foo=1;\n",
             "stdin:1: unknown keyword 'foo' for startup all (it takes: wait)"),
            ("frobnicate all;\n", "stdin:1: unknown statement 'frobnicate'"),
            ("startup everything;\n",
             "stdin:1: unknown object 'everything' for startup (all, process)"),
            ("startup;\n", "stdin:1: startup of what? (all, process)"),
            ("startup process;\n", "stdin:1: startup process: missing type"),
            ("startup process postman instance=100;\n",
             "stdin:1: instance must be a number from 1 to 99, not '100'"),
            ("startup process postman instance=;\n", "stdin:1: missing value after 'instance='"),
            ("startup process postman instance=1 instance=2;\n", "stdin:1: instance given twice"),
            ("disp process postman extra;\n", "stdin:1: unexpected 'extra' in disp process"),
            ("disp process format=xml;\n", "stdin:1: format must be table/csv, not 'xml'"),
            ("= startup;\n", "stdin:1: a statement begins with a keyword"),
            ("\"startup\" all;\n", "stdin:1: a statement begins with a keyword"),
        ]
        for text, err in cases:
            r = self.node.oomgr(text)
            line = self.assertOneLineError(r)
            self.assertEqual(r.returncode, 1)
            self.assertTrue(line.startswith(err), "%r\n got: %s\nwant: %s" % (text, line, err))

    def test_lexical_details(self):
        n = self.node
        script = ("-- a comment line\n"
                  "REGISTER Process Postman -- the type\n"
                  "   Description = \"say \\\"hi\\\"; \\\\ -- not a comment\";\n"
                  ";;\n"
                  "whoami; whoami\n"
                  "help\n")
        r = n.oomgr(script)
        self.assertOk(r)
        self.assertEqual(n.value("SELECT description FROM process WHERE type = 'POSTMAN'"
                                 " AND instance = 2"), 'say "hi"; \\ -- not a comment')
        lines = r.stdout.splitlines()
        self.assertEqual(lines[:3], ["Registered POSTMAN instance 2.",
                                     "Login: ADMIN Node: ESNODE Domain: COM",
                                     "Login: ADMIN Node: ESNODE Domain: COM"])
        self.assertIn("  startup all [wait=SECONDS];", lines)

    def test_help(self):
        r = self.node.oomgr("help;\n")
        self.assertOk(r)
        for syntax in ("startup all [wait=SECONDS];", "shutdown all [wait=SECONDS];",
                       "disp process [TYPE] [instance=N] [state=STATE] [format=table|csv];",
                       "set param NAME=VALUE [NAME=VALUE ...] process=TYPE [instance=N];",
                       "set schedule process=TYPE instance=N [days=DAYS] [start=HH:MM] "
                       "[end=HH:MM];",
                       "whoami;", "exit | quit"):
            self.assertIn("  " + syntax + "\n", r.stdout)
        r = self.node.oomgr("help set schedule;\n")
        self.assertOk(r)
        self.assertTrue(r.stdout.startswith("set schedule process=TYPE instance=N"))
        self.assertIn("days ", r.stdout)
        self.assertNotIn("set param", r.stdout)
        r = self.node.oomgr("help disp\n")
        self.assertOk(r)
        self.assertIn("disp param process=TYPE", r.stdout)
        r = self.node.oomgr("help frobnicate;\n")
        self.assertOneLineError(r, "no statement 'frobnicate'")

    def test_script_first_error_stops(self):
        n = self.node
        path = self.script("first.ofc",
                           "-- register two, fail, never reach the last\n"
                           "register process collector instance=5;\n"
                           "\n"
                           "startup process\n"
                           "   postmn;\n"
                           "register process collector instance=6;\n")
        r = n.oomgr("", "@" + path)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "Registered COLLECTOR instance 5.\n")
        self.assertEqual(r.stderr, "%s:4: unknown process type 'postmn'\n" % path)
        self.assertEqual(n.value("SELECT count(*) FROM process WHERE type = 'COLLECTOR'"
                                 " AND instance IN (5, 6)"), "1")
        # --continue runs the rest; the status still says something failed.
        path2 = self.script("cont.ofc",
                            "register process collector instance=8;\n"
                            "startup process postmn;\n"
                            "set schedule process=collector instance=8\n"
                            "    days=someday;\n"
                            "register process collector instance=9;\n")
        r = n.oomgr("", "--continue", "-s", path2)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "Registered COLLECTOR instance 8.\n"
                                   "Registered COLLECTOR instance 9.\n")
        self.assertEqual(r.stderr.splitlines(), [
            "%s:2: unknown process type 'postmn'" % path2,
            "%s:4: days: 'someday' is not a day or a range of days (mon-fri, sat,sun, all)"
            % path2])
        # A clean script exits 0; stdin is not read.
        path3 = self.script("ok.ofc", "whoami;\nexit\nbogus;\n")
        r = n.oomgr("bogus;\n", "@" + path3)
        self.assertOk(r)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: COM\n")
        r = n.oomgr("", "@" + os.path.join(self.tmp, "missing.ofc"))
        self.assertOneLineError(r, "cannot open", "missing.ofc")

    def test_stdin_stops_and_continue(self):
        r = self.node.oomgr("whoami;\nbogus;\nwhoami;\n")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: COM\n")
        r = self.node.oomgr("whoami;\nbogus;\nwhoami;\n", "--continue")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "Login: ADMIN Node: ESNODE Domain: COM\n" * 2)
        self.assertEqual(r.stderr,
                         "stdin:2: unknown statement 'bogus' (help; lists the statements)\n")

    def test_usage(self):
        r = ofctest.run([OOMGR, "--help"])
        self.assertOk(r)
        self.assertIn("Usage: oomgr", r.stdout)
        self.assertIn("OFC_OOMGR_PASSWORD", r.stdout)
        r = ofctest.run([OOMGR, "--version"])
        self.assertOk(r)
        self.assertTrue(r.stdout.startswith("oomgr (ofcmail) "))
        r = ofctest.run([OOMGR, "--bogus"])
        self.assertOneLineError(r, "unknown option")
        self.assertEqual(r.returncode, 2)
        r = self.node.oomgr("", "@a.ofc", "@b.ofc")
        self.assertOneLineError(r, "only one script")
        self.assertEqual(r.returncode, 2)


GOLDEN_SCRIPT = """\
-- oomgr golden transcript: a fresh node, no Guardian.
whoami
register process postman;
register process postman instance=4 desired=running;
disp process po*;
disp process postman format=csv;
set param LogLevel=debug process=postman instance=4;
set param StopGrace=20 process=postman;
disp param process=postman instance=4 name=*o*;
set schedule process=postman instance=4 days=mon-fri start=07:30 end=19:00;
disp schedule process=postman;
startup process postmn;
shutdown process postman instance=4;
deregister process postman instance=4;
disp process postman format=csv;
exit
"""

GOLDEN_STDOUT = """\
Login: ADMIN Node: ESNODE Domain: COM
Registered POSTMAN instance 2.
Registered POSTMAN instance 4.
Server Name Instance Last Wakeup Process Id DBSession Id State   Desired Restarts Last Exit
----------- -------- ----------- ---------- ------------ ------- ------- -------- ---------
POP3SRV            1                                     STOPPED STOPPED        0
Postman            1                                     STOPPED STOPPED        0
Postman            2                                     STOPPED STOPPED        0
Postman            4                                     STOPPED RUNNING        0
Server Name,Instance,Last Wakeup,Process Id,DBSession Id,State,Desired,Restarts,Last Exit
Postman,1,,,,STOPPED,STOPPED,0,
Postman,2,,,,STOPPED,STOPPED,0,
Postman,4,,,,STOPPED,RUNNING,0,
Parameter LogLevel of POSTMAN instance 4 set to debug.
Default of StopGrace for POSTMAN set to 20 (3 instances tied to it).
Name             Value Default Tied
---------------- ----- ------- ----
CrashLoopCount   5     5       YES
CrashLoopWindow  60    60      YES
HeartbeatTimeout 120   120     YES
LogLevel         debug info    NO
PollInterval     30    30      YES
RemoteFlag       1     1       YES
StopGrace        20    20      YES
ThrottleCooldown 300   300     YES
Time slice Mon-Fri 07:30-19:00 added to POSTMAN instance 4.
Server Name Instance Days     Start End
----------- -------- -------- ----- -----
Postman            1 any time
Postman            2 any time
Postman            4 Mon-Fri  07:30 19:00
Shut down successfully.
Deregistered POSTMAN instance 4.
Server Name,Instance,Last Wakeup,Process Id,DBSession Id,State,Desired,Restarts,Last Exit
Postman,1,,,,STOPPED,STOPPED,0,
Postman,2,,,,STOPPED,STOPPED,0,
"""

GOLDEN_STDERR = """\
golden.ofc:12: unknown process type 'postmn'
golden.ofc:13: warning: the Guardian of ESNODE is not running: nothing is stopped until it runs
"""


class GoldenTranscriptTest(TestCase):
    def test_golden(self):
        with Node() as node:
            tmp = tempfile.mkdtemp(prefix="ofc-oomgr-")
            self.addCleanup(shutil.rmtree, tmp, True)
            with open(os.path.join(tmp, "golden.ofc"), "w") as f:
                f.write(GOLDEN_SCRIPT)
            # Run from the script's directory: messages name it as given.
            r = subprocess.run(
                [OOMGR, "-c", node.home.config, "--continue", "ADMIN", "@golden.ofc"],
                cwd=tmp, env=dict(os.environ, OFC_OOMGR_PASSWORD=PW), text=True,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                timeout=60)
            self.maxDiff = None
            self.assertEqual(r.stdout, GOLDEN_STDOUT)
            self.assertEqual(r.stderr, GOLDEN_STDERR)
            self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    unittest.main()
