"""imap4srv with real clients, end to end: curl (imap://, imaps://, STARTTLS;
listing, searching, fetching whole messages and sections, uploading),
openssl s_client (-starttls imap, and implicit TLS), mbsync (isync)
syncing a mailbox of 1,000 messages to a local Maildir and back (flags,
deletions, a move to another folder, a new message; then changes made on
the server pulled down), fetchmail (keep, then fetch-and-delete, over
IMAPS) and mutt (batch: a pseudo-terminal running pushed keys: tag,
flag, save to another folder, delete, sync).

The server's state afterwards is read with SQL (mailbox_pointer flags by
Message-ID) and, as a cross-check, over IMAP.

OFC_IMAP_SERVER=dovecot runs the same tests against a private Dovecot
(imaptest.Dovecot) instead of ofcmail: what the clients expect of any
server, with the checks over IMAP only. A client that is not installed is
skipped with its package named (scripts/debian-packages.txt, Test).
"""
import imaplib
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import imaptest
from imaptest import BULK, BULK_NUM, DOMAIN, PASSWORD, Dovecot, ImapTestCase, bulk_body, \
    lmtp_send, message
from ofctest import wait_until

SERVER = os.environ.get("OFC_IMAP_SERVER", "ofcmail")
FLAG_BITS = ((1, "\\Seen"), (2, "\\Answered"), (4, "\\Flagged"), (8, "\\Deleted"),
             (16, "\\Draft"))
MAILDIR_FLAGS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen",
                 "T": "\\Deleted"}


def need(tool, package):
    if shutil.which(tool) is None:
        raise unittest.SkipTest("%s is not installed (Debian package %s)" % (tool, package))


def msgid(n):
    return "<%09d.bulk@test>" % n


def bulk_message(user, n, size=1500):
    raw = BULK.replace(b"{rcpt}", ("%s@%s" % (user, DOMAIN)).encode())
    return raw.replace(BULK_NUM, b"%09d" % n) + bulk_body(size)


def run(argv, timeout=300, **kw):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, **kw)


class ImapClientsTest(ImapTestCase):
    USERS = ["curl", "curltls", "curlup", "ossl", "sync", "fetch", "fetchidle", "mutt"]

    @classmethod
    def setUpClass(cls):
        cls.dovecot = None
        if SERVER == "dovecot":
            cls.dovecot = d = Dovecot(cls.USERS)
            cls.port, cls.sport, cls.lmtp_port, cls.cert = d.port, d.sport, d.lmtp_port, d.cert
        else:
            super().setUpClass()
        cls.tmp = tempfile.mkdtemp(prefix="ofc-imapclients-")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        if cls.dovecot is not None:
            cls.dovecot.close()
        else:
            super().tearDownClass()

    # ---- the server, whichever it is ----------------------------------------

    def put(self, user, raw):
        """Delivers raw to user's INBOX."""
        if self.dovecot is not None:
            lmtp_send(self.lmtp_port, user, raw)
        else:
            self.deliver(user, raw)

    def fill(self, user, n, first=1):
        """n bulk messages (Message-IDs msgid(first..first+n-1)) into user's INBOX."""
        if self.dovecot is not None:
            lmtp_many(self.lmtp_port, user, [bulk_message(user, i)
                                             for i in range(first, first + n)])
        else:
            self.bulk(user, n, size=1500, first=first)

    def imap_state(self, user, mailbox="INBOX"):
        """{Message-ID: set of flags} of a mailbox, over IMAP (EXAMINE: nothing changes)."""
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        try:
            c.login(user, PASSWORD)
            typ, data = c.select('"%s"' % mailbox, readonly=True)
            self.assertEqual(typ, "OK", data)
            if int(data[0]) == 0:
                return {}
            typ, data = c.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            self.assertEqual(typ, "OK", data)
        finally:
            try:
                c.logout()
            except Exception:  # gone already
                pass
        out = {}
        for item in data:
            if not isinstance(item, tuple):
                continue
            flags = re.search(rb"FLAGS \(([^)]*)\)", item[0])
            m = re.search(rb"<[^>]*>", item[1])
            self.assertIsNotNone(flags, item)
            self.assertIsNotNone(m, item)
            out[m.group(0).decode()] = set(f.decode() for f in flags.group(1).split()
                                           if f != b"\\Recent")
        return out

    def imap_dates(self, user, mailbox="INBOX"):
        """{Message-ID: INTERNALDATE as the server writes it} over IMAP."""
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        try:
            c.login(user, PASSWORD)
            typ, data = c.select('"%s"' % mailbox, readonly=True)
            self.assertEqual(typ, "OK", data)
            typ, data = c.fetch("1:*", "(INTERNALDATE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            self.assertEqual(typ, "OK", data)
        finally:
            try:
                c.logout()
            except Exception:  # gone already
                pass
        out = {}
        for item in data:
            if isinstance(item, tuple):
                d = re.search(rb'INTERNALDATE "([^"]*)"', item[0])
                self.assertIsNotNone(d, item)
                out[re.search(rb"<[^>]*>", item[1]).group(0).decode()] = d.group(1).decode()
        return out

    def state(self, user, mailbox="INBOX"):
        """{Message-ID: set of flags}: from SQL for ofcmail (checked against what
        IMAP says), over IMAP for Dovecot."""
        seen = self.imap_state(user, mailbox)
        if self.dovecot is not None:
            return seen
        rows = self.node.sql(
            "SELECT m.hdr_message_id, p.flags, array_to_string(p.keywords, ' ')"
            " FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
            " JOIN dir_object o ON o.id = b.account_id JOIN message m ON m.id = p.message_id"
            " WHERE o.name = :'p1' AND b.name = :'p2' ORDER BY p.uid", user, mailbox)
        out = {}
        for mid, bits, kw in rows:
            flags = set(name for bit, name in FLAG_BITS if int(bits) & bit)
            flags |= set(kw.split()) if kw else set()
            out[mid] = flags
        self.assertEqual(out, seen, "SQL and IMAP disagree on %s/%s" % (user, mailbox))
        return out

    def raw_of(self, user, uid, mailbox="INBOX"):
        if self.dovecot is None:
            return dict(self.stored(user, mailbox))[uid]
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        c.login(user, PASSWORD)
        c.select(mailbox, readonly=True)
        typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[])")
        c.logout()
        return data[0][1]

    # ---- curl -----------------------------------------------------------------

    def curl(self, url, *args, user="curl"):
        need("curl", "curl")
        r = run(["curl", "-sS", "--max-time", "60", "--user", "%s:%s" % (user, PASSWORD)]
                + list(args) + [url], timeout=90)
        self.assertEqual(r.returncode, 0, "curl %s %s: exit %d\n%s"
                         % (" ".join(args), url, r.returncode, r.stderr.decode(errors="replace")))
        return r.stdout

    def test_curl_imap_list_search_fetch(self):
        self.put("curl", message("curl@com", "curl-one", body=b"line one\r\nline two \xe9\r\n"))
        self.put("curl", message("curl@com", "curl-two"))
        # The stored octets (delivery adds trace fields).
        raw, raw2 = self.raw_of("curl", 1), self.raw_of("curl", 2)
        base = "imap://127.0.0.1:%d" % self.port
        listing = self.curl(base + "/")
        self.assertRegex(listing, rb'\* LIST \([^)]*\) "/" "?INBOX"?\r\n')
        # UID=1 is the first message; the body is the stored octets exactly.
        self.assertEqual(self.curl(base + "/INBOX;UID=1"), raw)
        head, body = raw.split(b"\r\n\r\n", 1)
        self.assertEqual(self.curl(base + "/INBOX;UID=1;SECTION=HEADER"), head + b"\r\n\r\n")
        self.assertEqual(self.curl(base + "/INBOX;UID=1;SECTION=TEXT"), body)
        self.assertEqual(self.curl(base + "/INBOX;UID=1;SECTION=1"), body)
        self.assertEqual(self.curl(base + "/INBOX;MAILINDEX=2"), raw2)
        self.assertRegex(self.curl(base + "/INBOX?ALL"), rb"\* SEARCH 1 2\r\n")
        self.assertRegex(self.curl(base + "/INBOX?SUBJECT%20curl-two"), rb"\* SEARCH 2\r\n")
        out = self.curl(base + "/", "-X", "EXAMINE INBOX")
        self.assertIn(b"* 2 EXISTS\r\n", out)
        self.assertRegex(out, rb"\* OK \[UIDVALIDITY \d+\]")
        out = self.curl(base + "/INBOX", "-X", "UID FETCH 1:* (FLAGS RFC822.SIZE)")
        self.assertIn(b"RFC822.SIZE %d" % len(raw), out)
        out = self.curl(base + "/", "-X", 'STATUS INBOX (MESSAGES UIDNEXT)')
        self.assertRegex(out, rb"\* STATUS \"?INBOX\"? \(MESSAGES 2 UIDNEXT 3\)")

    def test_curl_imaps_and_starttls(self):
        self.put("curltls", message("curltls@com", "curl-tls"))
        raw = self.raw_of("curltls", 1)
        url = "imaps://127.0.0.1:%d/INBOX;UID=1" % self.sport
        self.assertEqual(self.curl(url, "-k", user="curltls"), raw)
        self.assertEqual(self.curl(url, "--cacert", self.cert, user="curltls"), raw)
        # STARTTLS required on the plain port, the certificate verified.
        url = "imap://127.0.0.1:%d/INBOX;UID=1" % self.port
        self.assertEqual(self.curl(url, "--ssl-reqd", "--cacert", self.cert, user="curltls"),
                         raw)
        listing = self.curl("imaps://127.0.0.1:%d/" % self.sport, "-k", user="curltls")
        self.assertIn(b"INBOX", listing)

    def test_curl_upload_append(self):
        # curl -T sends APPEND with a synchronising literal of the file's octets.
        raw = message("curlup@com", "curl-up", body=b"8-bit \xe9\xe8\r\n.dot\r\n\r\nend\r\n")
        path = os.path.join(self.tmp, "up.eml")
        with open(path, "wb") as f:
            f.write(raw)
        self.curl("imap://127.0.0.1:%d/INBOX" % self.port, "-T", path, user="curlup")
        self.assertEqual(list(self.imap_state("curlup")), ["<curl-up@test>"])
        self.assertEqual(self.curl("imap://127.0.0.1:%d/INBOX;UID=1" % self.port,
                                   user="curlup"), raw)
        if self.dovecot is None:
            self.assertEqual(self.stored("curlup"), [(1, raw)])

    # ---- openssl s_client -------------------------------------------------------

    def s_client(self, args, script):
        need("openssl", "openssl")
        r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % args[0], "-CAfile", self.cert,
                 "-verify_return_error", "-quiet"] + args[1:],
                input=script, timeout=60)
        return r

    def test_openssl_starttls_and_imaps(self):
        self.put("ossl", message("ossl@com", "ossl"))
        script = ('a LOGIN ossl "%s"\r\nb SELECT INBOX\r\nc FETCH 1 (FLAGS BODY[HEADER.FIELDS'
                  ' (SUBJECT)])\r\nd LOGOUT\r\n' % PASSWORD).encode()
        for args in ([self.port, "-starttls", "imap"], [self.sport]):
            r = self.s_client(args, script)
            out = r.stdout
            self.assertRegex(out, rb"(?m)^a OK")
            self.assertRegex(out, rb"(?m)^\* 1 EXISTS\r$")
            self.assertRegex(out, rb"(?m)^b OK \[READ-WRITE\]")
            self.assertIn(b"Subject: ossl\r\n\r\n)", out)
            self.assertIn(b"\\Seen", out)
            self.assertRegex(out, rb"(?m)^\* BYE")
            self.assertRegex(out, rb"(?m)^d OK")
            self.assertIn(b"depth=0 CN = localhost\nverify return:1", r.stderr)

    def test_tls_close_notify_after_logout(self):
        # RFC 8446 6.1: each side sends close_notify before closing its write
        # side. OpenSSL 3 clients (s_client, curl, Python) report a bare TCP
        # close after LOGOUT as "unexpected eof while reading"; s_client exits 1.
        script = ('a LOGIN ossl "%s"\r\nd LOGOUT\r\n' % PASSWORD).encode()
        for args in ([self.port, "-starttls", "imap"], [self.sport]):
            r = self.s_client(args, script)
            self.assertRegex(r.stdout, rb"(?m)^d OK")
            self.assertNotIn(b"unexpected eof", r.stderr, args)
            self.assertEqual(r.returncode, 0, "s_client %r: %r\n%r" % (args, r.stdout, r.stderr))

    # ---- mbsync -------------------------------------------------------------------

    def mbsync(self, rc, *args):
        r = run(["mbsync", "-c", rc] + list(args), timeout=600)
        out = (r.stdout + r.stderr).decode(errors="replace")
        self.assertEqual(r.returncode, 0, "mbsync %s: exit %d\n%s"
                         % (" ".join(args), r.returncode, out[-6000:]))
        return out

    def test_mbsync_1000_messages_and_back(self):
        need("mbsync", "isync")
        n = 1000
        self.fill("sync", n)
        d = os.path.join(self.tmp, "mbsync")
        os.makedirs(os.path.join(d, "mail"))
        rc = os.path.join(d, "mbsyncrc")
        with open(rc, "w") as f:
            f.write("""IMAPAccount ofc
Host localhost
Port %(port)d
User sync
Pass "%(pw)s"
SSLType STARTTLS
CertificateFile %(cert)s
PipelineDepth 50

IMAPStore far
Account ofc

MaildirStore near
Path %(d)s/mail/
Inbox %(d)s/mail/INBOX
SubFolders Verbatim

Channel ofc
Far :far:
Near :near:
Patterns *
Create Both
Expunge Both
SyncState *
CopyArrivalDate yes
""" % {"port": self.port, "pw": PASSWORD, "cert": self.cert, "d": d})

        # 1. Down: 1,000 messages into the Maildir, exactly the server's octets.
        t = time.monotonic()
        self.mbsync(rc, "-a")
        pull_s = time.monotonic() - t
        local = maildir(os.path.join(d, "mail", "INBOX"))
        self.assertEqual(len(local), n)
        self.assertEqual(set(local), set(msgid(i) for i in range(1, n + 1)))
        with open(local[msgid(7)][0], "rb") as f:
            # mbsync writes Maildir files with LF line ends and its X-TUID mark.
            self.assertEqual(re.sub(rb"(?m)^X-TUID: .*\n", b"", f.read()),
                             self.raw_of("sync", 7).replace(b"\r\n", b"\n"))

        # INTERNALDATE travels too (CopyArrivalDate: the file's mtime, then APPEND's date).
        dates = self.imap_dates("sync")
        # 2. Local changes: \Seen on 1-100, \Flagged on 101-150, \Answered + \Seen
        # on 151-160, deleted 201-220, moved 301-330 to Archive, one new message.
        for i in range(1, 101):
            set_maildir_flags(local[msgid(i)][0], "S")
        for i in range(101, 151):
            set_maildir_flags(local[msgid(i)][0], "F")
        for i in range(151, 161):
            set_maildir_flags(local[msgid(i)][0], "RS")
        for i in range(201, 221):
            set_maildir_flags(local[msgid(i)][0], "T")
        arch = os.path.join(d, "mail", "Archive")
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(arch, sub))
        for i in range(301, 331):
            path = local[msgid(i)][0]
            # A moved file loses the UID of its old folder (",U=n").
            name = re.sub(r",U=\d+", "", os.path.basename(path))
            if i <= 310:
                name = name.split(":2,")[0] + ":2,S"
            os.rename(path, os.path.join(arch, "cur", name))
        new = message("sync@com", "from-mbsync", body=b"written locally \xe9\r\n")
        with open(os.path.join(d, "mail", "INBOX", "new", "%d.local.ofc" % time.time()),
                  "wb") as f:
            f.write(new)
        t = time.monotonic()
        self.mbsync(rc, "-a")
        push_s = time.monotonic() - t

        # 3. The server's state, per Message-ID.
        inbox = self.state("sync")
        want = {}
        for i in range(1, n + 1):
            if 201 <= i <= 220 or 301 <= i <= 330:
                continue
            want[msgid(i)] = ({"\\Seen"} if i <= 100 else {"\\Flagged"} if i <= 150 else
                              {"\\Seen", "\\Answered"} if i <= 160 else set())
        want["<from-mbsync@test>"] = set()
        self.assertEqual(set(inbox), set(want))
        bad = [(k, inbox[k], want[k]) for k in want if inbox[k] != want[k]]
        self.assertEqual(bad, [])
        archive = self.state("sync", "Archive")
        self.assertEqual(archive, {msgid(i): {"\\Seen"} if i <= 310 else set()
                                   for i in range(301, 331)})
        moved = self.imap_dates("sync", "Archive")
        self.assertEqual(moved, {msgid(i): dates[msgid(i)] for i in range(301, 331)})
        if self.dovecot is None:
            new_uid = max(u for u, _ in self.stored("sync"))
            got = self.raw_of("sync", new_uid)
            # Without UIDPLUS mbsync marks an appended message with X-TUID.
            self.assertTrue(got == new or (b"X-TUID: " in got and got.endswith(new.split(
                b"\r\n\r\n", 1)[1])), got[:300])
            row = self.mailbox_row("sync")
            self.assertEqual(row["messages"], len(want))

        # 4. Changes on the server, pulled down: \Answered on 401-410, 5 new
        # messages, 411-415 expunged.
        c = imaplib.IMAP4("127.0.0.1", self.port, timeout=30)
        c.login("sync", PASSWORD)
        c.select("INBOX")
        typ, data = c.search(None, "HEADER", "Message-ID", ".bulk@test")
        self.assertEqual(typ, "OK")
        typ, data = c.fetch("1:*", "(UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        seq_of = {}
        for item in data:
            if isinstance(item, tuple):
                seq = int(item[0].split()[0])
                seq_of[re.search(rb"<[^>]*>", item[1]).group(0).decode()] = seq
        answered = ",".join(str(seq_of[msgid(i)]) for i in range(401, 411))
        self.assertEqual(c.store(answered, "+FLAGS.SILENT", "(\\Answered)")[0], "OK")
        gone = ",".join(str(seq_of[msgid(i)]) for i in range(411, 416))
        self.assertEqual(c.store(gone, "+FLAGS.SILENT", "(\\Deleted)")[0], "OK")
        self.assertEqual(c.expunge()[0], "OK")
        c.logout()
        self.fill("sync", 5, first=n + 1)
        self.mbsync(rc, "-a")
        local = maildir(os.path.join(d, "mail", "INBOX"))
        for i in range(411, 416):
            self.assertNotIn(msgid(i), local)
            del want[msgid(i)]
        for i in range(n + 1, n + 6):
            want[msgid(i)] = set()
        for i in range(401, 411):
            want[msgid(i)] = {"\\Answered"}
        self.assertEqual({k: v[1] for k, v in local.items()}, want)
        self.assertEqual(self.state("sync"), want)
        # 5. Nothing left to do: a further run changes nothing anywhere.
        self.mbsync(rc, "-a")
        self.assertEqual(self.state("sync"), want)
        self.assertEqual({k: v[1] for k, v in maildir(os.path.join(d, "mail", "INBOX")).items()},
                         want)
        print("\nmbsync (%s): %d messages down in %.1f s, changes up in %.1f s"
              % (SERVER, n, pull_s, push_s))

    # ---- fetchmail -----------------------------------------------------------------

    def fetchmail(self, d, server, options):
        rc = os.path.join(d, "fetchmailrc")
        out = os.path.join(d, "out")
        save = os.path.join(d, "save.sh")
        with open(save, "w") as f:
            f.write("#!/bin/sh\nexec cat > \"$(mktemp %s/msg.XXXXXXXX)\"\n" % out)
        os.chmod(save, 0o755)
        with open(rc, "w") as f:
            f.write('set no bouncemail\nset no syslog\n'
                    'poll 127.0.0.1 with proto IMAP %s\n'
                    '  user "fetch" there with password "%s" is root here\n'
                    '  %s\n'
                    '  mda "%s"\n' % (server, PASSWORD, options, save))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=d)
        r = run(["fetchmail", "-f", rc, "--nodetach", "-v", "--idfile", os.path.join(d, "ids"),
                 "--pidfile", os.path.join(d, "pid")], env=env, timeout=300)
        text = (r.stdout + r.stderr).decode(errors="replace")
        # 0: mail fetched; 1: none there.
        self.assertIn(r.returncode, (0, 1), "fetchmail: exit %d\n%s" % (r.returncode, text[-6000:]))
        got = {}
        for name in os.listdir(out):
            with open(os.path.join(out, name), "rb") as f:
                data = f.read()
            got[re.search(rb"(?im)^Message-ID: (<[^>]*>)", data).group(1).decode()] = data
        shutil.rmtree(out)
        os.makedirs(out)
        return got, text

    def test_fetchmail_keep_then_fetch(self):
        need("fetchmail", "fetchmail")
        self.fill("fetch", 40)
        d = os.path.join(self.tmp, "fetchmail")
        os.makedirs(os.path.join(d, "out"))
        # Plain IMAP, messages kept: all 40 arrive and are \Seen on the server.
        got, text = self.fetchmail(d, "port %d" % self.port, "sslproto '' keep")
        self.assertEqual(set(got), set(msgid(i) for i in range(1, 41)), text[-3000:])
        body = bulk_body(1500)
        for data in got.values():
            self.assertTrue(data.replace(b"\r\n", b"\n").endswith(body.replace(b"\r\n", b"\n")))
        self.assertEqual(self.state("fetch"), {msgid(i): {"\\Seen"} for i in range(1, 41)})
        # Kept messages are seen: a second run fetches nothing.
        got, text = self.fetchmail(d, "port %d" % self.port, "sslproto '' keep")
        self.assertEqual(got, {}, text[-3000:])
        # Over IMAPS, with the certificate checked, everything, deleting.
        self.fill("fetch", 3, first=41)
        got, text = self.fetchmail(d, "port %d" % self.sport,
                                   "ssl sslcertck sslcertfile %s sslcommonname localhost fetchall"
                                   % self.cert)
        self.assertEqual(set(got), set(msgid(i) for i in range(1, 44)), text[-3000:])
        self.assertEqual(self.state("fetch"), {})

    def test_fetchmail_idle_wakeup(self):
        # fetchmail's "idle": IDLE after each poll; a delivery must wake it
        # (EXISTS in IDLE), and it fetches at once, not at the next poll.
        need("fetchmail", "fetchmail")
        d = os.path.join(self.tmp, "fetchidle")
        out = os.path.join(d, "out")
        os.makedirs(out)
        save = os.path.join(d, "save.sh")
        with open(save, "w") as f:
            f.write("#!/bin/sh\nexec cat > \"$(mktemp %s/msg.XXXXXXXX)\"\n" % out)
        os.chmod(save, 0o755)
        rc = os.path.join(d, "fetchmailrc")
        with open(rc, "w") as f:
            f.write("set no bouncemail\nset no syslog\n"
                    "poll 127.0.0.1 with proto IMAP port %d\n"
                    '  user "fetchidle" there with password "%s" is root here\n'
                    "  sslproto '' idle keep\n  mda \"%s\"\n" % (self.port, PASSWORD, save))
        os.chmod(rc, 0o600)
        log = os.path.join(d, "log")
        with open(log, "wb") as logf:
            p = subprocess.Popen(["fetchmail", "-f", rc, "--nodetach", "-vv", "--idfile",
                                  os.path.join(d, "ids"), "--pidfile", os.path.join(d, "pid")],
                                 stdout=logf, stderr=subprocess.STDOUT,
                                 env=dict(os.environ, HOME=d))

        def text():
            with open(log, "rb") as f:
                return f.read().decode(errors="replace")

        def delivered(needle):
            # The MDA's file exists before its content is written.
            for name in os.listdir(out):
                with open(os.path.join(out, name), "rb") as f:
                    if needle in f.read():
                        return True
            return False
        try:
            # Its IDLE command answered by the continuation (not a SASL one).
            wait_until(lambda: re.search(r"IMAP> A\d+ IDLE\s.*IMAP< \+", text(), re.S), 30,
                       what="fetchmail in IDLE")
            self.put("fetchidle", message("fetchidle@com", "idle-wake"))
            t = time.monotonic()
            wait_until(lambda: delivered(b"Subject: idle-wake"), 20,
                       what="fetchmail woken by the delivery")
            woke = time.monotonic() - t
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, text()[-3000:]))
        finally:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.assertLess(woke, 10, text()[-2000:])
        wait_until(lambda: self.state("fetchidle") == {"<idle-wake@test>": {"\\Seen"}}, 10,
                   what="\\Seen set by fetchmail")

    # ---- mutt ----------------------------------------------------------------------

    def test_mutt_batch_flag_save_delete(self):
        need("mutt", "mutt")
        self.fill("mutt", 30)
        d = os.path.join(self.tmp, "mutt")
        os.makedirs(d)
        rc = os.path.join(d, "muttrc")
        with open(rc, "w") as f:
            f.write('set folder="imap://mutt@127.0.0.1:%d/"\n'
                    'set imap_pass="%s"\n'
                    'set ssl_starttls=yes\nset ssl_force_tls=yes\n'
                    'set certificate_file="%s/certificates"\n'
                    'set spoolfile="+INBOX"\n'
                    'set confirmappend=no\nset confirmcreate=no\nset delete=yes\n'
                    'set move=no\nset mark_old=no\nset wait_key=no\nset beep=no\n'
                    'set sort=mailbox-order\nset imap_check_subscribed=no\n'
                    'set header_cache=""\nset message_cachedir=""\nset timeout=1\n'
                    % (self.port, PASSWORD, d))
        # The server's certificate, trusted ahead (mutt's own store, PEM).
        shutil.copy(self.cert, os.path.join(d, "certificates"))
        # Keys: flag 1-5 (~i: by Message-ID), save 6-10 to =Saved (created),
        # delete 11-15, read 16 (view, then back), sync ($) and quit.
        pattern = "|".join("~i%09d" % i for i in range(1, 6))
        keys = ("<tag-pattern>%s<enter><tag-prefix><flag-message>"
                "<untag-pattern>.<enter>" % pattern.replace("|", "|"))
        keys += ("<tag-pattern>%s<enter><tag-prefix><save-message>=Saved<enter>"
                 "<untag-pattern>.<enter>" % "|".join("~i%09d" % i for i in range(6, 11)))
        keys += ("<tag-pattern>%s<enter><tag-prefix><delete-message>"
                 "<untag-pattern>.<enter>" % "|".join("~i%09d" % i for i in range(11, 16)))
        keys += "<search>~i000000016<enter><display-message><exit><sync-mailbox><quit>"
        out = run_pty(["mutt", "-n", "-F", rc, "-e", "push '%s'" % keys], cwd=d,
                      env=dict(os.environ, HOME=d, TERM="vt100"), timeout=120)
        want = {}
        for i in range(1, 31):
            if 6 <= i <= 15:
                continue  # saved (mutt's save deletes from the source) or deleted
            want[msgid(i)] = {"\\Flagged"} if i <= 5 else {"\\Seen"} if i == 16 else set()
        self.assertEqual(self.state("mutt"), want, out[-3000:])
        saved = self.state("mutt", "Saved")
        self.assertEqual(set(saved), set(msgid(i) for i in range(6, 11)), out[-3000:])


# ---- helpers -----------------------------------------------------------------------

def lmtp_many(port, user, raws):
    """Delivers raws to user over one LMTP session."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        f = s.makefile("rb")
        imaptest._reply(f)
        s.sendall(b"LHLO imaptest\r\n")
        imaptest._reply(f)
        for raw in raws:
            s.sendall(b"MAIL FROM:<bulk@example.org>\r\nRCPT TO:<%s>\r\nDATA\r\n" % user.encode())
            codes = [imaptest._reply(f)[0] for _ in range(3)]
            if codes != [250, 250, 354]:
                raise AssertionError("LMTP: %r" % codes)
            s.sendall(raw.replace(b"\r\n.", b"\r\n..") + b".\r\n")
            code, lines = imaptest._reply(f)
            if code != 250:
                raise AssertionError("LMTP DATA: %r" % lines)
        s.sendall(b"QUIT\r\n")


def maildir(path):
    """{Message-ID: (file, set of IMAP flags)} of a Maildir folder."""
    out = {}
    for sub in ("new", "cur"):
        for name in os.listdir(os.path.join(path, sub)):
            p = os.path.join(path, sub, name)
            with open(p, "rb") as f:
                head = f.read(4096)
            m = re.search(rb"(?im)^Message-ID: (<[^>]*>)", head)
            if m is None:
                raise AssertionError("no Message-ID in %s: %r" % (p, head[:200]))
            info = name.split(":2,", 1)[1] if ":2," in name else ""
            out[m.group(1).decode()] = (p, set(MAILDIR_FLAGS[c] for c in info
                                               if c in MAILDIR_FLAGS))
    return out


def set_maildir_flags(path, flags):
    """Adds flags (letters) to a Maildir file's info, moving it to cur/."""
    d, name = os.path.split(path)
    base, _, info = name.partition(":2,")
    info = "".join(sorted(set(info) | set(flags)))
    os.rename(path, os.path.join(os.path.dirname(d), "cur", base + ":2," + info))


def run_pty(argv, cwd, env, timeout):
    """Runs argv on a pseudo-terminal until it exits; returns what it wrote."""
    pid, fd = pty.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if r:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                out += data
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                pid = None
                break
        else:
            raise AssertionError("%s did not finish in %d s:\n%s"
                                 % (argv[0], timeout, out[-3000:].decode(errors="replace")))
    finally:
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass
        os.close(fd)
    return out.decode(errors="replace")


if __name__ == "__main__":
    unittest.main()
