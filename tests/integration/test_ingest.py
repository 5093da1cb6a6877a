"""Mail entering a node: ofcuto (sendmail's mailer) into gateway_in, the
inbound gateway (ofcgwind, SMTP_IN) from gateway_in to the store and the
submission queue, and the LMTP listener (ofclmtpd).

One node for the whole module; accounts user1 and user2 in domain com, a
list `team` (known to ofcuto: the Postman expands it). ofcuto runs as the
node's run user, as sendmail's Mofcmail definition with U= makes it run.
"""
import os
import signal
import subprocess
import time
import unittest

from ofctest import BIN_DIR, Node, TestCase, pgcluster, wait_until

OFCUTO = os.path.join(BIN_DIR, "ofcuto")
GWIND = os.path.join(BIN_DIR, "ofcgwind")

MSG = (b"From: Sender <sender@example.org>\r\nTo: user1@com\r\nSubject: hello\r\n"
       b"Date: Tue, 25 Nov 2025 20:37:23 +0000\r\n\r\nfirst test message \xe9\xff\r\n.dot\r\n")


def demote(uid, gid):
    def fn():
        if os.geteuid() == 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
    return fn


def add_account(node, name):
    oid = node.value("INSERT INTO dir_object (domain_id, class, name)"
                     " SELECT id, 'PERSON', :'p1' FROM domain WHERE fqdn = 'com' RETURNING id",
                     name)
    node.sql("INSERT INTO account (object_id, object_class, home_node_id)"
             " SELECT :'p1'::bigint, 'PERSON', id FROM node WHERE is_local", oid)
    return oid


class Base(TestCase):
    node = None

    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        for name in ("user1", "user2"):
            add_account(cls.node, name)
        cls.node.sql("INSERT INTO dir_object (domain_id, class, name)"
                     " SELECT id, 'DL', 'team' FROM domain WHERE fqdn = 'com'")

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def setUp(self):
        self.node.sql("DELETE FROM gateway_in; DELETE FROM submission; DELETE FROM dead;"
                      " DELETE FROM rewrite_rule;"
                      " UPDATE gateway_setting SET value = '52428800' WHERE name = 'MaxMessageSize'")

    def ofcuto(self, args, data=MSG, config=True):
        h = self.node.home
        argv = [OFCUTO] + (["-c", h.config] if config else []) + list(args)
        return subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              preexec_fn=demote(h.uid, h.gid), timeout=60)

    def queued(self):
        return self.node.sql("SELECT id, source, sender, recipients::text, encode(raw, 'hex')"
                             " FROM gateway_in ORDER BY id")

    def run_gateway(self, until, timeout=30):
        """ofcgwind in the foreground until `until()` is true, then SIGTERM."""
        h = self.node.home
        p = subprocess.Popen([GWIND, "-c", h.config, "-f"], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, preexec_fn=demote(h.uid, h.gid))
        try:
            wait_until(until, timeout, what="the gateway")
        finally:
            p.send_signal(signal.SIGTERM)
            out = p.communicate(timeout=30)[0]
        self.assertEqual(p.returncode, 0, out.decode(errors="replace"))
        return out.decode(errors="replace")


class OfcutoTest(Base):
    def test_modern_form_stores_exact_bytes(self):
        r = self.ofcuto(["-f", "sender@example.org", "user1", "User2.ofcmail@com"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = self.queued()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][1:4], ["OFCUTO", "sender@example.org", "{user1,User2@com}"])
        self.assertEqual(bytes.fromhex(rows[0][4]), MSG)
        with open(os.path.join(self.node.home.log_dir, "ofcuto.log")) as f:
            log = f.read()
        self.assertIn("stored gateway_in %s" % rows[0][0], log)

    def test_guide_argument_vector(self):
        # A= ofcuto - $ORACLE_HOME $ORACLE_SID -f config_file - $g $a $b $f $x ( $u ), F=r adds -r.
        h = self.node.home
        lf = MSG.replace(b"\r\n", b"\n")
        args = ["-r", "root@host.example", "-", h.dir, h.sid, "-f", "unx.cfg", "-",
                "root@host.example", "Tue, 25 Nov 2025 20:37:23 +0000",
                "Tue, 25 Nov 2025 20:37:24 +0000", "root", "Charlie Root", "(", "user1.ofcmail",
                "team", ")"]
        r = self.ofcuto(args, data=lf, config=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = self.queued()
        self.assertEqual(rows[0][2:4], ["root@host.example", "{user1,team}"])
        self.assertEqual(bytes.fromhex(rows[0][4]), lf)
        # The glued variant of the guide's Mlocal line: -$ORACLE_HOME, -fconfig, -$g.
        r = self.ofcuto(["-" + h.dir, h.sid, "-funx.cfg", "-<>", "d1", "d2", "f", "", "(",
                         "user2", ")"], config=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.queued()[1][2:4], ["", "{user2}"])

    def test_unknown_user_67(self):
        r = self.ofcuto(["-f", "a@example.org", "nobody", "ghost@com"])
        self.assertEqual(r.returncode, 67, r.stderr)
        self.assertIn(b"user unknown: nobody, ghost@com", r.stderr)
        self.assertEqual(self.queued(), [])
        # Some known: stored for all; the Postman bounces the unknown one.
        r = self.ofcuto(["-f", "a@example.org", "nobody", "user1", "x@elsewhere.org"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.queued()[0][3], "{nobody,user1,x@elsewhere.org}")

    def test_malformed_65(self):
        for data in (b"", b"no header here\r\n\r\nbody\r\n", b"Subject: a\x00b\r\n\r\nx"):
            r = self.ofcuto(["-f", "a@example.org", "user1"], data=data)
            self.assertEqual(r.returncode, 65, (data, r.stderr))
        r = self.ofcuto(["-f", "a@@b", "user1"])
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertEqual(self.queued(), [])

    def test_usage_64(self):
        self.assertEqual(self.ofcuto(["-f", "a@example.org"]).returncode, 64)
        self.assertEqual(self.ofcuto(["-x", "user1"]).returncode, 64)

    def test_too_large_73(self):
        self.node.sql("UPDATE gateway_setting SET value = '100' WHERE name = 'MaxMessageSize'")
        r = self.ofcuto(["-f", "a@example.org", "user1"], data=MSG + b"x" * 200)
        self.assertEqual(r.returncode, 73, r.stderr)
        self.assertIn(b"too large", r.stderr)
        self.assertEqual(self.queued(), [])

    def test_database_down_75(self):
        c = self.node.cluster
        bindir = pgcluster.pg_bindir()
        c._run([os.path.join(bindir, "pg_ctl"), "-D", c.data, "-m", "fast", "-w", "stop"])
        try:
            r = self.ofcuto(["-f", "a@example.org", "user1"])
            self.assertEqual(r.returncode, 75, r.stderr)
            self.assertIn(b"cannot connect", r.stderr)
        finally:
            opts = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
                    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                    "-c max_connections=200 -c shared_buffers=64MB" % (c.port, c.sockdir))
            c._run([os.path.join(bindir, "pg_ctl"), "-D", c.data, "-l", c.logfile, "-o", opts,
                    "-w", "-t", "60", "start"])
        self.assertEqual(self.ofcuto(["-f", "a@example.org", "user1"]).returncode, 0)


class GatewayTest(Base):
    def test_gateway_in_to_submission(self):
        self.node.sql("INSERT INTO rewrite_rule (pattern, replacement, seq)"
                      " VALUES ('^old-(.*)@com$', '\\1@com', 10)")
        self.node.sql("INSERT INTO rewrite_rule (applies_to, pattern, replacement)"
                      " VALUES ('SENDER', '@internal\\.example$', '@example.org')")
        r = self.ofcuto(["-f", "bob@internal.example", "user1.ofcmail", "old-user2@com"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.run_gateway(lambda: self.node.value("SELECT count(*) FROM gateway_in") == "0"
                         and self.node.value("SELECT count(*) FROM submission") == "1")
        sender, rcpts, mid = self.node.sql("SELECT sender, recipients::text, message_id"
                                           " FROM submission")[0]
        self.assertEqual(sender, "bob@example.org")
        self.assertEqual(rcpts, "{user1@com,user2@com}")
        raw, subject, env, bs, nh = self.node.sql(
            "SELECT encode(raw, 'hex'), hdr_subject, envelope, bodystructure,"
            " (SELECT count(*) FROM message_header h WHERE h.message_id = m.id)"
            " FROM message m WHERE id = :'p1'", mid)[0]
        raw = bytes.fromhex(raw)
        self.assertTrue(raw.startswith(b"Received: from ofcuto uid="), raw[:80])
        self.assertTrue(raw.endswith(MSG))
        self.assertEqual(subject, "hello")
        self.assertIsNotNone(env)
        self.assertIsNotNone(bs)
        self.assertEqual(nh, "5")  # Received, From, To, Subject, Date
        with open(os.path.join(self.node.home.log_dir, "ESNODE_ofcutosrv.log")) as f:
            log = f.read()
        self.assertIn("serving domain com", log)
        self.assertIn("-> message %s" % mid, log)

    def test_lf_line_ends_stored_as_crlf(self):
        # sendmail hands ofcuto LF lines; IMAP and POP3 must serve CRLF, and
        # the stored size and MIME offsets must be those of what they serve.
        lf = (b"From: <a@example.org>\nTo: user1@com\nSubject: lf\n\nline 1\n"
              b"mixed\r\nlone\rcr\n")
        r = self.ofcuto(["-f", "a@example.org", "user1@com"], data=lf)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.run_gateway(lambda: self.node.value("SELECT count(*) FROM submission") == "1")
        raw, size, header_size = self.node.sql(
            "SELECT encode(raw, 'hex'), size, header_size FROM message m"
            " JOIN submission s ON s.message_id = m.id")[0]
        raw = bytes.fromhex(raw)
        self.assertTrue(raw.endswith(b"From: <a@example.org>\r\nTo: user1@com\r\nSubject: lf"
                                     b"\r\n\r\nline 1\r\nmixed\r\nlone\rcr\r\n"), raw)
        self.assertNotIn(b"\n", raw.replace(b"\r\n", b""))
        self.assertEqual(int(size), len(raw))
        self.assertEqual(raw[int(header_size) - 4:int(header_size)], b"\r\n\r\n")

    def test_malformed_goes_to_dead(self):
        # Nothing deliverable: a recipient that is no address at all.
        self.node.sql("INSERT INTO gateway_in (source, sender, recipients, raw)"
                      " VALUES ('SMTP', 'a@example.org', '{\"@@\"}', 'Subject: x\r\n\r\nx')")
        self.run_gateway(lambda: self.node.value("SELECT count(*) FROM dead") == "1")
        rows = self.node.sql("SELECT from_queue, reason, encode(raw, 'escape') FROM dead")
        self.assertEqual(rows[0][0], "gateway_in")
        self.assertIn("no valid recipient", rows[0][1])
        self.assertEqual(self.node.value("SELECT count(*) FROM gateway_in"), "0")
        self.assertEqual(self.node.value("SELECT count(*) FROM submission"), "0")

    def test_registered_as_smtp_in_domain(self):
        self.assertEqual(self.node.sql(
            "SELECT p.type, d.fqdn, t.log_base, t.log_numbered FROM process p"
            " JOIN domain d ON d.id = p.domain_id JOIN process_type t ON t.name = p.type"
            " WHERE p.type = 'SMTP_IN'"), [["SMTP_IN", "com", "ofcutosrv", "f"]])
        self.assertEqual(self.node.value("SELECT count(*) FROM process WHERE type = 'LMTP'"), "1")


class LmtpTest(Base):
    """ofclmtpd in the foreground on a free loopback port (run as the run user)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import smtplib  # noqa: F401
        cls.port = pgcluster.free_port()
        n = cls.node
        pid = n.value("SELECT id FROM process WHERE type = 'LMTP'")
        for name, value in (("LmtpPort", str(cls.port)), ("MaxMessageSize", "4096"),
                            ("LmtpSocket", "lmtp.sock")):
            n.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                  " VALUES (:'p1', 'LMTP', :'p2', :'p3')", pid, name, value)
        h = n.home
        cls.err = open(os.path.join(h.dir, "ofclmtpd.stderr"), "wb")
        cls.proc = subprocess.Popen([os.path.join(BIN_DIR, "ofclmtpd"), "-c", h.config, "-f"],
                                    stdout=cls.err, stderr=cls.err,
                                    preexec_fn=demote(h.uid, h.gid))
        import socket

        def up():
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(up, 20, what="ofclmtpd listening")

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        cls.proc.wait(timeout=30)
        cls.err.close()
        with open(cls.err.name, "rb") as f:
            err = f.read().decode(errors="replace")
        if "Sanitizer" in err or "runtime error" in err:
            raise AssertionError("ofclmtpd:\n" + err)
        super().tearDownClass()

    def lmtp(self):
        import smtplib
        c = smtplib.LMTP("127.0.0.1", self.port, timeout=10)
        c.ehlo_or_helo_if_needed()
        return c

    def test_per_recipient_replies_and_one_copy(self):
        n = self.node
        n.sql("UPDATE account SET quota_bytes = 0 WHERE object_id ="
              " (SELECT id FROM dir_object WHERE name = 'user2')")
        n.sql("INSERT INTO mailbox (account_id, name, bytes)"
              " SELECT id, 'INBOX', 10 FROM dir_object WHERE name = 'user2'"
              " ON CONFLICT DO NOTHING")
        c = self.lmtp()
        self.assertIn("pipelining", c.esmtp_features)
        self.assertIn("8bitmime", c.esmtp_features)
        self.assertEqual(c.mail("s@example.org", ["BODY=8BITMIME", "SIZE=300"])[0], 250)
        self.assertEqual(c.rcpt("user1@com")[0], 250)
        code, msg = c.rcpt("nobody@com")
        self.assertEqual((code, msg[:5]), (550, b"5.1.1"))
        code, msg = c.rcpt("user2@com")
        self.assertEqual((code, msg[:5]), (552, b"5.2.2"))
        self.assertEqual(c.rcpt("team.ofcmail@com")[0], 250)
        self.assertEqual(c.rcpt("x@elsewhere.org")[0], 250)
        body = b"Subject: 8bit\r\n\r\n\xe9t\xe9\r\n.leading dot\r\n..two\r\nbare\nlf\r\n"
        c.putcmd("data")
        self.assertEqual(c.getreply()[0], 354)
        # smtplib.data() would rewrite line ends; send the exact octets, dot-stuffed.
        stuffed = body.replace(b"\r\n.", b"\r\n..")
        c.send(stuffed + b".\r\n")
        replies = [c.getreply() for _ in range(3)]
        self.assertEqual([r[0] for r in replies], [250, 250, 250], replies)
        c.quit()
        rows = self.queued()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][1:4], ["LMTP", "s@example.org",
                                        "{user1@com,team@com,x@elsewhere.org}"])
        self.assertEqual(bytes.fromhex(rows[0][4]), body)

    def test_pipelining_and_oversize(self):
        import socket
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        big = b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 100
        s.sendall(b"LHLO t\r\nMAIL FROM:<>\r\nRCPT TO:<user1@com>\r\nRCPT TO:<team@com>\r\n"
                  b"DATA\r\n" + big + b".\r\nMAIL FROM:<a@b.c> SIZE=99999\r\nNOOP\r\nQUIT\r\n")
        lines = []
        while True:
            line = f.readline()
            if not line:
                break
            lines.append(line.decode().rstrip())
        s.close()
        codes = [l[:3] for l in lines if not l.startswith("250-")]
        self.assertEqual(codes, ["250", "250", "250", "250", "354", "552", "552", "552",
                                 "250", "221"], lines)
        self.assertIn("5.3.4", [l for l in lines if l.startswith("552")][0])
        self.assertEqual(self.queued(), [])

    def test_unix_socket(self):
        import socket
        path = os.path.join(self.node.home.dir, "var", self.node.home.sid, "lmtp.sock")
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        self.assertTrue(s.makefile("rb").readline().startswith(b"220 "))
        s.close()


class LmtpTlsTest(Base):
    """ofclmtpd with LmtpTls on and a self-signed certificate in tls.*."""

    TLS_MODE = "1"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        import socket
        n = cls.node
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
        with open(h.config, "a") as f:
            f.write('tls {\n    certificate = "%s"\n    key = "%s"\n}\n' % (cls.cert, key))
        cls.port = pgcluster.free_port()
        pid = n.value("SELECT id FROM process WHERE type = 'LMTP'")
        for name, value in (("LmtpPort", str(cls.port)), ("LmtpTls", cls.TLS_MODE)):
            n.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                  " VALUES (:'p1', 'LMTP', :'p2', :'p3')", pid, name, value)
        cls.err = open(os.path.join(h.dir, "ofclmtpd-tls.stderr"), "wb")
        cls.proc = subprocess.Popen([os.path.join(BIN_DIR, "ofclmtpd"), "-c", h.config, "-f"],
                                    stdout=cls.err, stderr=cls.err,
                                    preexec_fn=demote(h.uid, h.gid))

        def up():
            try:
                socket.create_connection(("127.0.0.1", cls.port), timeout=1).close()
                return True
            except OSError:
                if cls.proc.poll() is not None:
                    raise AssertionError("ofclmtpd exited with %d" % cls.proc.returncode)
                return False
        wait_until(up, 20, what="ofclmtpd listening")

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        cls.proc.wait(timeout=30)
        cls.err.close()
        with open(cls.err.name, "rb") as f:
            err = f.read().decode(errors="replace")
        if "Sanitizer" in err or "runtime error" in err:
            raise AssertionError("ofclmtpd:\n" + err)
        super().tearDownClass()

    def lmtp(self):
        import smtplib
        c = smtplib.LMTP("127.0.0.1", self.port, timeout=10)
        c.ehlo_or_helo_if_needed()
        return c

    def context(self):
        import ssl
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def test_starttls_offered_and_plaintext_policy(self):
        # LmtpTls on: plaintext MAIL is still allowed; required: 530 5.7.0.
        c = self.lmtp()
        self.assertIn("starttls", c.esmtp_features)
        code, msg = c.mail("s@example.org")
        if self.TLS_MODE == "required":
            self.assertEqual(code, 530, msg)
            self.assertIn(b"5.7.0", msg)
        else:
            self.assertEqual(code, 250, msg)
        c.quit()

    def test_delivery_over_tls(self):
        import ssl
        c = self.lmtp()
        code, _ = c.starttls(context=self.context())
        self.assertEqual(code, 220)
        self.assertIsInstance(c.sock, ssl.SSLSocket)
        self.assertIn(c.sock.version(), ("TLSv1.2", "TLSv1.3"))
        # RFC 3207 section 4.2: the session starts over; MAIL before a new LHLO is refused.
        code, _ = c.mail("s@example.org")
        self.assertEqual(code, 503)
        c.ehlo_or_helo_if_needed()
        self.assertNotIn("starttls", c.esmtp_features)
        self.assertEqual(c.mail("s@example.org")[0], 250)
        self.assertEqual(c.rcpt("user1@com")[0], 250)
        c.putcmd("data")
        self.assertEqual(c.getreply()[0], 354)
        c.send(MSG.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        self.assertEqual(c.getreply()[0], 250)
        c.quit()
        rows = self.queued()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0][1:4], ["LMTP", "s@example.org", "{user1@com}"])
        self.assertEqual(bytes.fromhex(rows[0][4]), MSG)

    def test_plaintext_pipelined_after_starttls_is_discarded(self):
        import socket
        import ssl
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"LHLO t\r\n")
        while not f.readline().startswith(b"250 "):
            pass
        # The injected LHLO must not count as said over TLS.
        s.sendall(b"STARTTLS\r\nLHLO injected\r\n")
        self.assertTrue(f.readline().startswith(b"220 "))
        t = self.context().wrap_socket(s, server_hostname="127.0.0.1")
        t.sendall(b"MAIL FROM:<a@b.c>\r\n")
        self.assertTrue(t.makefile("rb").readline().startswith(b"503 "))
        t.close()


class LmtpTlsRequiredTest(LmtpTlsTest):
    """LmtpTls=required (012): no MAIL before STARTTLS; over TLS as before."""

    TLS_MODE = "required"


if __name__ == "__main__":
    unittest.main()
