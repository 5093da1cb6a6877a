"""Shared harness of the IMAP integration tests (test_imap_*.py).

One node per test module, as test_pop3.py does it: free ports in
ports { pop3 pop3s imap imaps } and for the LMTP listener, a self-signed
certificate in tls { }, accounts made with oomgr, and the Guardian running
iolistener, IMAP4SRV (INSTANCES of them) and, for delivery, the LMTP
listener, the inbound gateway (which analyses each message: ENVELOPE,
BODYSTRUCTURE, sections) and the Postman.

    from imaptest import ImapTestCase, Raw, PASSWORD, message

    class MyTest(ImapTestCase):
        USERS = ["alice", "bob"]          # accounts of this module
        PARAMS = {"IdleTimeout": "60"}    # IMAP4SRV parameters (optional)

        def test_x(self):
            uid = self.deliver("alice", message("alice@com", "hello"))
            c = self.imap("alice")              # imaplib.IMAP4, logged in
            c.select("INBOX")
            r = Raw(self.port)                  # exact octets
            r.login("alice")
            lines = r.cmd("FETCH 1 (FLAGS)")    # every octet up to the tagged line
            self.bulk("alice", 1000)            # 1,000 analysed messages, by SQL

Delivery paths:
  deliver(user, raw)  LMTP -> gateway (analysis) -> Postman: the real path;
                      waits until the pointer is there, returns its UID.
  bulk(user, n)       n distinct messages in one statement: clones of an
                      analysed template whose Subject and Message-ID carry
                      a fixed-width number (so sizes and section offsets
                      stay right), with pointers, uidnext and highestmodseq
                      set as store_deliver does. Fast: 10,000 in seconds.
  append_sql(...)     not provided: use IMAP APPEND or deliver().

When bin/imap4srv is not built the module is skipped (SkipTest), naming it.
"""
import imaplib
import os
import re
import socket
import ssl
import subprocess
import time
import unittest

import flowcheck
from ofctest import BIN_DIR, Guardian, Node, TestCase, pgcluster, wait_until

PASSWORD = "Imap-test-pw"
DOMAIN = "com"
TEMPLATE_USER = "imaptemplate"

MSG = (b"From: Sender <sender@example.org>\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
       b"Date: Tue, 25 Nov 2025 20:37:23 +0000\r\n"
       b"Message-ID: <{subject}@test>\r\n\r\n"
       b"first line\r\nsecond line \xc3\xa9\r\n")

# The template of bulk(): fixed-width numbers at known places.
BULK_NUM = b"000000000"
BULK = (b"From: Bulk Sender <bulk@example.org>\r\nTo: <{rcpt}>\r\n"
        b"Subject: bulk " + BULK_NUM + b"\r\n"
        b"Date: Tue, 25 Nov 2025 20:37:23 +0000\r\n"
        b"Message-ID: <" + BULK_NUM + b".bulk@test>\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n")


def message(rcpt, subject, body=None, headers=b""):
    """A small message to rcpt; body (bytes) replaces the default body."""
    m = MSG.replace(b"{rcpt}", rcpt.encode()).replace(b"{subject}", subject.encode())
    if headers:
        head, rest = m.split(b"\r\n\r\n", 1)
        m = head + b"\r\n" + headers.rstrip(b"\r\n") + b"\r\n\r\n" + rest
    if body is not None:
        m = m.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n" + body
    return m


def bulk_body(size):
    """A body of about size octets of CRLF lines."""
    line = b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmn\r\n"
    return line * max(1, size // len(line))


def _reply(f):
    lines = []
    while True:
        line = f.readline()
        if not line:
            raise OSError("connection closed")
        lines.append(line)
        if line[3:4] != b"-":
            return int(line[:3]), lines


def lmtp_send(port, rcpt, raw, sender="sender@example.org"):
    """One LMTP transaction; raises on anything but 250."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        f = s.makefile("rb")
        _reply(f)
        s.sendall(b"LHLO imaptest\r\n")
        _reply(f)
        s.sendall(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n"
                  % (sender.encode(), rcpt.encode()))
        codes = [_reply(f) for _ in range(3)]
        if [c for c, _ in codes] != [250, 250, 354]:
            raise AssertionError("LMTP to %s: %r" % (rcpt, codes))
        data = raw if raw.endswith(b"\r\n") else raw + b"\r\n"
        if data.startswith(b"."):
            data = b"." + data
        s.sendall(data.replace(b"\r\n.", b"\r\n..") + b".\r\n")
        code, lines = _reply(f)
        if code != 250:
            raise AssertionError("LMTP DATA to %s: %r" % (rcpt, lines))
        s.sendall(b"QUIT\r\n")


class Raw:
    """An IMAP connection on a plain socket: exact octets both ways.

        r = Raw(port)                 # reads the greeting (r.greeting)
        r = Raw(sport, context)       # implicit TLS
        r.send(b"a1 NOOP\\r\\n")       # anything, as is
        r.line()                      # one line as received, CRLF kept
        r.response()                  # one response: a line, with every
                                      # literal it announces and the rest
        r.cmd("SELECT INBOX")         # "tN SELECT INBOX", returns
                                      # (untagged responses, tagged line)
    """

    def __init__(self, port, context=None, timeout=15):
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if context is not None:
            s = context.wrap_socket(s, server_hostname="127.0.0.1")
        self.sock = s
        self.f = s.makefile("rb")
        self.n = 0
        self.greeting = self.line()

    def line(self):
        return self.f.readline()

    def read(self, n):
        data = self.f.read(n)
        if len(data) != n:
            raise AssertionError("connection closed inside a literal (%d of %d)"
                                 % (len(data), n))
        return data

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    _LITERAL = re.compile(rb"\{(\d+)\}\r\n$")

    def response(self):
        """One whole response: lines joined with the literals they announce."""
        out = b""
        while True:
            line = self.line()
            if not line:
                raise AssertionError("connection closed; so far: %r" % out[-300:])
            out += line
            m = self._LITERAL.search(line)
            if not m:
                return out
            out += self.read(int(m.group(1)))

    def tag(self):
        self.n += 1
        return "t%d" % self.n

    def until(self, tag):
        """(untagged and continuation responses, the tagged line) up to tag."""
        t = tag.encode() + b" "
        got = []
        while True:
            r = self.response()
            if r.startswith(t):
                return got, r
            got.append(r)

    def cmd(self, text, tag=None):
        """Sends "TAG text" (text: str or bytes, no CRLF) and reads to the tagged line."""
        tag = tag or self.tag()
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.until(tag)

    def ok(self, text):
        """cmd() that must end in OK; returns the untagged responses."""
        got, done = self.cmd(text)
        if done.split(b" ", 2)[1:2] != [b"OK"]:
            raise AssertionError("%r -> %r (after %r)" % (text, done, got[-5:]))
        return got

    def login(self, user, password=PASSWORD):
        return self.cmd('LOGIN "%s" "%s"' % (user, password))

    def close(self):
        for o in (self.f, self.sock):
            try:
                o.close()
            except OSError:
                pass


class ImapTestCase(TestCase):
    """setUpClass/tearDownClass of an IMAP test module; see the module text.

    Class attributes a module may set:
      USERS      accounts made with oomgr (password PASSWORD)
      INSTANCES  IMAP4SRV instances (default 1)
      PARAMS     IMAP4SRV process parameters {name: value}
      DELIVERY   False: no LMTP/gateway/Postman (deliver() then fails);
                 bulk() still works only when True (it needs its template)
    Attributes set: node, guardian, port (imap), sport (imaps), pop3_port,
    lmtp_port, cert (PEM path of the server's certificate).
    """
    USERS = []
    SERVE_IMAP = True  # False: no IMAP4SRV (checks of the harness itself)
    INSTANCES = 1
    PARAMS = {}
    DELIVERY = True

    @classmethod
    def setUpClass(cls):
        exe = os.path.join(BIN_DIR, "imap4srv")
        if cls.SERVE_IMAP and not os.access(exe, os.X_OK):
            raise unittest.SkipTest("%s is not built" % exe)
        cls.node = n = Node()
        try:
            cls._set_up()
        except BaseException:
            cls._tear_down(check=False)
            raise

    @classmethod
    def _set_up(cls):
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
        ports = set()
        while len(ports) < 5:
            ports.add(pgcluster.free_port())
        ports = sorted(ports)
        cls.pop3_port, cls.pop3s_port, cls.port, cls.sport, cls.lmtp_port = ports
        with open(h.config, "a") as f:
            f.write("ports {\n    pop3 = %d\n    pop3s = %d\n    imap = %d\n    imaps = %d\n}\n"
                    % tuple(ports[:4]))
            f.write('tls {\n    certificate = "%s"\n    key = "%s"\n}\n' % (cls.cert, key))

        users = list(cls.USERS) + ([TEMPLATE_USER] if cls.DELIVERY else [])
        if users:
            script = "".join("insert person %s password=%s;\n" % (u, PASSWORD) for u in users)
            r = n.oomgr(script)
            if r.returncode != 0:
                raise AssertionError("oomgr failed:\n%s%s" % (r.stdout, r.stderr))

        ids = []
        lsnr = flowcheck.ensure_process(n, "IOLISTENER", 1)
        flowcheck.set_params(n, lsnr, ListenAddress="127.0.0.1")
        ids.append(lsnr)
        cls.imap_ids = []
        for i in range(1, cls.INSTANCES + 1 if cls.SERVE_IMAP else 1):
            pid = flowcheck.ensure_process(n, "IMAP4SRV", i)
            flowcheck.set_params(n, pid, HeartbeatInterval=1, **cls.PARAMS)
            cls.imap_ids.append(pid)
        ids += cls.imap_ids
        if cls.DELIVERY:
            for type_ in ("SMTP_IN", "POSTMAN", "LMTP"):
                pid = flowcheck.ensure_process(n, type_, 1)
                if type_ == "LMTP":
                    flowcheck.set_params(n, pid, LmtpPort=cls.lmtp_port)
                ids.append(pid)
        n.sql("UPDATE process SET desired_state = 'RUNNING' WHERE id IN (%s)"
              % ",".join(map(str, ids)))
        cls.guardian = Guardian(n)
        r = cls.guardian.start()
        if r.returncode != 0:
            raise AssertionError("ofcguard start failed:\n%s%s" % (r.stdout, r.stderr))
        n.sql("NOTIFY ofc_process")

        def serving():
            try:
                conns = [Raw(cls.port, timeout=5) for _ in range(cls.INSTANCES)]
            except OSError:
                return False
            ok = all(c.greeting.startswith(b"* OK") for c in conns)
            for c in conns:
                c.close()
            return ok
        try:
            if cls.SERVE_IMAP:
                wait_until(serving, 60, interval=0.2, what="imap4srv serving through iolistener")
                wait_until(lambda: n.value("SELECT count(*) FROM sps_status s JOIN process p"
                                           " ON p.id = s.process_id WHERE p.type = 'IMAP4SRV'")
                           == str(cls.INSTANCES), 30,
                           what="%d IMAP4SRV instances reporting" % cls.INSTANCES)
            if cls.DELIVERY:
                wait_until(lambda: _listening(cls.lmtp_port), 30, what="ofclmtpd listening")
        except AssertionError as e:
            raise AssertionError("%s\n--- guardian log:\n%s\n--- imap log:\n%s"
                                 % (e, cls.guardian.log()[-3000:], cls.log_text()[-3000:]))
        cls._template = None

    @classmethod
    def tearDownClass(cls):
        cls._tear_down(check=True)

    @classmethod
    def _tear_down(cls, check):
        g = getattr(cls, "guardian", None)
        if g is not None:
            g._cleanup()
        problems = []
        log_dir = cls.node.home.log_dir
        for name in (os.listdir(log_dir) if os.path.isdir(log_dir) else []):
            with open(os.path.join(log_dir, name), errors="replace") as f:
                text = f.read()
            if "Sanitizer" in text or "runtime error" in text:
                problems.append(name + ":\n" + text[-4000:])
            if PASSWORD in text:
                problems.append(name + ": holds a password")
        cls.node.close()
        if check and problems:
            raise AssertionError("\n".join(problems))

    # ---- clients ----------------------------------------------------------

    @classmethod
    def context(cls):
        """A TLS client context that trusts the node's certificate."""
        ctx = ssl.create_default_context(cafile=cls.cert)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    def imap(self, user=None, password=PASSWORD, tls=False, starttls=False):
        """imaplib client (plain, implicit TLS or STARTTLS), logged in when user is given."""
        if tls:
            c = imaplib.IMAP4_SSL("127.0.0.1", self.sport, ssl_context=self.context(),
                                  timeout=15)
        else:
            c = imaplib.IMAP4("127.0.0.1", self.port, timeout=15)
            if starttls:
                c.starttls(self.context())
        if user is not None:
            c.login(user, password)
        self.addCleanup(_logout, c)
        return c

    def raw(self, user=None, tls=False):
        """A Raw connection (closed at the end of the test), logged in when user is given."""
        r = Raw(self.sport if tls else self.port, self.context() if tls else None)
        self.addCleanup(r.close)
        if user is not None:
            got, done = r.login(user)
            if b" OK" not in done:
                raise AssertionError("LOGIN %s: %r" % (user, done))
        return r

    # ---- the store --------------------------------------------------------

    def mailbox_id(self, user, mailbox="INBOX"):
        v = self.node.value("SELECT b.id FROM mailbox b JOIN dir_object o ON o.id = b.account_id"
                            " WHERE o.name = :'p1' AND b.name = :'p2'", user, mailbox)
        return None if v is None else int(v)

    def mailbox_row(self, user, mailbox="INBOX"):
        """{uidvalidity, uidnext, highestmodseq, messages, bytes, special_use} or None."""
        rows = self.node.sql("SELECT b.uidvalidity, b.uidnext, b.highestmodseq, b.messages,"
                             " b.bytes, b.special_use FROM mailbox b JOIN dir_object o"
                             " ON o.id = b.account_id WHERE o.name = :'p1' AND b.name = :'p2'",
                             user, mailbox)
        if not rows:
            return None
        r = rows[0]
        return dict(uidvalidity=int(r[0]), uidnext=int(r[1]), highestmodseq=int(r[2]),
                    messages=int(r[3]), bytes=int(r[4]), special_use=r[5])

    def mailboxes(self, user):
        return [r[0] for r in self.node.sql(
            "SELECT b.name FROM mailbox b JOIN dir_object o ON o.id = b.account_id"
            " WHERE o.name = :'p1' ORDER BY b.name", user)]

    def pointers(self, user, mailbox="INBOX"):
        """[(uid, flags bits, [keywords], message_id, modseq)] in UID order."""
        rows = self.node.sql(
            "SELECT p.uid, p.flags, array_to_string(p.keywords, ' '), p.message_id, p.modseq"
            " FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
            " JOIN dir_object o ON o.id = b.account_id"
            " WHERE o.name = :'p1' AND b.name = :'p2' ORDER BY p.uid", user, mailbox)
        return [(int(r[0]), int(r[1]), r[2].split() if r[2] else [], int(r[3]), int(r[4]))
                for r in rows]

    def count(self, user, mailbox="INBOX"):
        return int(self.node.value(
            "SELECT count(*) FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
            " JOIN dir_object o ON o.id = b.account_id"
            " WHERE o.name = :'p1' AND b.name = :'p2'", user, mailbox))

    def stored(self, user, mailbox="INBOX"):
        """[(uid, raw octets)] of a mailbox, in UID order."""
        rows = self.node.sql(
            "SELECT p.uid, encode(m.raw, 'hex') FROM mailbox_pointer p"
            " JOIN mailbox b ON b.id = p.mailbox_id JOIN dir_object o ON o.id = b.account_id"
            " JOIN message m ON m.id = p.message_id"
            " WHERE o.name = :'p1' AND b.name = :'p2' ORDER BY p.uid", user, mailbox)
        return [(int(r[0]), bytes.fromhex(r[1])) for r in rows]

    # ---- delivery ---------------------------------------------------------

    def deliver(self, user, raw=None, subject="test", timeout=30):
        """Delivers raw (default: message(user, subject)) to user's INBOX through
        LMTP, the gateway and the Postman; returns the new UID."""
        if not self.DELIVERY:
            raise AssertionError("DELIVERY = False in this module")
        if raw is None:
            raw = message("%s@%s" % (user, DOMAIN), subject)
        before = self.mailbox_row(user)["uidnext"]
        lmtp_send(self.lmtp_port, "%s@%s" % (user, DOMAIN), raw)
        wait_until(lambda: self.mailbox_row(user)["uidnext"] > before, timeout,
                   what="delivery to " + user)
        return int(self.node.value(
            "SELECT max(p.uid) FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
            " JOIN dir_object o ON o.id = b.account_id"
            " WHERE o.name = :'p1' AND b.name = 'INBOX'", user))

    @classmethod
    def template(cls, size=2000):
        """The message id of an analysed bulk template with a body of ~size octets
        (delivered once per size)."""
        if cls._template is None:
            cls._template = {}
        if size not in cls._template:
            raw = BULK.replace(b"{rcpt}", ("%s@%s" % (TEMPLATE_USER, DOMAIN)).encode())
            raw += bulk_body(size)
            n = cls.node
            q = ("SELECT max(p.uid) FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
                 " JOIN dir_object o ON o.id = b.account_id WHERE o.name = :'p1'")
            before = int(n.value(q, TEMPLATE_USER) or 0)
            lmtp_send(cls.lmtp_port, "%s@%s" % (TEMPLATE_USER, DOMAIN), raw)
            wait_until(lambda: int(n.value(q, TEMPLATE_USER) or 0) > before, 30,
                       what="bulk template delivered")
            tid = n.value("SELECT p.message_id FROM mailbox_pointer p JOIN mailbox b"
                          " ON b.id = p.mailbox_id JOIN dir_object o ON o.id = b.account_id"
                          " JOIN message m ON m.id = p.message_id"
                          " WHERE o.name = :'p1' AND m.envelope IS NOT NULL"
                          " ORDER BY p.uid DESC LIMIT 1", TEMPLATE_USER)
            if tid is None:
                raise AssertionError("the bulk template was stored without its analysis")
            cls._template[size] = int(tid)
        return cls._template[size]

    def bulk(self, user, n, mailbox="INBOX", flags=0, size=2000, first=1,
             internaldate="2025-11-25 20:37:23+00"):
        """Adds n distinct analysed messages to user's mailbox in one statement:
        Subject "bulk NNNNNNNNN" and Message-ID <NNNNNNNNN.bulk@test> numbered
        from first. Returns the UIDs given."""
        tid = self.template(size)
        mid = self.mailbox_id(user, mailbox)
        if mid is None:
            raise AssertionError("no mailbox %s of %s" % (mailbox, user))
        rows = self.node.sql(BULK_SQL, tid, mid, first, n, flags, internaldate)
        return [int(r[0]) for r in rows]

    # ---- logs -------------------------------------------------------------

    @classmethod
    def log_text(cls, instance=None):
        """The IMAP4SRV log(s) of the node."""
        text = ""
        for i in range(1, cls.INSTANCES + 1) if instance is None else (instance,):
            path = os.path.join(cls.node.home.log_dir, "%s_imap%02d.log" % (cls.node.node, i))
            try:
                with open(path, errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text


# Clones of the template :p1 numbered :p3 .. :p3+:p4-1 into mailbox :p2, as
# store_deliver does it: uidnext and highestmodseq of the locked row, one
# modseq per pointer. The number replaces the fixed-width BULK_NUM in the
# octets (same length: size, header_size and section offsets stay valid)
# and in the cached header fields, envelope and header rows.
BULK_SQL = """
WITH t AS (SELECT * FROM message WHERE id = :'p1'::bigint),
g AS (SELECT g AS i, lpad(g::text, 9, '0') AS num
        FROM generate_series(:'p3'::bigint, :'p3'::bigint + :'p4'::bigint - 1) g),
m AS (INSERT INTO message (size, raw, header_size, hdr_date, hdr_subject, hdr_from, hdr_to,
                           hdr_cc, hdr_bcc, hdr_message_id, hdr_in_reply_to, envelope,
                           bodystructure, body, sections)
      SELECT t.size,
             overlay(overlay(t.raw placing convert_to(g.num, 'UTF8')
                             from position('\\x303030303030303030'::bytea in t.raw))
                     placing convert_to(g.num, 'UTF8')
                     from position('\\x3c303030303030303030'::bytea in t.raw) + 1),
             t.header_size, t.hdr_date, replace(t.hdr_subject, '000000000', g.num),
             t.hdr_from, t.hdr_to, t.hdr_cc, t.hdr_bcc,
             replace(t.hdr_message_id, '000000000', g.num), t.hdr_in_reply_to,
             replace(t.envelope, '000000000', g.num), t.bodystructure, t.body, t.sections
        FROM t CROSS JOIN g ORDER BY g.i
      RETURNING id, hdr_subject),
h AS (INSERT INTO message_header (message_id, seq, name, value)
      SELECT m.id, x.seq, x.name,
             replace(x.value, '000000000', substring(m.hdr_subject from 6))
        FROM m CROSS JOIN message_header x WHERE x.message_id = :'p1'::bigint),
l AS (SELECT id, uidnext, highestmodseq FROM mailbox WHERE id = :'p2'::bigint FOR UPDATE),
n AS (SELECT m.id, row_number() OVER (ORDER BY m.id) AS k FROM m),
p AS (INSERT INTO mailbox_pointer (mailbox_id, uid, message_id, flags, internaldate, modseq)
      SELECT l.id, l.uidnext + n.k - 1, n.id, :'p5'::smallint, :'p6'::timestamptz,
             l.highestmodseq + n.k
        FROM l CROSS JOIN n
      RETURNING uid, modseq),
u AS (UPDATE mailbox b SET uidnext = x.uid + 1, highestmodseq = x.modseq
        FROM (SELECT max(uid) AS uid, max(modseq) AS modseq FROM p) x
       WHERE b.id = :'p2'::bigint)
SELECT uid FROM p ORDER BY uid
"""


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _logout(c):
    try:
        c.logout()
    except Exception:  # already gone: nothing to tidy
        pass


# ---------------------------------------------------------------- Dovecot
def make_certificate(directory, uid=None, gid=None):
    """A self-signed certificate for 127.0.0.1 in directory: (cert, key) paths."""
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if uid is not None:
        pgcluster.chown_tree(directory, uid, gid)
    os.chmod(key, 0o600)
    return cert, key


class Dovecot:
    """A private Dovecot 2.3 (`dovecot -F -c FILE`): IMAP, IMAPS and LMTP on
    free loopback ports, maildir under a temporary directory, passwd-file
    users with plaintext passwords. The reference that bench/imap measures
    against, and a way to check what a real client expects of a server
    (test_imap_clients with OFC_IMAP_SERVER=dovecot).

        d = Dovecot(["alice", "bob"], PASSWORD)   # started
        d.port, d.sport, d.lmtp_port, d.cert
        lmtp_send(d.lmtp_port, "alice", raw)       # user names without domain
        d.close()
    """

    def __init__(self, users, password=PASSWORD, extra_conf="", limits=None):
        import shutil
        import tempfile
        if shutil.which("dovecot") is None or not os.path.exists("/usr/lib/dovecot/imap"):
            raise unittest.SkipTest("Dovecot IMAP is not installed (dovecot-imapd)")
        self.dir = tempfile.mkdtemp(prefix="ofc-dovecot-")
        os.chmod(self.dir, 0o755)
        uid, gid = pgcluster.ensure_run_user()
        ports = set()
        while len(ports) < 3:
            ports.add(pgcluster.free_port())
        self.port, self.sport, self.lmtp_port = sorted(ports)
        for d in ("run", "state", "mail", "tls"):
            os.makedirs(os.path.join(self.dir, d))
        os.chown(os.path.join(self.dir, "mail"), uid, gid)
        self.cert, key = make_certificate(os.path.join(self.dir, "tls"))
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u in users:
                f.write("%s:{PLAIN}%s:%d:%d::%s/mail/%s::\n" % (u, password, uid, gid, self.dir, u))
        limits = limits or ""
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write("""
base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <%(d)s/tls/cert.pem
ssl_key = <%(d)s/tls/key.pem
disable_plaintext_auth = no
auth_username_format = %%Ln
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
}
%(limits)s
passdb {
  driver = passwd-file
  args = %(d)s/passwd
}
userdb {
  driver = passwd-file
  args = %(d)s/passwd
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(p)d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %(s)d
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %(l)d
  }
}
service anvil {
  chroot =
}
%(extra)s
""" % {"d": self.dir, "p": self.port, "s": self.sport, "l": self.lmtp_port, "limits": limits,
       "extra": extra_conf})
        self.proc = subprocess.Popen(["dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_until(lambda: all(_listening(p) for p in (self.port, self.sport,
                                                           self.lmtp_port)),
                       30, what="dovecot listening")
        except AssertionError:
            self.close()
            raise

    def log(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def close(self):
        import shutil
        if self.proc.poll() is None:
            self.proc.send_signal(15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
