"""pop3srv behind iolistener, started by the Guardian, with real clients:
Python's poplib (plain, STLS, POP3S), curl (pop3://, pop3s://), openssl
s_client -starttls pop3, and a raw socket where exact octets matter.

One node for the module: free ports in ports { pop3 pop3s imap imaps }, a
self-signed certificate in tls { }, two POP3SRV instances (1 and 2), the
listener and the Postman, which delivers every test message. Each test
uses accounts of its own, so that locks and deletions do not meet.
"""
import os
import poplib
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unittest

from ofctest import Guardian, Node, TestCase, pgcluster, wait_until

PASSWORD = "Pop3-test-pw"
AUTH_DELAY = 1

MSG = (b"From: Sender <sender@example.org>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
       b"Message-ID: <{subject}@test>\r\n\r\n"
       b"first line\r\n.leading dot\r\n..two dots\r\n.\r\nlast \xe9\r\n")


def message(rcpt, subject, body=None):
    m = MSG.replace(b"{rcpt}", rcpt.encode()).replace(b"{subject}", subject.encode())
    if body is not None:
        m = m.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body
    return m


def stuffed(raw):
    """The multi-line form of raw: dot-stuffed, CRLF-terminated, with '.'."""
    out = raw.replace(b"\r\n.", b"\r\n..")
    if out.startswith(b"."):
        out = b"." + out
    if not out.endswith(b"\r\n"):
        out += b"\r\n"
    return out + b".\r\n"


class Raw:
    """A POP3 connection on a plain socket: exact octets in both ways."""

    def __init__(self, port, context=None):
        s = socket.create_connection(("127.0.0.1", port), timeout=15)
        if context is not None:
            s = context.wrap_socket(s, server_hostname="127.0.0.1")
        self.sock = s
        self.f = s.makefile("rb")
        self.greeting = self.line()

    def line(self):
        return self.f.readline()

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.line()

    def multi(self):
        """The rest of a multi-line answer, as sent (stuffed, with the final '.')."""
        out = b""
        while True:
            line = self.line()
            if not line:
                raise AssertionError("connection closed inside a multi-line answer")
            out += line
            if line == b".\r\n":
                return out

    def login(self, user, password=PASSWORD):
        r = self.cmd("USER " + user)
        assert r.startswith(b"+OK"), r
        return self.cmd("PASS " + password)

    def close(self):
        # The file object holds the descriptor too: both go, or nothing closes.
        for o in (self.f, self.sock):
            try:
                o.close()
            except OSError:
                pass


class Pop3Test(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = n = Node()
        h = n.home
        tls_dir = os.path.join(h.dir, "tls")
        os.makedirs(tls_dir)
        cls.cert = os.path.join(tls_dir, "cert.pem")
        key = os.path.join(tls_dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cls.cert],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pgcluster.chown_tree(tls_dir, h.uid, h.gid)
        os.chmod(key, 0o600)
        ports = [pgcluster.free_port() for _ in range(4)]
        while len(set(ports)) < 4:
            ports = [pgcluster.free_port() for _ in range(4)]
        cls.port, cls.sport = ports[0], ports[1]
        with open(h.config, "a") as f:
            f.write("ports {\n    pop3 = %d\n    pop3s = %d\n    imap = %d\n    imaps = %d\n}\n"
                    % tuple(ports))
            f.write('tls {\n    certificate = "%s"\n    key = "%s"\n}\n' % (cls.cert, key))

        names = ["capa", "cmds", "top", "uidl", "rset", "dele", "drop", "inuse", "bad", "fail",
                 "plain", "stls", "pop3s", "curl", "ossl", "noplain", "gone", "big", "kill", "idle",
                 "stop"]
        script = "".join("insert person %s password=%s;\n" % (u, PASSWORD) for u in names)
        r = n.oomgr(script)
        if r.returncode != 0:
            raise AssertionError("oomgr failed:\n%s%s" % (r.stdout, r.stderr))
        # Two instances; quick failure delay, quick heartbeats for the restart test.
        n.sql("INSERT INTO process (node_id, type, instance)"
              " SELECT id, 'POP3SRV', 2 FROM node WHERE is_local")
        n.sql("INSERT INTO process_parameter (process_id, type, name, value)"
              " SELECT p.id, 'POP3SRV', v.name, v.value FROM process p"
              " CROSS JOIN (VALUES ('AuthFailureDelay', :'p1'), ('HeartbeatInterval', '1'),"
              "                    ('IdleTimeout', '10'))"
              "   AS v(name, value)"
              " WHERE p.type = 'POP3SRV'", str(AUTH_DELAY))
        cls.guardian = Guardian(n)
        r = cls.guardian.start()
        if r.returncode != 0:
            raise AssertionError("ofcguard start failed:\n%s%s" % (r.stdout, r.stderr))
        r = n.oomgr("startup process postman;\nstartup process iolistener;\n"
                    "startup process pop3srv wait=30;\n")
        if r.returncode != 0:
            raise AssertionError("startup failed:\n%s%s\n%s" % (r.stdout, r.stderr,
                                                                cls.guardian.log()))
        # Both instances registered with the listener: two clients at once
        # get a greeting (the listener refuses with -ERR when none can take one).
        def serving():
            try:
                a, b = Raw(cls.port), Raw(cls.port)
            except OSError:
                return False
            ok = a.greeting.startswith(b"+OK") and b.greeting.startswith(b"+OK")
            a.close()
            b.close()
            return ok
        wait_until(serving, 30, interval=0.2, what="pop3srv serving through iolistener")
        wait_until(lambda: n.value("SELECT count(*) FROM sps_status s JOIN process p"
                                   " ON p.id = s.process_id WHERE p.type = 'POP3SRV'") == "2",
                   30, what="two POP3SRV instances reporting")

    @classmethod
    def tearDownClass(cls):
        cls.guardian._cleanup()
        problems = []
        for name in os.listdir(cls.node.home.log_dir):
            with open(os.path.join(cls.node.home.log_dir, name), errors="replace") as f:
                text = f.read()
            if "Sanitizer" in text or "runtime error" in text:
                problems.append(name + ":\n" + text[-4000:])
            if PASSWORD in text:
                problems.append(name + ": holds a password")
        cls.node.close()
        if problems:
            raise AssertionError("\n".join(problems))

    # ---- helpers ----------------------------------------------------------

    def deliver(self, user, subject, raw=None):
        """Delivers through the Postman; returns the stored octets."""
        n = self.node
        if raw is None:
            raw = message(user + "@com", subject)
        before = int(n.value("SELECT count(*) FROM mailbox_pointer p JOIN mailbox b"
                             " ON b.id = p.mailbox_id JOIN dir_object o ON o.id = b.account_id"
                             " WHERE o.name = :'p1' AND b.name = 'INBOX'", user))
        # The octets inline (hex digits only): a large message does not fit in argv.
        n.sql("WITH m AS (INSERT INTO message (size, raw)"
              "  SELECT octet_length(b), b FROM (SELECT decode('%s', 'hex') AS b) s"
              "  RETURNING id)"
              " INSERT INTO submission (message_id, sender, recipients)"
              " SELECT id, 'sender@example.org', ARRAY[:'p1'] FROM m" % raw.hex(),
              user + "@com")
        wait_until(lambda: int(n.value(
            "SELECT count(*) FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
            " JOIN dir_object o ON o.id = b.account_id"
            " WHERE o.name = :'p1' AND b.name = 'INBOX'", user)) > before, 20,
            what="delivery to " + user)
        return self.stored(user)[-1][2]

    def stored(self, user):
        """[(uid, message_id, raw)] of the INBOX of user, in UID order."""
        rows = self.node.sql(
            "SELECT p.uid, p.message_id, encode(m.raw, 'hex') FROM mailbox_pointer p"
            " JOIN mailbox b ON b.id = p.mailbox_id JOIN dir_object o ON o.id = b.account_id"
            " JOIN message m ON m.id = p.message_id"
            " WHERE o.name = :'p1' AND b.name = 'INBOX' ORDER BY p.uid", user)
        return [(int(r[0]), int(r[1]), bytes.fromhex(r[2])) for r in rows]

    def uidvalidity(self, user):
        return self.node.value("SELECT b.uidvalidity FROM mailbox b JOIN dir_object o"
                               " ON o.id = b.account_id WHERE o.name = :'p1'"
                               " AND b.name = 'INBOX'", user)

    def pop(self, user=None):
        c = poplib.POP3("127.0.0.1", self.port, timeout=15)
        if user is not None:
            c.user(user)
            c.pass_(PASSWORD)
        return c

    def context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def locks(self, user):
        return self.node.value("SELECT count(*) FROM pop3_lock l JOIN dir_object o"
                               " ON o.id = l.account_id WHERE o.name = :'p1'", user)

    def log(self, instance=None):
        text = ""
        for i in (1, 2) if instance is None else (instance,):
            path = os.path.join(self.node.home.log_dir, "%s_pop3%02d.log" % (self.node.node, i))
            try:
                with open(path, errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text

    # ---- tests ------------------------------------------------------------

    def test_capa_and_greeting(self):
        c = self.pop()
        self.assertTrue(c.getwelcome().startswith(b"+OK"))
        caps = c.capa()
        for cap in ("TOP", "USER", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "STLS"):
            self.assertIn(cap, caps)
        self.assertEqual(caps["SASL"], ["PLAIN"])
        self.assertEqual(caps["IMPLEMENTATION"], ["ofcmail"])
        c.user("capa")
        c.pass_(PASSWORD)
        caps = c.capa()
        self.assertNotIn("USER", caps)
        self.assertNotIn("STLS", caps)
        self.assertIn("UIDL", caps)
        c.quit()

    def test_commands(self):
        raws = [self.deliver("cmds", "m%d" % i) for i in range(3)]
        c = self.pop("cmds")
        total = sum(len(r) for r in raws)
        self.assertEqual(c.stat(), (3, total))
        resp, lines, _ = c.list()
        self.assertTrue(resp.startswith(b"+OK"))
        self.assertEqual(lines, [b"%d %d" % (i + 1, len(r)) for i, r in enumerate(raws)])
        self.assertEqual(c.list(2), b"+OK 2 %d" % len(raws[1]))
        resp, lines, octets = c.retr(1)
        self.assertEqual(b"\r\n".join(lines) + b"\r\n", raws[0])
        self.assertEqual(c.noop(), b"+OK")
        self.assertTrue(c.dele(3).startswith(b"+OK"))
        self.assertEqual(c.stat(), (2, total - len(raws[2])))
        for bad in (lambda: c.retr(3), lambda: c.list(3), lambda: c.dele(3), lambda: c.retr(4),
                    lambda: c.retr(0)):
            self.assertRaises(poplib.error_proto, bad)
        self.assertEqual(c.list()[1], [b"1 %d" % len(raws[0]), b"2 %d" % len(raws[1])])
        c.rset()
        self.assertEqual(c.stat(), (3, total))
        self.assertTrue(c.quit().startswith(b"+OK"))
        self.assertEqual(len(self.stored("cmds")), 3)
        self.assertEqual(self.locks("cmds"), "0")
        log = self.log()
        self.assertIn("login cmds@com (user cmds) from 127.0.0.1:", log)
        self.assertIn("cmds@com quit: 1 messages retrieved, 0 deleted", log)

    def test_retr_exact_octets(self):
        raw = self.deliver("cmds", "exact")
        n = len(self.stored("cmds"))
        r = Raw(self.port)
        r.login("cmds@com")
        self.assertEqual(r.cmd("RETR %d" % n), b"+OK %d octets\r\n" % len(raw))
        self.assertEqual(r.multi(), stuffed(raw))
        r.cmd("QUIT")
        r.close()
        # PIPELINING: a whole session in one write, the answers in order.
        r = Raw(self.port)
        r.send(("USER cmds\r\nPASS %s\r\nRETR %d\r\nSTAT\r\nTOP %d 0\r\nNOOP\r\nQUIT\r\n"
                % (PASSWORD, n, n)).encode())
        self.assertTrue(r.line().startswith(b"+OK"))
        self.assertTrue(r.line().startswith(b"+OK maildrop has %d messages" % n))
        self.assertEqual(r.line(), b"+OK %d octets\r\n" % len(raw))
        self.assertEqual(r.multi(), stuffed(raw))
        self.assertTrue(r.line().startswith(b"+OK %d " % n))
        self.assertTrue(r.line().startswith(b"+OK"))
        self.assertEqual(r.multi(), stuffed(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"))
        self.assertEqual(r.line(), b"+OK\r\n")
        self.assertTrue(r.line().startswith(b"+OK"))
        self.assertEqual(r.line(), b"")
        r.close()

    def test_top(self):
        raw = self.deliver("top", "t", raw=message("top@com", "t",
                                                   b"one\r\n.two\r\nthree\r\nfour\r\n"))
        header = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        r = Raw(self.port)
        r.login("top")
        self.assertTrue(r.cmd("TOP 1 0").startswith(b"+OK"))
        self.assertEqual(r.multi(), stuffed(header))
        self.assertTrue(r.cmd("TOP 1 2").startswith(b"+OK"))
        self.assertEqual(r.multi(), stuffed(header + b"one\r\n.two\r\n"))
        self.assertTrue(r.cmd("TOP 1 100").startswith(b"+OK"))
        self.assertEqual(r.multi(), stuffed(raw))
        self.assertTrue(r.cmd("TOP 1").startswith(b"-ERR"))
        self.assertTrue(r.cmd("TOP 1 x").startswith(b"-ERR"))
        self.assertTrue(r.cmd("TOP 9 1").startswith(b"-ERR"))
        r.cmd("QUIT")
        r.close()

    def test_uidl_stable(self):
        for i in range(3):
            self.deliver("uidl", "u%d" % i)
        v = self.uidvalidity("uidl")
        want = [b"%d %s.%d" % (i + 1, v.encode(), uid)
                for i, (uid, _, _) in enumerate(self.stored("uidl"))]
        c = self.pop("uidl")
        self.assertEqual(c.uidl()[1], want)
        self.assertEqual(c.uidl(2), b"+OK " + want[1])
        c.dele(1)
        c.quit()
        c = self.pop("uidl")
        # The others keep their ids; the numbers move up.
        self.assertEqual([l.split()[1] for l in c.uidl()[1]], [w.split()[1] for w in want[1:]])
        c.quit()

    def test_rset_restores_deletes(self):
        for i in range(2):
            self.deliver("rset", "r%d" % i)
        c = self.pop("rset")
        c.dele(1)
        c.dele(2)
        self.assertEqual(c.stat()[0], 0)
        self.assertTrue(c.rset().startswith(b"+OK maildrop has 2 messages"))
        self.assertEqual(c.stat()[0], 2)
        c.quit()
        self.assertEqual(len(self.stored("rset")), 2)

    def test_dele_quit_removes_for_good(self):
        for i in range(3):
            self.deliver("dele", "d%d" % i)
        before = self.stored("dele")
        mbox, modseq = self.node.sql("SELECT b.id, b.highestmodseq FROM mailbox b"
                                     " JOIN dir_object o ON o.id = b.account_id"
                                     " WHERE o.name = 'dele' AND b.name = 'INBOX'")[0]
        c = self.pop("dele")
        c.dele(1)
        c.dele(3)
        self.assertIn(b"2 messages deleted", c.quit())
        after = self.stored("dele")
        self.assertEqual([a[0] for a in after], [before[1][0]])
        rows = self.node.sql("SELECT uid, modseq FROM mailbox_expunged WHERE mailbox_id = :'p1'"
                             " ORDER BY uid", mbox)
        self.assertEqual(rows, [[str(before[0][0]), str(int(modseq) + 1)],
                                [str(before[2][0]), str(int(modseq) + 1)]])
        self.assertEqual(self.node.value("SELECT highestmodseq FROM mailbox WHERE id = :'p1'",
                                         mbox), str(int(modseq) + 1))
        for uid, mid, _ in (before[0], before[2]):
            # Refcount 0 and queued for the Collector (or already collected).
            self.assertIn(self.node.value("SELECT coalesce((SELECT refcount FROM message"
                                          " WHERE id = :'p1'), 0)", mid), ("0",))
        self.assertEqual(self.node.value("SELECT messages FROM mailbox WHERE id = :'p1'", mbox),
                         "1")
        self.assertEqual(self.locks("dele"), "0")
        self.assertIn("dele@com quit: 0 messages retrieved, 2 deleted", self.log())

    def test_dropped_connection_removes_nothing(self):
        for i in range(2):
            self.deliver("drop", "x%d" % i)
        r = Raw(self.port)
        self.assertTrue(r.login("drop").startswith(b"+OK"))
        self.assertEqual(self.locks("drop"), "1")
        r.cmd("DELE 1")
        r.close()
        try:
            wait_until(lambda: self.locks("drop") == "0", 10, what="the lock released")
        except AssertionError:
            raise AssertionError("lock not released; logs:\n" + self.log()[-3000:])
        self.assertEqual(len(self.stored("drop")), 2)
        # And a new session gets the maildrop at once.
        c = self.pop("drop")
        self.assertEqual(c.stat()[0], 2)
        c.quit()

    def test_in_use(self):
        self.deliver("inuse", "i")
        a = self.pop("inuse")
        b = self.pop()
        b.user("inuse")
        with self.assertRaises(poplib.error_proto) as cm:
            b.pass_(PASSWORD)
        self.assertTrue(str(cm.exception).startswith("b'-ERR [IN-USE]"), cm.exception)
        a.quit()
        b.user("inuse")
        self.assertTrue(b.pass_(PASSWORD).startswith(b"+OK"))
        b.quit()

    def test_bad_commands_and_long_line(self):
        r = Raw(self.port)
        self.assertEqual(r.cmd("FOO"), b"-ERR unknown command\r\n")
        self.assertEqual(r.cmd(""), b"-ERR unknown command\r\n")
        self.assertTrue(r.cmd("STAT").startswith(b"-ERR"))
        self.assertTrue(r.cmd("PASS x").startswith(b"-ERR"))
        self.assertTrue(r.cmd("CAPA extra").startswith(b"-ERR"))
        r.send(b"USER " + b"x" * 20000 + b"\r\n")
        self.assertEqual(r.line(), b"-ERR line too long\r\n")
        # Pipelined: answers in order, the session goes on.
        r.send(b"NOOP\r\nCAPA\r\n")
        self.assertTrue(r.line().startswith(b"-ERR"))
        self.assertTrue(r.line().startswith(b"+OK"))
        self.assertTrue(r.multi().endswith(b"IMPLEMENTATION ofcmail\r\n.\r\n"))
        self.assertTrue(r.login("bad").startswith(b"+OK"))
        self.assertEqual(r.cmd("RETR x"), b"-ERR invalid message number\r\n")
        self.assertEqual(r.cmd("RETR 1"), b"-ERR no such message\r\n")
        self.assertTrue(r.cmd("USER bad").startswith(b"-ERR"))
        self.assertTrue(r.cmd("QUIT").startswith(b"+OK"))
        self.assertEqual(r.line(), b"")
        r.close()

    def test_auth_failures_look_alike(self):
        answers = []
        for user, pw in (("fail", "wrong"), ("nosuchuser", "wrong"), ("fail@com", "")):
            r = Raw(self.port)
            r.cmd("USER " + user)
            t0 = time.monotonic()
            answers.append(r.cmd("PASS " + pw))
            self.assertGreaterEqual(time.monotonic() - t0, AUTH_DELAY * 0.9)
            # Still in AUTHORIZATION: the right password works.
            self.assertTrue(r.login("fail").startswith(b"+OK"))
            r.cmd("QUIT")
            r.close()
        self.assertEqual(answers, [b"-ERR [AUTH] invalid user name or password\r\n"] * 3)
        self.assertIn("login failed for user nosuchuser from 127.0.0.1:", self.log())

    def test_auth_plain(self):
        import base64
        tok = base64.b64encode(b"\0plain\0" + PASSWORD.encode()).decode()
        r = Raw(self.port)
        self.assertTrue(r.cmd("AUTH PLAIN " + tok).startswith(b"+OK"))
        r.cmd("QUIT")
        r.close()
        r = Raw(self.port)
        self.assertEqual(r.cmd("AUTH PLAIN"), b"+ \r\n")
        self.assertEqual(r.cmd("*"), b"-ERR authentication cancelled\r\n")
        self.assertEqual(r.cmd("AUTH PLAIN"), b"+ \r\n")
        self.assertTrue(r.cmd("not base64!").startswith(b"-ERR"))
        self.assertTrue(r.cmd("AUTH PLAIN =").startswith(b"-ERR"))
        self.assertTrue(r.cmd("AUTH CRAM-MD5").startswith(b"-ERR"))
        bad = base64.b64encode(b"\0plain\0wrong").decode()
        self.assertEqual(r.cmd("AUTH PLAIN " + bad),
                         b"-ERR [AUTH] invalid user name or password\r\n")
        self.assertEqual(r.cmd("AUTH PLAIN"), b"+ \r\n")
        full = base64.b64encode(b"plain@com\0plain@com\0" + PASSWORD.encode()).decode()
        self.assertTrue(r.cmd(full).startswith(b"+OK"))
        r.cmd("QUIT")
        r.close()
        r = Raw(self.port)
        self.assertEqual(r.cmd("AUTH"), b"+OK\r\n")
        self.assertEqual(r.multi(), b"PLAIN\r\n.\r\n")
        r.close()

    def test_stls(self):
        raw = self.deliver("stls", "s")
        c = self.pop()
        self.assertTrue(c.stls(context=self.context()).startswith(b"+OK"))
        self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
        self.assertNotIn("STLS", c.capa())
        c.user("stls")
        c.pass_(PASSWORD)
        self.assertEqual(b"\r\n".join(c.retr(1)[1]) + b"\r\n", raw)
        c.quit()
        self.assertIn("login stls@com (user stls) from 127.0.0.1:", self.log())

    def test_stls_discards_injected_plaintext(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"STLS\r\nUSER injected\r\n")
        self.assertTrue(f.readline().startswith(b"+OK"))
        t = self.context().wrap_socket(s, server_hostname="127.0.0.1")
        t.sendall(b"PASS " + PASSWORD.encode() + b"\r\n")
        self.assertEqual(t.makefile("rb").readline(), b"-ERR send USER first\r\n")
        t.close()

    def test_pop3s(self):
        raw = self.deliver("pop3s", "s")
        c = poplib.POP3_SSL("127.0.0.1", self.sport, context=self.context(), timeout=15)
        self.assertTrue(c.getwelcome().startswith(b"+OK"))
        caps = c.capa()
        self.assertNotIn("STLS", caps)
        self.assertIn("USER", caps)
        c.user("pop3s")
        c.pass_(PASSWORD)
        self.assertEqual(b"\r\n".join(c.retr(1)[1]) + b"\r\n", raw)
        c.quit()

    def test_curl(self):
        raw = self.deliver("curl", "c")
        for url in ("pop3://127.0.0.1:%d/1" % self.port, "pop3s://127.0.0.1:%d/1" % self.sport):
            r = subprocess.run(["curl", "-s", "-S", "-k", "--max-time", "20", "-u",
                                "curl:" + PASSWORD, url], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, raw, url)
        r = subprocess.run(["curl", "-s", "-S", "-k", "--max-time", "20", "--ssl-reqd", "-u",
                            "curl:" + PASSWORD, "pop3://127.0.0.1:%d/" % self.port],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, b"1 %d\r\n" % len(raw))

    def test_openssl_starttls(self):
        self.deliver("ossl", "o")
        script = "USER ossl\r\nPASS %s\r\nSTAT\r\nQUIT\r\n" % PASSWORD
        r = subprocess.run(["openssl", "s_client", "-starttls", "pop3", "-connect",
                            "127.0.0.1:%d" % self.port, "-CAfile", self.cert, "-quiet",
                            "-verify_return_error"],
                           input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        out = r.stdout.decode(errors="replace")
        self.assertIn("+OK maildrop has 1 messages", out, r.stderr)
        self.assertIn("+OK 1 ", out)
        self.assertIn("signing off", out)

    def test_cert_store_then_refresh(self):
        """ofcsetup cert generate + store --protocol=pop3: after `refresh`,
        STLS and POP3S present the stored certificate (its own file wins
        over the node-wide tls.certificate)."""
        n = self.node
        d = tempfile.mkdtemp(prefix="pop3-cert-", dir=n.home.dir)  # removed with the node
        key, crt = os.path.join(d, "new.key"), os.path.join(d, "new.crt")
        r = n.ofcsetup("cert", "generate", "--cn=127.0.0.1", "--org=ofcmail test",
                       "--out-key=" + key, "--out-cert=" + crt)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = n.ofcsetup("cert", "store", "--protocol=pop3", "--key=" + key, "--cert=" + crt)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("refresh process POP3SRV", r.stdout)
        r = n.oomgr("refresh process POP3SRV;")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(crt, "rb") as f:
            want = ssl.PEM_cert_to_DER_cert(f.read().decode())

        def presented(starttls):
            args = ["openssl", "s_client", "-connect", "127.0.0.1:%d"
                    % (self.port if starttls else self.sport), "-CAfile", crt,
                    "-verify_return_error", "-showcerts"]
            if starttls:
                args[2:2] = ["-starttls", "pop3"]
            p = subprocess.run(args, input=b"QUIT\r\n", stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=30)
            out = p.stdout.decode(errors="replace")
            if "-----BEGIN CERTIFICATE-----" not in out:
                return None
            pem = out[out.index("-----BEGIN CERTIFICATE-----"):
                      out.index("-----END CERTIFICATE-----") + 25]
            return ssl.PEM_cert_to_DER_cert(pem) if p.returncode == 0 else None

        # Both instances reload; each new connection may reach either.
        wait_until(lambda: all(presented(True) == want for _ in range(4)), 20, interval=0.3,
                   what="the stored certificate on STLS")
        self.assertTrue(all(presented(False) == want for _ in range(4)))
        # The other TLS tests verify against whatever the servers present.
        type(self).cert = crt

    def test_plaintext_auth_off(self):
        n = self.node
        n.sql("INSERT INTO process_parameter (process_id, type, name, value)"
              " SELECT id, 'POP3SRV', 'PlaintextAuth', '0' FROM process WHERE type = 'POP3SRV'")
        try:
            n.sql("SELECT pg_notify('ofc_refresh', 'POP3SRV')")

            def hidden():
                # Both instances: two clients at once go to different ones.
                cs = [self.pop(), self.pop()]
                caps = [c.capa() for c in cs]
                for c in cs:
                    c.quit()
                return all("USER" not in cp and "SASL" not in cp for cp in caps)
            wait_until(hidden, 20, interval=0.2, what="PlaintextAuth=0 applied")
            r = Raw(self.port)
            self.assertTrue(r.cmd("USER noplain").startswith(b"-ERR [AUTH]"))
            self.assertTrue(r.cmd("PASS " + PASSWORD).startswith(b"-ERR [AUTH]"))
            self.assertTrue(r.cmd("AUTH PLAIN AHgAeA==").startswith(b"-ERR [AUTH]"))
            r.close()
            c = self.pop()
            c.stls(context=self.context())
            caps = c.capa()
            self.assertIn("USER", caps)
            self.assertIn("SASL", caps)
            c.user("noplain")
            self.assertTrue(c.pass_(PASSWORD).startswith(b"+OK"))
            c.quit()
        finally:
            n.sql("DELETE FROM process_parameter WHERE type = 'POP3SRV' AND name = 'PlaintextAuth'")
            n.sql("SELECT pg_notify('ofc_refresh', 'POP3SRV')")

        def shown():
            cs = [self.pop(), self.pop()]
            caps = [c.capa() for c in cs]
            for c in cs:
                c.quit()
            return all("USER" in cp for cp in caps)
        wait_until(shown, 20, interval=0.2, what="PlaintextAuth=1 applied")

    def test_message_expunged_meanwhile(self):
        self.deliver("gone", "g1")
        self.deliver("gone", "g2")
        (uid1, mid1, _), _ = self.stored("gone")
        c = self.pop("gone")
        # Another session (IMAP) expunges message 1 and the Collector takes it.
        self.node.sql("DELETE FROM mailbox_pointer WHERE message_id = :'p1'", mid1)
        self.node.sql("DELETE FROM collector WHERE message_id = :'p1';"
                      " DELETE FROM message WHERE id = :'p1'", mid1)
        with self.assertRaises(poplib.error_proto) as cm:
            c.retr(1)
        self.assertEqual(str(cm.exception), "b'-ERR no such message'")
        self.assertTrue(c.retr(2)[0].startswith(b"+OK"))
        c.dele(1)
        self.assertIn(b"1 messages deleted", c.quit())
        self.assertEqual(len(self.stored("gone")), 1)

    def test_large_message(self):
        # Lines of every length around the 256 KiB chunk edges, dots at line starts.
        lines = []
        size = 0
        i = 0
        while size < 700 * 1024:
            line = (b"." if i % 3 == 0 else b"") + b"y" * (i % 997) + b"\r\n"
            lines.append(line)
            size += len(line)
            i += 1
        body = b"".join(lines)
        raw = self.deliver("big", "big", raw=message("big@com", "big", body))
        r = Raw(self.port)
        r.login("big")
        self.assertEqual(r.cmd("RETR 1"), b"+OK %d octets\r\n" % len(raw))
        self.assertEqual(r.multi(), stuffed(raw))
        self.assertTrue(r.cmd("TOP 1 3").startswith(b"+OK"))
        header = raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
        self.assertEqual(r.multi(), stuffed(header + b"".join(lines[:3])))
        r.cmd("QUIT")
        r.close()

    def test_zx_idle_timeout(self):
        self.deliver("idle", "i")
        r = Raw(self.port)
        self.assertTrue(r.login("idle").startswith(b"+OK"))
        self.assertTrue(r.cmd("DELE 1").startswith(b"+OK"))
        t0 = time.monotonic()
        r.sock.settimeout(30)
        # RFC 1939 section 3: closed without a response, nothing removed.
        self.assertEqual(r.line(), b"")
        self.assertGreaterEqual(time.monotonic() - t0, 9)
        r.close()
        wait_until(lambda: self.locks("idle") == "0", 10, what="the lock released")
        self.assertEqual(len(self.stored("idle")), 1)
        self.assertIn("idle@com idle for too long", self.log())

    def test_zy_shutdown_farewell(self):
        n = self.node
        r = Raw(self.port)
        self.assertTrue(r.login("stop").startswith(b"+OK"))
        instance = n.value("SELECT p.instance FROM pop3_lock l JOIN process p"
                           " ON p.id = l.process_id JOIN dir_object o ON o.id = l.account_id"
                           " WHERE o.name = 'stop'")
        res = n.oomgr("shutdown process pop3srv instance=%s wait=30;\n" % instance)
        self.assertOk(res)
        self.assertEqual(r.line(), b"-ERR [SYS/TEMP] server shutting down\r\n")
        self.assertEqual(r.line(), b"")
        r.close()
        self.assertEqual(self.locks("stop"), "0")
        # The other instance serves meanwhile.
        c = self.pop("stop")
        c.quit()
        res = n.oomgr("startup process pop3srv instance=%s wait=30;\n" % instance)
        self.assertOk(res)

    def test_zz_kill_one_instance(self):
        n = self.node
        self.deliver("kill", "k")
        r = Raw(self.port)
        self.assertTrue(r.login("kill").startswith(b"+OK"))
        holder = n.value("SELECT l.process_id FROM pop3_lock l JOIN dir_object o"
                         " ON o.id = l.account_id WHERE o.name = 'kill'")
        pid = int(n.value("SELECT pid FROM process_status WHERE process_id = :'p1'", holder))
        os.kill(pid, signal.SIGKILL)
        try:
            self.assertEqual(r.line(), b"")
        except ConnectionResetError:
            pass
        r.close()

        # New clients go to the other instance; the stale lock is taken over
        # as soon as the killed instance's database session is gone.
        def login():
            c = self.pop()
            c.user("kill")
            try:
                c.pass_(PASSWORD)
            except poplib.error_proto as e:
                self.assertIn("[IN-USE]", str(e))
                c.quit()
                return None
            return c
        c = wait_until(login, 10, interval=0.2, what="login after the kill")
        self.assertEqual(c.stat()[0], 1)
        c.quit()
        # Taken over, unless the restarted instance was quicker and cleared it.
        log = self.log()
        self.assertTrue("took over the stale maildrop lock of kill@com" in log
                        or "cleared 1 maildrop locks left by an earlier run" in log, log[-3000:])
        for _ in range(3):
            c = self.pop()
            self.assertEqual(c.capa()["IMPLEMENTATION"], ["ofcmail"])
            c.quit()
        # The Guardian restarts the dead one, which serves again.
        wait_until(lambda: n.value("SELECT pid FROM process_status WHERE process_id = :'p1'"
                                   " AND state = 'RUNNING'", holder) not in (None, str(pid)),
                   30, interval=0.2, what="the killed instance restarted")
        wait_until(lambda: n.value("SELECT count(*) FROM pop3_lock WHERE process_id = :'p1'",
                                   holder) == "0", 10, what="no lock of the killed instance")

        def both_serve():
            cs = [self.pop(), self.pop()]
            for c in cs:
                c.quit()
            st = n.sql("SELECT s.clients FROM sps_status s JOIN process p ON p.id = s.process_id"
                       " WHERE p.type = 'POP3SRV' AND s.updated_at > now() - interval '5 s'")
            return len(st) == 2
        wait_until(both_serve, 30, interval=0.5, what="both instances serving again")
        self.assertIn("restart", self.guardian.log().lower())


if __name__ == "__main__":
    unittest.main()
