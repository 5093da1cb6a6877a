"""The Scalable Protocol Server runtime (protocol/sps.h) through ofctestsps,
a tiny line protocol built on it, with a fake iolistener written here: a
SOCK_SEQPACKET socket at <home>/var/<sid>/sps/iolistener.sock that takes
HELLO and LOAD and hands over socketpair or TCP sockets with SCM_RIGHTS.

One node and one ofctestsps (instance 1) for most tests; the stop test runs
an instance of its own. A demo account alice@com logs in.
"""
import base64
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import unittest

from ofctest import ADMIN_PASSWORD, BIN_DIR, Node, TestCase, pgcluster, wait_until

SPS = os.path.join(BIN_DIR, "ofctestsps")
ALICE_PW = "Al1ce-test-pw"
DB_CONNECTIONS = 2


def demote(uid, gid):
    def fn():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
    return fn


def register_sps_type(node):
    """Process type TESTSPS (ofctestsps) with POP3SRV's parameters, quick
    heartbeats, and limits relaxed so that tests need not wait long."""
    node.sql("""
        INSERT INTO process_type (name, executable, args, log_base, log_numbered, managed,
                                  display_name)
        VALUES ('TESTSPS', 'ofctestsps', '', 'testsps', true, true, 'TESTSPS');
        INSERT INTO process_type_parameter (type, name, value_type, default_value, min_value,
                                            max_value, description)
        SELECT 'TESTSPS', name, value_type, default_value, NULL, max_value, description
          FROM process_type_parameter WHERE type = 'POP3SRV';
        INSERT INTO process_type_parameter (type, name, value_type, default_value)
        VALUES ('TESTSPS', 'MaxLiteralLength', 'INT', '1048576');
        UPDATE process_type_parameter SET default_value = v.value
          FROM (VALUES ('HeartbeatInterval', '1'), ('PollInterval', '1'),
                       ('DbConnections', '%d'), ('WorkerThreads', '4'),
                       ('MaxLineLength', '1024'), ('AuthFailureDelay', '1'),
                       ('MaxClients', '1000')) AS v(name, value)
         WHERE type = 'TESTSPS' AND process_type_parameter.name = v.name;
        INSERT INTO process (node_id, type, instance)
        SELECT id, 'TESTSPS', i FROM node, generate_series(1, 2) AS i WHERE is_local;
    """ % DB_CONNECTIONS)


def make_cert(home):
    """A self-signed certificate for protocol "pop3" (STARTTLS, implicit TLS)."""
    tls = os.path.join(home.dir, "etc", "tls")
    os.makedirs(tls, exist_ok=True)
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", os.path.join(tls, "pop3.key"),
                        "-out", os.path.join(tls, "pop3.crt"), "-days", "2",
                        "-subj", "/CN=localhost"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert r.returncode == 0, r.stderr
    os.chmod(os.path.join(tls, "pop3.key"), 0o600)
    if os.geteuid() == 0:
        for f in ("", "pop3.key", "pop3.crt"):
            os.chown(os.path.join(tls, f), home.uid, home.gid)


class FakeListener:
    """The iolistener's side of sps_handoff.h, enough for the tests."""

    def __init__(self, path, uid, gid):
        self.path = path
        d = os.path.dirname(path)
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
        if os.geteuid() == 0:
            os.chown(d, uid, gid)
        if os.path.exists(path):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.listen(8)
        self.conn = None
        self.hello = None
        self.loads = []
        self.lock = threading.Lock()
        self.reader = None

    def accept(self, timeout=20):
        self.sock.settimeout(timeout)
        conn, _ = self.sock.accept()
        conn.settimeout(10)
        self.hello = conn.recv(600).decode()
        conn.send(b"OK")
        self.conn = conn
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self.hello

    def _read(self):
        conn = self.conn
        conn.settimeout(None)
        while True:
            try:
                data = conn.recv(600)
            except OSError:
                return
            if not data:
                return
            with self.lock:
                self.loads.append(data.decode())

    def last_load(self):
        with self.lock:
            return self.loads[-1] if self.loads else None

    def hand(self, sock, tls=False, peer=("127.0.0.1", 40000)):
        text = "CLIENT %d 110 %s %d" % (1 if tls else 0, peer[0], peer[1])
        socket.send_fds(self.conn, [text.encode()], [sock.fileno()])

    def close(self):
        for s in (self.conn, self.sock):
            if s is not None:
                try:
                    s.close()
                except OSError:
                    pass
        self.conn = None
        if os.path.exists(self.path):
            os.unlink(self.path)


class Client:
    """A client whose other end was handed to the server."""

    def __init__(self, listener, tls_context=None, implicit=False, tcp=False):
        if tcp or implicit or tls_context is not None:
            srv = socket.socket()
            srv.bind(("127.0.0.1", 0))
            srv.listen(1)
            self.sock = socket.create_connection(srv.getsockname())
            theirs, _ = srv.accept()
            srv.close()
        else:
            self.sock, theirs = socket.socketpair()
        self.sock.settimeout(15)
        listener.hand(theirs, tls=implicit)
        theirs.close()
        self.ctx = tls_context
        if implicit:
            self.sock = tls_context.wrap_socket(self.sock)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode(errors="replace")

    def cmd(self, text):
        self.send(text + "\r\n")
        return self.line()

    def starttls(self):
        self.sock = self.ctx.wrap_socket(self.sock)

    def at_eof(self, timeout=10):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, ssl.SSLError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def client_tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Server:
    def __init__(self, node, instance=1):
        h = node.home
        self.log = os.path.join(h.dir, "ofctestsps%d.stderr" % instance)
        self.err = open(self.log, "wb")
        self.proc = subprocess.Popen([SPS, "-c", h.config, "-f", "instance=%d" % instance],
                                     stdout=self.err, stderr=self.err,
                                     preexec_fn=demote(h.uid, h.gid))

    def output(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=timeout)
        if not self.err.closed:
            self.err.close()
        return rc

    def check_clean(self, test):
        out = self.output()
        if "Sanitizer" in out or "runtime error" in out:
            raise AssertionError("ofctestsps:\n" + out[-6000:])


class SpsTest(TestCase):
    node = None

    @classmethod
    def setUpClass(cls):
        cls.node = Node(demo_user=("alice", ALICE_PW))
        n = cls.node
        h = n.home
        register_sps_type(n)
        make_cert(h)
        cls.sock_path = os.path.join(h.dir, "var", h.sid, "sps", "iolistener.sock")
        cls.listener = FakeListener(cls.sock_path, h.uid, h.gid)
        cls.server = Server(n)
        cls.hello = cls.listener.accept()
        cls.pid = n.value("SELECT id FROM process WHERE type = 'TESTSPS' AND instance = 1")

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.server.stop()
            cls.listener.close()
            cls.server.check_clean(None)
            assert rc == 0, "ofctestsps exit %d:\n%s" % (rc, cls.server.output()[-4000:])
        finally:
            cls.node.close()

    def client(self, **kw):
        c = Client(self.listener, **kw)
        self.assertTrue(c.line().startswith("+OK ofctestsps c"))
        return c

    def set_param(self, name, value, instance=1):
        pid = self.node.value("SELECT id FROM process WHERE type = 'TESTSPS' AND instance = :'p1'",
                              str(instance))
        self.node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                      " VALUES (:'p1', 'TESTSPS', :'p2', :'p3')"
                      " ON CONFLICT (process_id, name) DO UPDATE SET value = EXCLUDED.value",
                      pid, name, value)
        self.node.sql("SELECT pg_notify('ofc_refresh', :'p1')", pid)

    def clear_param(self, name):
        self.node.sql("DELETE FROM process_parameter WHERE process_id = :'p1' AND name = :'p2'",
                      self.pid, name)
        self.node.sql("SELECT pg_notify('ofc_refresh', :'p1')", self.pid)

    # ---- the handoff -------------------------------------------------------

    def test_hello_and_load(self):
        words = self.hello.split(" ")
        self.assertEqual(words[:4], ["HELLO", "pop3", self.pid, "1"])
        self.assertEqual(words[4], str(self.server.proc.pid))
        wait_until(lambda: self.listener.last_load() is not None, 10, what="a LOAD")
        cs = [self.client() for _ in range(3)]
        try:
            wait_until(lambda: self.listener.last_load() == "LOAD 3 1000"
                       or int(self.listener.last_load().split()[1]) >= 3, 10,
                       what="LOAD with 3 clients")
        finally:
            for c in cs:
                c.close()
        wait_until(lambda: self.listener.last_load() == "LOAD 0 1000", 10,
                   what="LOAD back to 0")

    def test_sps_status(self):
        cs = [self.client() for _ in range(2)]
        try:
            cs[0].cmd("TLS")
            wait_until(lambda: self.node.sql(
                "SELECT clients, pool_size FROM sps_status WHERE process_id = :'p1'"
                " AND updated_at > now() - interval '3 seconds'", self.pid)
                == [["2", str(DB_CONNECTIONS)]], 15, what="sps_status with 2 clients")
        finally:
            for c in cs:
                c.close()

    # ---- lines ---------------------------------------------------------------

    def test_greeting_and_echo(self):
        c = self.client()
        self.assertEqual(c.cmd("ECHO hello world"), "hello world")
        self.assertEqual(c.cmd("NOPE"), "-ERR unknown command")
        self.assertEqual(c.cmd("QUIT"), "+OK bye")
        self.assertTrue(c.at_eof())

    def test_bare_lf_and_pipelining(self):
        c = self.client()
        c.send("ECHO a\nECHO b\r\nECHO c\n")
        self.assertEqual([c.line(), c.line(), c.line()], ["a", "b", "c"])
        c.close()

    def test_long_lines(self):
        c = self.client()
        ok = "x" * (1024 - 5)
        self.assertEqual(c.cmd("ECHO " + ok), ok)
        self.assertEqual(c.cmd("ECHO " + "y" * 2000), "-ERR line too long")
        self.assertEqual(c.cmd("ECHO after"), "after")
        # A long line in pieces: one answer, the rest up to its end ignored.
        c.send("ECHO " + "z" * 1500)
        self.assertEqual(c.line(), "-ERR line too long")
        c.send("z" * 3000)
        c.send("zzz\r\nECHO still here\r\n")
        self.assertEqual(c.line(), "still here")
        c.close()

    def test_literal(self):
        c = self.client()
        c.send("LITERAL 5\r\nhel")
        time.sleep(0.1)
        c.send("loECHO z\r\n")
        self.assertEqual(c.line(), "+OK literal 5 hello")
        self.assertEqual(c.line(), "z")
        c.close()

    # ---- jobs ------------------------------------------------------------------

    def test_db_job_and_order(self):
        c = self.client()
        r = c.cmd("DB")
        self.assertTrue(r.startswith("+OK 1 "), r)
        c.send("SLEEP 300\r\nECHO after\r\nDB\r\n")
        self.assertEqual(c.line(), "+OK slept 300")
        self.assertEqual(c.line(), "after")
        self.assertTrue(c.line().startswith("+OK 1 "))
        c.close()

    def test_two_jobs_from_one_command(self):
        c = self.client()
        c.send("TWO\r\nECHO then\r\n")
        self.assertEqual([c.line(), c.line(), c.line()], ["+OK first 42", "+OK second 42", "then"])
        c.close()

    def test_jobs_wait_for_a_connection(self):
        """DbConnections busy: the next job waits; others go on meanwhile."""
        sleepers = [self.client() for _ in range(DB_CONNECTIONS)]
        waiter, free = self.client(), self.client()
        for s in sleepers:
            s.send("SLEEP 800\r\n")
        time.sleep(0.2)
        t0 = time.monotonic()
        waiter.send("DB\r\n")
        self.assertEqual(free.cmd("ECHO not blocked"), "not blocked")
        self.assertTrue(waiter.line().startswith("+OK 1 "))
        self.assertGreater(time.monotonic() - t0, 0.3)
        for s in sleepers:
            self.assertEqual(s.line(), "+OK slept 800")
        for s in sleepers + [waiter, free]:
            s.close()

    def test_client_closes_during_job(self):
        c = self.client()
        c.send("SLEEP 300\r\n")
        c.close()
        time.sleep(0.5)
        d = self.client()
        self.assertTrue(d.cmd("DB").startswith("+OK 1 "))
        d.close()
        self.assertIsNone(self.server.proc.poll())

    def test_slow_reader_does_not_block_others(self):
        slow = self.client()
        slow.send("BIG 20000000\r\n")
        time.sleep(0.3)
        other = self.client()
        self.assertEqual(other.cmd("ECHO fine"), "fine")
        other.close()
        got = 0
        slow.sock.settimeout(30)
        while got < 20000000:
            data = slow.sock.recv(1 << 20)
            self.assertTrue(data)
            got += len(data)
        slow.close()

    def test_streamed_job_output(self):
        """sps_job_flush: a job's answer leaves in pieces, in order, while a
        slow reader holds the job back (not the others); a reader that hangs
        up ends the job early and returns its connection."""
        lines = 1500000  # 18 MB
        slow = self.client()
        slow.send("STREAM %d\r\n" % lines)
        time.sleep(0.5)
        # The job is blocked on the slow reader; others are served.
        other = self.client()
        self.assertEqual(other.cmd("ECHO fine"), "fine")
        self.assertTrue(other.cmd("DB").startswith("+OK 1 "))
        slow.sock.settimeout(30)
        buf = b""
        want = b"".join(b"%010d\r\n" % i for i in range(lines)) + b"+OK streamed\r\n"
        while len(buf) < len(want):
            data = slow.sock.recv(1 << 20)
            self.assertTrue(data, "connection closed after %d octets" % len(buf))
            buf += data
        self.assertEqual(buf, want)
        slow.close()
        # A reader that goes away: the job stops and gives its connection back.
        gone = self.client()
        gone.send("STREAM %d\r\n" % lines)
        gone.sock.recv(1 << 16)
        gone.close()
        wait_until(lambda: "stream: client gone after" in self.server.output(), 15,
                   what="the stream job ending early")
        for _ in range(DB_CONNECTIONS + 1):
            self.assertTrue(other.cmd("DB").startswith("+OK 1 "))
        other.close()

    def test_many_clients_few_connections(self):
        cs = []
        try:
            for _ in range(200):
                cs.append(self.client())
            for c in cs:
                c.send("DB\r\n")
            for c in cs:
                self.assertTrue(c.line().startswith("+OK 1 "))
            n = int(self.node.value("SELECT count(*) FROM pg_stat_activity"
                                    " WHERE application_name = 'ofctestsps/1'"))
            self.assertLessEqual(n, DB_CONNECTIONS + 2)
            for c in cs:
                self.assertEqual(c.cmd("ECHO x"), "x")
        finally:
            for c in cs:
                c.close()

    # ---- authentication --------------------------------------------------------

    def test_auth(self):
        c = self.client()
        r = c.cmd("AUTH alice@com " + ALICE_PW)
        self.assertRegex(r, r"^\+OK \d+ alice@com$")
        self.assertEqual(c.cmd("AUTH ALICE " + ALICE_PW), r)  # bare name: default domain
        t0 = time.monotonic()
        self.assertEqual(c.cmd("AUTH alice@com wrong"), "-ERR authentication failed")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)  # AuthFailureDelay
        t0 = time.monotonic()
        self.assertEqual(c.cmd("AUTH nobody@com " + ALICE_PW), "-ERR authentication failed")
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)
        self.assertEqual(c.cmd("AUTH alice@nowhere " + ALICE_PW), "-ERR authentication failed")
        plain = lambda s: "PLAIN " + base64.b64encode(s.encode()).decode()
        self.assertEqual(c.cmd(plain("\0alice@com\0" + ALICE_PW)), r)
        self.assertEqual(c.cmd(plain("alice\0alice\0" + ALICE_PW)), r)
        self.assertEqual(c.cmd(plain("bob\0alice\0" + ALICE_PW)), "-ERR no proxy authorisation")
        self.assertEqual(c.cmd(plain("alice\0" + ALICE_PW)), "-ERR malformed")
        self.assertEqual(c.cmd(plain("\0alice\0")), "-ERR malformed")
        self.assertEqual(c.cmd(plain("\0alice\0pw\0x")), "-ERR malformed")
        self.assertEqual(c.cmd(plain("\0alice\0wrong")), "-ERR authentication failed")
        c.close()

    def test_auth_cache_invalidated_by_password_change(self):
        n = self.node
        old = n.value("SELECT password_hash FROM account a JOIN dir_object o ON o.id = a.object_id"
                      " WHERE o.name_key = 'alice'")
        c = self.client()
        try:
            for _ in range(2):  # the second one is a cache hit
                self.assertTrue(c.cmd("AUTH alice@com " + ALICE_PW).startswith("+OK"))
            n.sql("UPDATE account SET password_hash = (SELECT a.password_hash FROM account a"
                  " JOIN dir_object o ON o.id = a.object_id WHERE o.name = 'ADMIN')"
                  " WHERE object_id = (SELECT id FROM dir_object WHERE name_key = 'alice')")
            self.assertEqual(c.cmd("AUTH alice@com " + ALICE_PW), "-ERR authentication failed")
            self.assertTrue(c.cmd("AUTH alice@com " + ADMIN_PASSWORD).startswith("+OK"))
        finally:
            n.sql("UPDATE account SET password_hash = :'p1'"
                  " WHERE object_id = (SELECT id FROM dir_object WHERE name_key = 'alice')", old)
            c.close()

    # ---- timeouts --------------------------------------------------------------

    def test_idle_timeout(self):
        c = self.client()
        self.assertEqual(c.cmd("IDLE 1"), "+OK idle")
        t0 = time.monotonic()
        self.assertEqual(c.line(), "-ERR idle timeout")
        self.assertTrue(c.at_eof())
        self.assertLess(time.monotonic() - t0, 5)

    def refreshes(self):
        return self.server.output().count("parameters refreshed")

    def test_idle_timeout_parameter_refresh(self):
        n = self.refreshes()
        self.set_param("IdleTimeout", "1")
        try:
            wait_until(lambda: self.refreshes() > n, 10, what="the refresh")
            c = self.client()
            self.assertEqual(c.line(), "-ERR idle timeout")
            self.assertTrue(c.at_eof())
        finally:
            n = self.refreshes()
            self.clear_param("IdleTimeout")
            wait_until(lambda: self.refreshes() > n, 10, what="the second refresh")

    # ---- TLS ---------------------------------------------------------------------

    def test_starttls(self):
        c = self.client(tls_context=client_tls_context())
        self.assertEqual(c.cmd("TLS"), "+OK tls=0")
        # Plaintext sent after STARTTLS is discarded, not run inside TLS.
        c.send("STARTTLS\r\nECHO injected\r\n")
        self.assertEqual(c.line(), "+OK begin TLS")
        c.starttls()
        self.assertEqual(c.cmd("TLS"), "+OK tls=1")
        self.assertEqual(c.cmd("ECHO secret"), "secret")
        self.assertEqual(c.cmd("STARTTLS"), "-ERR no TLS")
        self.assertEqual(c.cmd("QUIT"), "+OK bye")
        c.close()

    def test_implicit_tls(self):
        c = Client(self.listener, tls_context=client_tls_context(), implicit=True)
        self.assertTrue(c.line().startswith("+OK ofctestsps c"))
        self.assertEqual(c.cmd("TLS"), "+OK tls=1")
        self.assertEqual(c.cmd("ECHO over tls"), "over tls")
        self.assertTrue(c.cmd("DB").startswith("+OK 1 "))
        c.close()

    def test_tls_handshake_failure(self):
        c = Client(self.listener, tcp=True, implicit=False)
        c.line()
        c.send("STARTTLS\r\n")
        self.assertEqual(c.line(), "+OK begin TLS")
        c.send("this is not a TLS client hello\r\n" * 4)
        self.assertTrue(c.at_eof())
        d = self.client()
        self.assertEqual(d.cmd("ECHO alive"), "alive")
        d.close()

    # ---- notifications -------------------------------------------------------

    def test_watch_mailbox(self):
        c = self.client()
        self.assertEqual(c.cmd("WATCH 4242"), "+OK watching")
        d = self.client()
        self.assertEqual(d.cmd("WATCH 4243"), "+OK watching")
        self.node.sql("SELECT pg_notify('ofc_mailbox', '4242')")
        self.assertEqual(c.line(), "* CHANGED 4242")
        self.assertEqual(d.cmd("ECHO nothing for me"), "nothing for me")
        c.close()
        d.close()

    def test_zy_database_sessions_ended(self):
        """The server ends every session of the instance: the pool, the
        watch connection and ofc_proc's own come back by themselves."""
        c = self.client()
        self.assertEqual(c.cmd("WATCH 777"), "+OK watching")
        self.assertTrue(c.cmd("DB").startswith("+OK 1 "))
        old = [r[0] for r in self.node.sql("SELECT pid FROM pg_stat_activity"
                                           " WHERE application_name = 'ofctestsps/1'")]
        self.assertEqual(len(old), DB_CONNECTIONS + 2)
        self.node.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                      " WHERE application_name = 'ofctestsps/1'")
        wait_until(lambda: self.node.value(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:'p1'::int[])",
            "{%s}" % ",".join(old)) == "0", 10, what="the sessions ended")
        # After its reconnect the watch calls every watcher once (changes
        # may have been lost), at any point between the replies.
        changed = 0
        for _ in range(DB_CONNECTIONS + 1):
            c.send("DB\r\n")
            r = c.line()
            while r == "* CHANGED 777":
                changed += 1
                r = c.line()
            self.assertTrue(r.startswith("+OK 1 "), r)
        if not changed:
            self.assertEqual(c.line(), "* CHANGED 777")

        def notified():
            self.node.sql("SELECT pg_notify('ofc_mailbox', '777')")
            c.sock.settimeout(0.5)
            try:
                return c.line() == "* CHANGED 777"
            except socket.timeout:
                return False
        wait_until(notified, 20, what="notifications after the reconnect")
        c.sock.settimeout(15)
        c.close()

    # ---- the listener goes away ------------------------------------------------

    def test_zz_listener_restart(self):
        old = self.client()
        self.listener.close()
        time.sleep(0.3)
        self.assertEqual(old.cmd("ECHO still served"), "still served")
        h = self.node.home
        type(self).listener = FakeListener(self.sock_path, h.uid, h.gid)
        hello = self.listener.accept(timeout=10)
        self.assertTrue(hello.startswith("HELLO pop3 %s 1 " % self.pid))
        c = self.client()
        self.assertEqual(c.cmd("ECHO new listener"), "new listener")
        self.assertEqual(old.cmd("ECHO old client"), "old client")
        c.close()
        old.close()


class SpsStopTest(TestCase):
    """An instance started before iolistener finds it later; on SIGTERM every
    client gets the farewell, then the process exits 0."""

    def test_stop_farewell(self):
        with Node() as n:
            register_sps_type(n)
            h = n.home
            path = os.path.join(h.dir, "var", h.sid, "sps", "iolistener.sock")
            # The listener comes after the instance: it keeps trying.
            srv = Server(n, instance=2)
            lsn = None
            try:
                wait_until(lambda: "iolistener not reachable" in srv.output(), 20,
                           what="the instance looking for iolistener")
                lsn = FakeListener(path, h.uid, h.gid)
                lsn.accept()
                idle = Client(lsn)
                busy = Client(lsn)
                for c in (idle, busy):
                    self.assertTrue(c.line().startswith("+OK"))
                busy.send("SLEEP 500\r\n")
                time.sleep(0.1)
                t0 = time.monotonic()
                srv.proc.send_signal(signal.SIGTERM)
                self.assertEqual(idle.line(), "-ERR server shutting down")
                self.assertTrue(idle.at_eof())
                self.assertEqual(busy.line(), "-ERR server shutting down")
                self.assertTrue(busy.at_eof())
                self.assertEqual(srv.proc.wait(timeout=20), 0)
                self.assertLess(time.monotonic() - t0, 10)
                srv.check_clean(self)
                self.assertEqual(n.sql("SELECT state FROM process_status s JOIN process p"
                                       " ON p.id = s.process_id WHERE p.type = 'TESTSPS'"
                                       " AND p.instance = 2"), [["STOPPED"]])
            finally:
                srv.stop()
                if lsn is not None:
                    lsn.close()


@unittest.skipUnless(os.path.exists(os.path.join(BIN_DIR, "iolistener")), "no iolistener built")
class SpsWithIolistenerTest(TestCase):
    """The real iolistener in front: plain and implicit-TLS ports, and a
    client that stays when the listener stops."""

    def test_end_to_end(self):
        with Node(demo_user=("alice", ALICE_PW)) as n:
            register_sps_type(n)
            h = n.home
            make_cert(h)
            ports = [pgcluster.free_port() for _ in range(4)]
            h.write_config(n.conninfo, "ports {\n pop3 = %d\n pop3s = %d\n imap = %d\n"
                           " imaps = %d\n}\n" % tuple(ports))
            n.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                  " SELECT id, type, 'ListenAddress', '127.0.0.1' FROM process"
                  " WHERE type = 'IOLISTENER' AND instance = 1")
            err = open(os.path.join(h.dir, "iolistener.stderr"), "wb")
            lsnr = subprocess.Popen([os.path.join(BIN_DIR, "iolistener"), "-c", h.config, "-f"],
                                    stdout=err, stderr=err, preexec_fn=demote(h.uid, h.gid))
            srv = Server(n)
            try:
                wait_until(lambda: "registered with iolistener" in srv.output(), 20,
                           what="the instance registered")
                s = socket.create_connection(("127.0.0.1", ports[0]), timeout=10)
                f = s.makefile("rb")
                self.assertTrue(f.readline().startswith(b"+OK ofctestsps c"))
                s.sendall(("AUTH alice %s\r\n" % ALICE_PW).encode())
                self.assertRegex(f.readline(), rb"^\+OK \d+ alice@com\r\n$")
                t = client_tls_context().wrap_socket(
                    socket.create_connection(("127.0.0.1", ports[1]), timeout=10))
                tf = t.makefile("rb")
                self.assertTrue(tf.readline().startswith(b"+OK ofctestsps c"))
                t.sendall(b"TLS\r\n")
                self.assertEqual(tf.readline(), b"+OK tls=1\r\n")
                lsnr.send_signal(signal.SIGTERM)
                self.assertEqual(lsnr.wait(timeout=20), 0)
                for sock, fl in ((s, f), (t, tf)):
                    sock.sendall(b"ECHO still here\r\n")
                    self.assertEqual(fl.readline(), b"still here\r\n")
                s.close()
                t.close()
            finally:
                if lsnr.poll() is None:
                    lsnr.kill()
                    lsnr.wait()
                err.close()
                rc = srv.stop()
                srv.check_clean(self)
                self.assertEqual(rc, 0)


if __name__ == "__main__":
    unittest.main()
