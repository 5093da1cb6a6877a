"""imap4srv's core behind iolistener, started by the Guardian: the greeting
and CAPABILITY in every state, LOGIN (quoted, literal, LITERAL+),
AUTHENTICATE PLAIN (with and without SASL-IR), failures that look alike,
LOGINDISABLED, LOGOUT, ID, ENABLE, NOOP, STARTTLS (imaplib and openssl
s_client), IMAPS, the autologout timer, and the command parser facing
malformed input: unbalanced parentheses, bad escapes, 8-bit atoms, 1 MiB
lines, literals beyond MaxLiteralLength, unknown commands and commands in
the wrong state. Exact octets matter here, so most tests use Raw.
"""
import base64
import imaplib
import socket
import subprocess
import time

from imaptest import PASSWORD, ImapTestCase, Raw
from ofctest import wait_until

MAX_LITERAL = 100000


def status(tagged):
    """b"t1 OK text\\r\\n" -> "OK"."""
    return tagged.split(b" ", 2)[1].decode()


def caps_of(untagged):
    for r in untagged:
        if r.startswith(b"* CAPABILITY "):
            return r[len(b"* CAPABILITY "):].split()
    raise AssertionError("no CAPABILITY in %r" % untagged)


def plain(user, password, authzid=""):
    return base64.b64encode(("%s\0%s\0%s" % (authzid, user, password)).encode()).decode()


class ImapCoreTest(ImapTestCase):
    USERS = ["alice", "bob"]
    DELIVERY = False
    PARAMS = {"AuthFailureDelay": "1", "MaxLiteralLength": str(MAX_LITERAL)}

    def set_param(self, name, value):
        """Sets (value) or removes (None) an IMAP4SRV parameter and refreshes."""
        n = self.node
        if value is None:
            n.sql("DELETE FROM process_parameter WHERE type = 'IMAP4SRV' AND name = :'p1'", name)
        else:
            n.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                  " SELECT id, type, :'p1', :'p2' FROM process WHERE type = 'IMAP4SRV'"
                  " ON CONFLICT (process_id, name) DO UPDATE SET value = EXCLUDED.value",
                  name, value)
        n.sql("SELECT pg_notify('ofc_refresh', 'IMAP4SRV')")

    # ---- greeting, CAPABILITY ---------------------------------------------

    def test_greeting_and_capability(self):
        r = self.raw()
        self.assertTrue(r.greeting.startswith(b"* OK [CAPABILITY IMAP4rev1 "), r.greeting)
        self.assertTrue(r.greeting.endswith(b"] ofcmail IMAP4rev1 ready\r\n"), r.greeting)
        got, done = r.cmd("CAPABILITY")
        self.assertEqual(status(done), "OK")
        caps = caps_of(got)
        for c in (b"IMAP4rev1", b"LITERAL+", b"SASL-IR", b"ID", b"ENABLE", b"IDLE",
                  b"NAMESPACE", b"UIDPLUS", b"MOVE", b"UNSELECT", b"CHILDREN", b"SPECIAL-USE",
                  b"CREATE-SPECIAL-USE", b"QUOTA", b"QUOTA=RES-STORAGE", b"STATUS=SIZE",
                  b"CONDSTORE", b"STARTTLS", b"AUTH=PLAIN"):
            self.assertIn(c, caps)
        self.assertNotIn(b"LOGINDISABLED", caps)
        self.assertEqual(r.greeting[len(b"* OK [CAPABILITY "):].split(b"]")[0].split(), caps)
        # After login: no STARTTLS and no AUTH=; the tagged OK says so at once.
        got, done = r.login("alice")
        self.assertTrue(done.startswith(b"t2 OK [CAPABILITY IMAP4rev1 "), done)
        self.assertTrue(done.endswith(b"] LOGIN completed\r\n"), done)
        caps = caps_of(r.cmd("CAPABILITY")[0])
        self.assertIn(b"IDLE", caps)
        self.assertNotIn(b"STARTTLS", caps)
        self.assertNotIn(b"AUTH=PLAIN", caps)
        self.assertEqual(status(r.cmd("CAPABILITY extra")[1]), "BAD")

    def test_imaplib_plain_starttls_imaps(self):
        c = self.imap()
        self.assertIn("STARTTLS", c.capabilities)
        self.assertEqual(c.login("alice", PASSWORD)[0], "OK")
        self.assertEqual(c.noop()[0], "OK")
        # STARTTLS: the capabilities change (no STARTTLS), login under TLS.
        c = self.imap(starttls=True)
        self.assertNotIn("STARTTLS", c.capabilities)
        self.assertIn("AUTH=PLAIN", c.capabilities)
        self.assertEqual(c.login("bob", PASSWORD)[0], "OK")
        # IMAPS.
        c = self.imap(tls=True)
        self.assertNotIn("STARTTLS", c.capabilities)
        self.assertEqual(c.login("alice", PASSWORD)[0], "OK")
        typ, data = c.capability()
        self.assertEqual(typ, "OK")
        self.assertNotIn(b"AUTH=PLAIN", data[0])

    def test_starttls_raw(self):
        r = self.raw()
        got, done = r.cmd("STARTTLS extra")
        self.assertEqual(status(done), "BAD")
        got, done = r.cmd("STARTTLS")
        self.assertEqual(done, b"t2 OK Begin TLS negotiation now\r\n")
        r.sock = self.context().wrap_socket(r.sock, server_hostname="127.0.0.1")
        r.f = r.sock.makefile("rb")
        caps = caps_of(r.cmd("CAPABILITY")[0])
        self.assertNotIn(b"STARTTLS", caps)
        self.assertEqual(status(r.cmd("STARTTLS")[1]), "BAD")
        self.assertEqual(status(r.login("alice")[1]), "OK")

    def test_openssl_starttls(self):
        script = "a1 CAPABILITY\r\na2 LOGIN alice %s\r\na3 NOOP\r\na4 LOGOUT\r\n" % PASSWORD
        p = subprocess.run(["openssl", "s_client", "-starttls", "imap", "-connect",
                            "127.0.0.1:%d" % self.port, "-CAfile", self.cert, "-quiet",
                            "-verify_return_error"],
                           input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        out = p.stdout.decode(errors="replace")
        self.assertIn("* CAPABILITY IMAP4rev1", out, p.stderr)
        self.assertNotIn("STARTTLS", out.split("* CAPABILITY", 1)[1].split("\r\n")[0])
        self.assertIn("a2 OK [CAPABILITY", out)
        self.assertIn("a3 OK", out)
        self.assertIn("* BYE", out)
        self.assertIn("a4 OK LOGOUT completed", out)

    # ---- LOGIN, AUTHENTICATE ----------------------------------------------

    def test_login_forms(self):
        # Quoted.
        r = self.raw()
        self.assertEqual(status(r.cmd('LOGIN "alice" "%s"' % PASSWORD)[1]), "OK")
        # Atoms.
        r = self.raw()
        self.assertEqual(status(r.cmd("LOGIN alice %s" % PASSWORD)[1]), "OK")
        # Synchronising literals: each one waits for "+".
        r = self.raw()
        r.send("s1 LOGIN {5}\r\n")
        self.assertTrue(r.line().startswith(b"+ "))
        r.send("alice {%d}\r\n" % len(PASSWORD))
        self.assertTrue(r.line().startswith(b"+ "))
        r.send(PASSWORD + "\r\n")
        self.assertTrue(r.line().startswith(b"s1 OK [CAPABILITY "))
        # Non-synchronising literals (LITERAL+): no continuation.
        r = self.raw()
        r.send("n1 LOGIN {5+}\r\nalice {%d+}\r\n%s\r\nn2 NOOP\r\n" % (len(PASSWORD), PASSWORD))
        self.assertTrue(r.line().startswith(b"n1 OK [CAPABILITY "))
        self.assertEqual(r.line(), b"n2 OK NOOP completed\r\n")
        # imaplib sends a literal when the password needs one.
        c = self.imap()
        c.literal = PASSWORD.encode()
        typ, _ = c._simple_command("LOGIN", "alice")
        self.assertEqual(typ, "OK")
        # Wrong arguments.
        r = self.raw()
        self.assertEqual(status(r.cmd("LOGIN alice")[1]), "BAD")
        self.assertEqual(status(r.cmd("LOGIN (alice) x")[1]), "BAD")
        # A quoted escape parses (then fails as a login), a bad escape is BAD.
        self.assertEqual(r.cmd('LOGIN "al\\"ice" "x\\\\y"')[1],
                         b"t3 NO [AUTHENTICATIONFAILED] invalid user name or password\r\n")
        self.assertEqual(status(r.cmd('LOGIN "al\\ice" x')[1]), "BAD")

    def test_failures_look_alike(self):
        r = self.raw()
        t0 = time.monotonic()
        _, bad_pw = r.cmd("LOGIN alice wrong-password", tag="x")
        t1 = time.monotonic()
        _, unknown = r.cmd("LOGIN nosuchuser %s" % PASSWORD, tag="x")
        t2 = time.monotonic()
        self.assertEqual(bad_pw, b"x NO [AUTHENTICATIONFAILED] invalid user name or password\r\n")
        self.assertEqual(bad_pw, unknown)
        # Both wait AuthFailureDelay (1 s).
        self.assertGreaterEqual(t1 - t0, 0.9)
        self.assertGreaterEqual(t2 - t1, 0.9)
        _, sasl = r.cmd("AUTHENTICATE PLAIN " + plain("nosuchuser", "x"), tag="x")
        self.assertEqual(sasl, unknown)
        # Still not logged in; then a good login works.
        self.assertEqual(status(r.cmd("SELECT INBOX")[1]), "BAD")
        self.assertEqual(status(r.login("alice")[1]), "OK")
        log = self.log_text()
        self.assertIn("login failed for user alice", log)
        self.assertIn("login failed for user nosuchuser", log)
        self.assertNotIn("wrong-password", log)

    def test_authenticate_plain(self):
        # SASL-IR (RFC 4959).
        r = self.raw()
        _, done = r.cmd("AUTHENTICATE PLAIN " + plain("alice", PASSWORD))
        self.assertTrue(done.startswith(b"t1 OK [CAPABILITY "), done)
        self.assertTrue(done.endswith(b"] AUTHENTICATE completed\r\n"), done)
        # The "+ " continuation.
        r = self.raw()
        r.send("a1 AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ \r\n")
        r.send(plain("bob", PASSWORD, authzid="bob") + "\r\n")
        self.assertTrue(r.line().startswith(b"a1 OK [CAPABILITY "))
        # "*" cancels; bad base64 and a foreign authzid are refused.
        r = self.raw()
        r.send("a1 AUTHENTICATE PLAIN\r\n")
        self.assertEqual(r.line(), b"+ \r\n")
        r.send("*\r\n")
        self.assertEqual(r.line(), b"a1 BAD authentication cancelled\r\n")
        self.assertEqual(status(r.cmd("AUTHENTICATE PLAIN not-base64!")[1]), "BAD")
        self.assertEqual(status(r.cmd("AUTHENTICATE PLAIN " + plain("alice", PASSWORD, "bob"))[1]),
                         "NO")
        self.assertEqual(status(r.cmd("AUTHENTICATE CRAM-MD5")[1]), "NO")
        self.assertEqual(status(r.cmd("AUTHENTICATE")[1]), "BAD")
        # imaplib's AUTHENTICATE.
        c = self.imap()
        typ, _ = c.authenticate("PLAIN", lambda _: ("\0alice\0" + PASSWORD).encode())
        self.assertEqual(typ, "OK")
        self.assertEqual(c.state, "AUTH")

    def test_logindisabled(self):
        self.set_param("PlaintextAuth", "0")
        try:
            def applied():
                r = Raw(self.port)
                r.close()
                return b"LOGINDISABLED" in r.greeting
            wait_until(applied, 20, interval=0.2, what="PlaintextAuth=0 applied")
            r = self.raw()
            caps = caps_of(r.cmd("CAPABILITY")[0])
            self.assertIn(b"LOGINDISABLED", caps)
            self.assertNotIn(b"AUTH=PLAIN", caps)
            _, done = r.login("alice")
            self.assertTrue(done.startswith(b"t2 NO [PRIVACYREQUIRED]"), done)
            _, done = r.cmd("AUTHENTICATE PLAIN " + plain("alice", PASSWORD))
            self.assertTrue(done.startswith(b"t3 NO [PRIVACYREQUIRED]"), done)
            # Under TLS passwords may travel.
            c = self.imap(starttls=True)
            self.assertNotIn("LOGINDISABLED", c.capabilities)
            self.assertIn("AUTH=PLAIN", c.capabilities)
            self.assertEqual(c.login("alice", PASSWORD)[0], "OK")
            c = self.imap(tls=True)
            self.assertEqual(c.login("bob", PASSWORD)[0], "OK")
        finally:
            self.set_param("PlaintextAuth", None)

        def restored():
            r = Raw(self.port)
            r.close()
            return b"AUTH=PLAIN" in r.greeting
        wait_until(restored, 20, interval=0.2, what="PlaintextAuth=1 applied")

    # ---- any state: LOGOUT, ID, ENABLE, NOOP ------------------------------

    def test_logout(self):
        for user in (None, "alice"):
            r = self.raw(user)
            got, done = r.cmd("LOGOUT")
            self.assertEqual(len(got), 1)
            self.assertTrue(got[0].startswith(b"* BYE "), got)
            self.assertTrue(done.endswith(b" OK LOGOUT completed\r\n"), done)
            self.assertEqual(r.line(), b"")  # closed
        c = self.imap("alice")
        self.assertEqual(c.logout()[0], "BYE")
        self.assertIn("alice@com logged out", self.log_text())

    def test_id(self):
        r = self.raw()
        for arg in ("NIL", '("name" "test client" "version" "1.0")', "()"):
            got, done = r.cmd("ID " + arg)
            self.assertEqual(status(done), "OK")
            self.assertEqual(len(got), 1)
            self.assertTrue(got[0].startswith(b'* ID ("name" "ofcmail" "version" "'), got)
        for arg in ("", '("name")', "name", '(name "x")', "NIL NIL"):
            self.assertEqual(status(r.cmd("ID " + arg)[1]), "BAD", arg)
        c = self.imap("alice")
        typ, data = c.xatom("ID", '("name" "imaplib")')
        self.assertEqual(typ, "OK")
        self.assertIn("client is test client 1.0", self.log_text())

    def test_enable(self):
        r = self.raw()
        self.assertEqual(status(r.cmd("ENABLE CONDSTORE")[1]), "BAD")  # not logged in
        r.login("alice")
        got, done = r.cmd("ENABLE CONDSTORE")
        self.assertEqual((got, status(done)), ([b"* ENABLED CONDSTORE\r\n"], "OK"))
        got, done = r.cmd("ENABLE CONDSTORE X-UNKNOWN")
        self.assertEqual((got, status(done)), ([b"* ENABLED\r\n"], "OK"))
        self.assertEqual(status(r.cmd("ENABLE")[1]), "BAD")
        self.assertEqual(status(r.cmd('ENABLE "CONDSTORE"')[1]), "BAD")

    def test_noop(self):
        r = self.raw()
        self.assertEqual(r.cmd("NOOP"), ([], b"t1 OK NOOP completed\r\n"))
        self.assertEqual(status(r.cmd("NOOP x")[1]), "BAD")
        r.login("alice")
        self.assertEqual(r.cmd("NOOP"), ([], b"t4 OK NOOP completed\r\n"))
        # Commands in one packet are answered in order.
        r.send("p1 NOOP\r\np2 CAPABILITY\r\np3 NOOP\r\n")
        self.assertEqual(r.line(), b"p1 OK NOOP completed\r\n")
        self.assertTrue(r.line().startswith(b"* CAPABILITY "))
        self.assertEqual(r.line(), b"p2 OK CAPABILITY completed\r\n")
        self.assertEqual(r.line(), b"p3 OK NOOP completed\r\n")
        # In the selected state NOOP reports other sessions' changes (view.c).
        self.assertEqual(status(r.cmd("SELECT INBOX")[1]), "OK")
        self.assertEqual(r.cmd("NOOP"), ([], b"t6 OK NOOP completed\r\n"))

    # ---- the parser -------------------------------------------------------

    def test_syntax_errors(self):
        r = self.raw("alice")
        cases = [
            'ID ("name" "x"',       # unbalanced
            'ID ("name" "x"))',     # unbalanced
            'ID ("name" "x)',       # unterminated quote
            'ID ("na\\me" "x")',    # bad escape
            'ID ("name"x)',         # no space
            "LIST \"\" caf\xc3\xa9",  # 8-bit in an atom
            "ID (" * 40 + ")" * 40,  # too deep
            "FETCH 1 BODY[HEADER.FIELDS (FROM)",  # missing ]
            "FETCH 1 BODY[]<0>",    # partial without a length
            "FETCH 1 BODY[]<0.0>",  # partial of zero octets
            "NOOP {abc}",
        ]
        for text in cases:
            got, done = r.cmd(text.encode("latin-1") if "\xc3" in text else text)
            self.assertEqual(status(done), "BAD", text)
        _, done = r.cmd(b"LIST \"\" caf\xc3\xa9")
        self.assertIn(b"8-bit", done)
        # A control character, a NUL.
        self.assertEqual(status(r.cmd(b"NOOP a\x01b")[1]), "BAD")
        r.send(b"z1 NOOP a\x00b\r\n")
        self.assertEqual(status(r.line()), "BAD")
        # Bad tags and empty lines.
        r.send(b"\r\n+x NOOP\r\n")
        self.assertTrue(r.line().startswith(b"* BAD "))
        r.send(b"lonely\r\n")
        self.assertTrue(r.line().startswith(b"* BAD "))
        # Still in service.
        self.assertEqual(status(r.cmd("NOOP")[1]), "OK")

    def test_unknown_and_wrong_state(self):
        r = self.raw()
        self.assertEqual(r.cmd("FROBNICATE"), ([], b"t1 BAD unknown command\r\n"))
        self.assertEqual(r.cmd("UID NOOP"), ([], b"t2 BAD unknown command\r\n"))
        self.assertEqual(r.cmd("UID"), ([], b"t3 BAD missing command after UID\r\n"))
        self.assertEqual(r.cmd("SELECT INBOX"), ([], b"t4 BAD command requires login\r\n"))
        self.assertEqual(r.cmd("FETCH 1 FLAGS"), ([], b"t5 BAD command requires login\r\n"))
        r.login("alice")
        self.assertEqual(r.cmd("LOGIN alice x"), ([], b"t7 BAD already authenticated\r\n"))
        self.assertEqual(r.cmd("STARTTLS"), ([], b"t8 BAD already authenticated\r\n"))
        self.assertEqual(r.cmd("FETCH 1 FLAGS"), ([], b"t9 BAD no mailbox selected\r\n"))
        self.assertEqual(r.cmd("uid fetch 1 FLAGS"), ([], b"t10 BAD no mailbox selected\r\n"))
        self.assertEqual(r.cmd("EXPUNGE"), ([], b"t11 BAD no mailbox selected\r\n"))

    def test_long_lines(self):
        r = self.raw()
        r.send(b"t1 NOOP " + b"x" * (1 << 20) + b"\r\n")
        self.assertEqual(r.line(), b"* BAD line too long\r\n")
        self.assertEqual(status(r.cmd("NOOP", tag="t2")[1]), "OK")
        # Inside a command (after a literal): the command's tag gets the BAD.
        r.send(b"t3 ID ({4+}\r\nname " + b"y" * (1 << 20) + b"\r\n")
        self.assertEqual(r.line(), b"t3 BAD line too long\r\n")
        self.assertEqual(status(r.cmd("NOOP", tag="t4")[1]), "OK")
        # The literals of one command together are bounded by MaxLiteralLength.
        chunk = b"x" * 60000
        r.send(b"t5 ID (" + b"".join(b"{%d+}\r\n%s " % (len(chunk), chunk) for _ in range(3))
               + b"\r\n")
        got, done = r.until("t5")
        self.assertEqual(status(done), "BAD")
        self.assertEqual(status(r.cmd("NOOP", tag="t6")[1]), "OK")
        # Over-long lines in a row: the client is not speaking IMAP.
        for _ in range(2):
            r.send(b"z" * (1 << 20) + b"\r\n")
            self.assertEqual(r.line(), b"* BAD line too long\r\n")
        try:
            r.send(b"z" * (1 << 20) + b"\r\n")
            # The server closes with the rest of the line unread: the BYE
            # may be lost to the reset that follows.
            rest = r.line() + r.line()
        except (ConnectionResetError, BrokenPipeError):
            rest = b""
        self.assertIn(rest, (b"", b"* BYE too many over-long lines\r\n"))
        self.assertEqual(status(self.raw().cmd("NOOP")[1]), "OK")
        self.assertIn("3 over-long lines in a row: closed", self.log_text())

    def test_literal_limits(self):
        r = self.raw("alice")
        # Synchronising: refused before the client sends it.
        r.send("b1 ID ({%d}\r\n" % (MAX_LITERAL + 1))
        self.assertEqual(r.line(), b"b1 NO [TOOBIG] literal too big\r\n")
        r.send("b2 ID ({999999999999999999999}\r\n")
        self.assertEqual(r.line(), b"b2 NO [TOOBIG] literal too big\r\n")
        self.assertEqual(status(r.cmd("NOOP")[1]), "OK")
        # Non-synchronising: BAD, the octets are read and thrown away, the
        # rest of the command too (here with a second literal).
        big = MAX_LITERAL * 3
        r.send(b"b3 ID ({%d+}\r\n" % big + b"q" * big + b" {3+}\r\nabc)\r\nb4 NOOP\r\n")
        self.assertEqual(r.line(), b"b3 BAD [TOOBIG] literal too big\r\n")
        self.assertEqual(r.line(), b"b4 OK NOOP completed\r\n")
        # At the limit: accepted.
        r.send(b'b5 ID ("name" {%d+}\r\n' % MAX_LITERAL + b"n" * MAX_LITERAL + b")\r\n")
        self.assertEqual(status(r.line()), "BAD")  # ID values are at most 1024 octets
        r.send(b'b6 ID ("name" {3}\r\n')
        self.assertTrue(r.line().startswith(b"+ "))
        r.send(b"abc)\r\n")
        self.assertTrue(r.line().startswith(b'* ID ("name" "ofcmail"'))
        self.assertEqual(r.line(), b"b6 OK ID completed\r\n")
        # Beyond reason: BYE.
        r.send(b"b7 ID ({99999999999+}\r\n")
        self.assertEqual(r.line(), b"b7 BAD [TOOBIG] literal too big\r\n")
        self.assertEqual(r.line(), b"* BYE literal too big\r\n")
        self.assertEqual(r.line(), b"")

    def test_sections_parse(self):
        """BODY[...]<..> tokens reach the handler (in the selected state only:
        here they must pass the parser and fail on the state)."""
        r = self.raw("alice")
        for text in ("FETCH 1 (BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.10> FLAGS)",
                     "FETCH 1 BODY[1.2.MIME]", "FETCH 1 BINARY.PEEK[1]<5.7>",
                     "FETCH 1 (BODY[HEADER.FIELDS.NOT ({4}\r\nDate)])"):
            if "{4}" in text:
                first, rest = text.split("\r\n")
                r.send("s1 " + first + "\r\n")
                self.assertTrue(r.line().startswith(b"+ "))
                r.send(rest + "\r\n")
                done = r.line()
            else:
                done = r.cmd(text)[1]
            self.assertTrue(done.endswith(b"BAD no mailbox selected\r\n"), (text, done))

    # ---- autologout -------------------------------------------------------

    def test_zz_autologout(self):
        self.set_param("IdleTimeout", "10")
        try:
            r = self.raw("alice")
            deadline = time.monotonic() + 40
            r.sock.settimeout(45)
            line = r.line()
            self.assertEqual(line, b"* BYE Autologout; idle for too long\r\n")
            self.assertLess(time.monotonic(), deadline)
            self.assertEqual(r.line(), b"")
            self.assertIn("idle for too long: autologout", self.log_text())
        finally:
            self.set_param("IdleTimeout", None)
