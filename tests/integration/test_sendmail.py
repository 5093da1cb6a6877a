"""The real sendmail in front of ofcmail: the Installation Guide's
"Sending a Test E-mail" (`sendmail -v user1`) with the Mofcmail mailer and
aliases exactly as docs/sendmail.md documents them.

Debian's sendmail runs privately (see ../shared/notes/sendmail-private.md):
its own .cf built from an .mc with m4, its own aliases, queue, pid and
service-switch files in a temporary directory, no daemon, no port, and
`-odi` so that each run delivers in the foreground. It runs in a private
UTS namespace with a dotted host name: with an unqualified one, sendmail
pauses 60 s at every start looking up its own name.

The mailer definition and the ruleset lines are read from docs/sendmail.md
(its $HOME and SID replaced by the test node's), so a wrong line in the
documentation fails here.

Needs root (unshare, and sendmail switching to U=ofcmail:ofcmail), m4 and
sendmail (scripts/debian-packages.txt); skipped otherwise.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import unittest

import ofctest
from ofctest import BIN_DIR, SOURCE_DIR, Node, TestCase, pgcluster, wait_until

SENDMAIL = "/usr/sbin/sendmail"
CF_M4 = "/usr/share/sendmail/cf/m4/cf.m4"
DOC = os.path.join(SOURCE_DIR, "docs", "sendmail.md")
HOSTNAME = "localhost.localdomain"
USER1_PASSWORD = "User1-test-pw"

# The guide's test message, typed at the terminal: one line, then ".".
GUIDE_INPUT = b"first test message.\n.\n"
GUIDE_BODY = b"first test message.\n"


def missing_tools():
    if os.geteuid() != 0:
        return "needs root (unshare --uts, sendmail's U=)"
    for path in (SENDMAIL, CF_M4):
        if not os.path.exists(path):
            return "%s is missing (apt-get install sendmail-bin sendmail-cf)" % path
    for tool in ("m4", "unshare", "hostname"):
        if shutil.which(tool) is None:
            return "%s is missing" % tool
    return None


def doc_config(home, sid):
    """The Mofcmail definition (two lines), the ruleset lines and the alias
    example of docs/sendmail.md, the definition's $HOME and SID replaced."""
    with open(DOC) as f:
        lines = f.read().split("\n")
    mailer, rules, alias = None, [], None
    for i, line in enumerate(lines):
        if line.startswith("    Mofcmail,") and mailer is None:
            mailer = [line[4:], lines[i + 1][4:]]
        elif line.startswith("    R$+"):
            rules.append(line[4:])
        elif line.startswith("    user1:") and alias is None:
            alias = line[4:]
    if mailer is None or not rules or alias is None:
        raise AssertionError("docs/sendmail.md: Mofcmail definition, rules or alias not found")
    # The binaries of the build under test, not <home>/bin.
    mailer = [l.replace("P=$HOME/bin/ofcuto", "P=" + os.path.join(BIN_DIR, "ofcuto"))
              .replace("$HOME", home).replace(" SID ", " %s " % sid) for l in mailer]
    return mailer, rules, alias


class PrivateSendmail:
    """A sendmail configuration, alias database and queue in a temporary
    directory; run() runs sendmail on it in the foreground."""

    def __init__(self, mailer, rules, aliases):
        self.dir = tempfile.mkdtemp(prefix="ofc-sendmail-")
        ofctest._cleanups.append(lambda: shutil.rmtree(self.dir, ignore_errors=True))
        os.chmod(self.dir, 0o755)
        self.queue = os.path.join(self.dir, "queue")
        os.mkdir(self.queue, 0o700)  # root:root 0700, else sendmail refuses it
        self.cf = os.path.join(self.dir, "sendmail.cf")
        self.aliases = os.path.join(self.dir, "aliases")
        with open(self.aliases, "w") as f:
            f.write("".join(a + "\n" for a in aliases))
        self.switch = os.path.join(self.dir, "service.switch")
        with open(self.switch, "w") as f:
            f.write("hosts files\naliases files\npasswd files\n")
        for name in ("statistics",):
            open(os.path.join(self.dir, name), "w").close()
        mc = os.path.join(self.dir, "sendmail.mc")
        d = self.dir
        with open(mc, "w") as f:
            f.write("divert(-1)\n"
                    "divert(0)dnl\n"
                    "include(`%s')dnl\n" % CF_M4 +
                    "VERSIONID(`ofcmail private test configuration')dnl\n"
                    # Nothing may reach a system mailbox: the local mailer fails.
                    "define(`PROCMAIL_MAILER_PATH', `/bin/false')dnl\n"
                    "OSTYPE(`linux')dnl\n"
                    "define(`confDOMAIN_NAME', `%s')dnl\n" % HOSTNAME +
                    "define(`confDONT_PROBE_INTERFACES', `True')dnl\n"
                    "define(`ALIAS_FILE', `%s/aliases')dnl\n" % d +
                    "define(`QUEUE_DIR', `%s/queue')dnl\n" % d +
                    "define(`STATUS_FILE', `%s/statistics')dnl\n" % d +
                    "define(`confPID_FILE', `%s/sendmail.pid')dnl\n" % d +
                    "define(`confSERVICE_SWITCH_FILE', `%s/service.switch')dnl\n" % d +
                    "define(`confHOST_STATUS_DIRECTORY', `')dnl\n"
                    # The alias database lives under /tmp (sticky, world-writable).
                    "define(`confDONT_BLAME_SENDMAIL', `TrustStickyBit')dnl\n"
                    "FEATURE(`nocanonify')dnl\n"
                    "FEATURE(`no_default_msa')dnl\n"
                    "MAILER(`local')dnl\n"
                    "MAILER(`smtp')dnl\n"
                    "MAILER_DEFINITIONS\n" + "\n".join(mailer) + "\n"
                    "LOCAL_RULE_0\n" + "\n".join(rules) + "\n")
        r = subprocess.run(["m4", mc], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise AssertionError("m4 %s failed:\n%s" % (mc, r.stderr.decode(errors="replace")))
        with open(self.cf, "wb") as f:
            f.write(r.stdout)
        r = self.run(["-bi"])
        if r.returncode != 0:
            raise AssertionError("sendmail -bi failed (%d):\n%s%s" % (r.returncode, r.stdout,
                                                                       r.stderr))

    def run(self, args, data=b"", timeout=30):
        """sendmail on this configuration and queue, in a UTS namespace
        whose host name is dotted; returns the CompletedProcess (text)."""
        argv = ["unshare", "--uts", "sh", "-c",
                'hostname %s && exec %s "$@"' % (HOSTNAME, SENDMAIL), "sendmail",
                "-C", self.cf, "-oQ" + self.queue] + list(args)
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
        r = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=env, timeout=timeout)
        r.stdout = r.stdout.decode(errors="replace")
        r.stderr = r.stderr.decode(errors="replace")
        return r

    def send(self, rcpts, data, *opts):
        return self.run(["-odi"] + list(opts) + ["--"] + list(rcpts), data)

    def queued(self):
        """The queue listing (-bp)."""
        return self.run(["-bp"]).stdout


def demote(uid, gid):
    def fn():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    return fn


def cluster_stop(c):
    c._run([os.path.join(pgcluster.pg_bindir(), "pg_ctl"), "-D", c.data, "-m", "fast", "-w",
            "stop"])


def cluster_start(c):
    opts = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=200 -c shared_buffers=64MB" % (c.port, c.sockdir))
    c._run([os.path.join(pgcluster.pg_bindir(), "pg_ctl"), "-D", c.data, "-l", c.logfile,
            "-o", opts, "-w", "-t", "60", "start"])


def add_user(node, name, password):
    """A PERSON with an account and INBOX: oomgr's `insert person`, as an
    administrator would; plain SQL when this build's oomgr lacks it."""
    r = node.oomgr("insert person username=%s password=%s uanode=%s;\n"
                   % (name, password, node.node))
    if r.returncode == 0 and node.value(
            "SELECT count(*) FROM mailbox b JOIN dir_object o ON o.id = b.account_id"
            " WHERE o.name = :'p1' AND b.name = 'INBOX'", name) == "1":
        return int(node.value("SELECT id FROM dir_object WHERE name = :'p1'", name))
    if node.value("SELECT count(*) FROM dir_object WHERE name = :'p1'", name) != "0":
        raise AssertionError("oomgr insert person half done:\n%s%s" % (r.stdout, r.stderr))
    oid = node.value("INSERT INTO dir_object (domain_id, class, name)"
                     " SELECT id, 'PERSON', :'p1' FROM domain WHERE fqdn = :'p2' RETURNING id",
                     name, node.domain)
    node.sql("INSERT INTO account (object_id, object_class, home_node_id)"
             " SELECT :'p1'::bigint, 'PERSON', id FROM node WHERE is_local", oid)
    node.sql("INSERT INTO mailbox (account_id, name) VALUES (:'p1'::bigint, 'INBOX')", oid)
    return int(oid)


@unittest.skipIf(missing_tools(), missing_tools())
class SendmailTest(TestCase):
    @classmethod
    def setUpClass(cls):
        cls.node = Node()
        n = cls.node
        cls.user1 = add_user(n, "user1", USER1_PASSWORD)
        cls.user2 = add_user(n, "user2", USER1_PASSWORD)
        mailer, rules, alias = doc_config(n.home.dir, n.home.sid)
        # The guide's alias, one for the sender of the bounce test, and
        # the names sendmail itself may write to, kept inside ofcmail.
        aliases = [alias, "user2: user2.ofcmail", "postmaster: user2.ofcmail",
                   "root: user2.ofcmail", "MAILER-DAEMON: postmaster"]
        cls.sm = PrivateSendmail(mailer, rules, aliases)

    @classmethod
    def tearDownClass(cls):
        cls.node.close()

    def setUp(self):
        self.node.sql("DELETE FROM gateway_in")

    def gateway_in(self):
        return [(r[0], r[1], bytes.fromhex(r[2])) for r in self.node.sql(
            "SELECT sender, recipients::text, encode(raw, 'hex') FROM gateway_in ORDER BY id")]

    def assertSent(self, r, status=0):
        self.assertEqual(r.returncode, status, "sendmail exit %d\nstdout:\n%s\nstderr:\n%s"
                         % (r.returncode, r.stdout, r.stderr))

    def test_guide_test_message(self):
        """`sendmail -v user1`: aliased to user1.ofcmail, the ofcmail
        mailer, stored in gateway_in with the body as typed."""
        r = self.sm.run(["-v", "-odi", "user1"], GUIDE_INPUT)
        self.assertSent(r)
        self.assertIn("aliased to user1.ofcmail", r.stdout)
        self.assertIn("user1.ofcmail... Sent", r.stdout)
        rows = self.gateway_in()
        self.assertEqual(len(rows), 1, rows)
        sender, rcpts, raw = rows[0]
        # S=10 and R=20 are empty rulesets in an m4-built .cf: unqualified.
        self.assertEqual(sender, "root")
        self.assertEqual(rcpts, "{user1}")
        # U=ofcmail:ofcmail without F=S: ofcuto's real uid is the node's user.
        self.assertEqual(self.node.value("SELECT client FROM gateway_in"),
                         "ofcuto uid=%d name=root" % self.node.home.uid)
        head, sep, body = raw.partition(b"\n\n")
        self.assertEqual(sep, b"\n\n", raw)
        self.assertEqual(body, GUIDE_BODY)
        # Headers sendmail adds for F=DFM, with the name from $x.
        for field in (b"Date: ", b"From: ", b"Message-Id: "):
            self.assertIn(b"\n" + field, b"\n" + head)

    def test_address_forms_and_8bit(self):
        """user.ofcmail@<host> and an upper-case suffix reach the mailer; the
        body's octets (8-bit, a leading dot with -oi) pass unchanged."""
        msg = (b"From: Sender <sender@example.org>\nTo: user1\nSubject: 8bit\n\n"
               b"caf\xe9 \xff\n.leading dot\n\n  trailing blank lines\n\n")
        r = self.sm.send(["user1.ofcmail@" + HOSTNAME, "USER2.OFCMAIL"], msg, "-oi",
                         "-f", "sender@example.org")
        self.assertSent(r)
        rows = self.gateway_in()
        self.assertEqual(len(rows), 1, rows)
        sender, rcpts, raw = rows[0]
        self.assertEqual(sender, "sender@example.org")
        # Without F=u sendmail passes user names in lower case.
        self.assertEqual(sorted(rcpts.strip("{}").split(",")), ["user1", "user2"])
        self.assertEqual(raw.partition(b"\n\n")[2], msg.partition(b"\n\n")[2])
        self.assertIn(b"\nSubject: 8bit\n", raw)

    def test_unknown_user_67_and_bounce(self):
        """ofcuto's 67: sendmail exits 67 and returns a DSN to the (local)
        sender, which comes back through the ofcmail mailer."""
        r = self.sm.send(["ghost.ofcmail"], b"Subject: to nobody\n\nhello\n", "-f", "user2")
        self.assertSent(r, 67)
        rows = self.gateway_in()
        self.assertEqual(len(rows), 1, rows)
        sender, rcpts, raw = rows[0]
        self.assertEqual((sender, rcpts), ("", "{user2}"))
        self.assertIn(b"multipart/report", raw)
        self.assertIn(b"user unknown: ghost", raw)
        self.assertIn(b"Subject: to nobody", raw)
        self.assertIn("queue is empty", self.sm.queued())

    def test_database_down_75_queued_then_delivered(self):
        """ofcuto's 75: sendmail keeps the message in its queue (exit 0);
        after the database is back, a queue run delivers it."""
        c = self.node.cluster
        body = b"sent while the database was down\n"
        cluster_stop(c)
        try:
            r = self.sm.send(["user1"], b"Subject: later\n\n" + body, "-f", "sender@example.org")
            self.assertSent(r)
            listing = self.sm.queued()
            self.assertIn("Total requests: 1", listing)
            self.assertIn("user1.ofcmail", listing)
            self.assertIn("Deferred: ofcmail mailer", listing)
        finally:
            cluster_start(c)
        self.assertEqual(self.gateway_in(), [])
        r = self.sm.run(["-q", "-v"])
        self.assertSent(r)
        self.assertIn("user1.ofcmail... Sent", r.stdout)
        rows = self.gateway_in()
        self.assertEqual(len(rows), 1, rows)
        self.assertEqual(rows[0][:2], ("sender@example.org", "{user1}"))
        self.assertEqual(rows[0][2].partition(b"\n\n")[2], body)
        self.assertIn("queue is empty", self.sm.queued())

    def test_to_inbox(self):
        """The whole flow: sendmail -v user1, the inbound gateway and the
        Postman; the message is in user1's INBOX."""
        for exe in ("ofcgwind", "ofcomd"):
            if not os.path.exists(os.path.join(BIN_DIR, exe)):
                self.skipTest("%s is not built" % exe)
        n = self.node
        r = self.sm.run(["-v", "-odi", "user1"], GUIDE_INPUT)
        self.assertSent(r)
        if n.value("SELECT count(*) FROM process WHERE type = 'POSTMAN'") == "0":
            n.sql("INSERT INTO process (node_id, type, instance)"
                  " SELECT id, 'POSTMAN', 1 FROM node WHERE is_local")
        h = n.home
        procs = []
        out = tempfile.TemporaryFile()
        try:
            for argv in ([os.path.join(BIN_DIR, "ofcgwind"), "-c", h.config, "-f"],
                         [os.path.join(BIN_DIR, "ofcomd"), "-c", h.config, "-f", "instance=1"]):
                procs.append(subprocess.Popen(argv, stdout=out, stderr=out,
                                              preexec_fn=demote(h.uid, h.gid)))
            raw = wait_until(lambda: n.value(
                "SELECT encode(m.raw, 'hex') FROM mailbox_pointer p"
                " JOIN mailbox b ON b.id = p.mailbox_id JOIN message m ON m.id = p.message_id"
                " WHERE b.account_id = :'p1'::bigint AND b.name = 'INBOX'", self.user1),
                30, what="the message in user1's INBOX")
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(30)
            out.seek(0)
            log = out.read().decode(errors="replace")
            out.close()
        for p in procs:
            self.assertEqual(p.returncode, 0, log)
        self.assertNotIn("runtime error", log)
        # Stored with CRLF line ends, as IMAP and POP3 will serve it.
        self.assertTrue(bytes.fromhex(raw).endswith(b"\r\n\r\n" + GUIDE_BODY.replace(b"\n", b"\r\n")),
                        raw)
        self.assertEqual(n.value("SELECT count(*) FROM gateway_in"), "0")
        self.assertEqual(n.value("SELECT count(*) FROM submission"), "0")


if __name__ == "__main__":
    unittest.main()
