"""FETCH and SEARCH of imap4srv (RFC 3501 §6.4.4, §6.4.5; RFC 7162).

Every FETCH item on a multipart message with nested parts, a
message/rfc822 part and RFC 2047 header fields: BODY[section] octets are
compared with the stored raw octets, ENVELOPE/BODYSTRUCTURE/BODY with the
ingestion cache and with what RFC 3501 asks for; partial fetches,
HEADER.FIELDS(.NOT), .PEEK against \\Seen, RFC822.SIZE, UID FETCH,
CHANGEDSINCE/MODSEQ. Every SEARCH key with nesting and charsets, UID
SEARCH and SEARCH MODSEQ. Then a mailbox of 10,000 messages fetched
(headers and flags, one FETCH) and searched, with the times printed.
"""
import re
import time

from imaptest import ImapTestCase, message

NESTED = (
    b"From: =?UTF-8?Q?J=C3=B6rg_Doe?= <joerg@example.org>\r\n"
    b"To: Alice <alice@com>, bob@example.net\r\n"
    b"Cc: Carol <carol@example.com>\r\n"
    b"Subject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=\r\n"
    b"Date: Wed, 01 Oct 2025 10:00:00 +0200\r\n"
    b"Message-ID: <nested1@test>\r\n"
    b"X-Long: first part\r\n"
    b"  continued line\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"outer\"\r\n"
    b"\r\n"
    b"preamble\r\n"
    b"--outer\r\n"
    b"Content-Type: multipart/alternative; boundary=\"inner\"\r\n"
    b"\r\n"
    b"--inner\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: 8bit\r\n"
    b"\r\n"
    b"Plain body w\xc3\xb6rld\r\n"
    b"second plain line\r\n"
    b"--inner\r\n"
    b"Content-Type: text/html; charset=us-ascii\r\n"
    b"\r\n"
    b"<p>html body</p>\r\n"
    b"--inner--\r\n"
    b"--outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: Inner <inner@example.org>\r\n"
    b"Subject: inner subject\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"inner body text\r\n"
    b"--outer\r\n"
    b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"Content-Disposition: attachment; filename=\"a.bin\"\r\n"
    b"\r\n"
    b"AAECAwQF\r\n"
    b"--outer--\r\n"
    b"epilogue\r\n")


def between(raw, start, end):
    """The octets after the first `start` up to the next `end` (both bytes)."""
    i = raw.index(start) + len(start)
    return raw[i:raw.index(end, i)]


def item(resp, label):
    """The value of FETCH item `label` (bytes, exact) in one response:
    literal or quoted string -> bytes, NIL -> None."""
    i = resp.index(label + b" ") + len(label) + 1
    if resp.startswith(b"NIL", i):
        return None
    m = re.compile(rb"~?\{(\d+)\}\r\n").match(resp, i)
    if m:
        return resp[m.end():m.end() + int(m.group(1))]
    if resp[i:i + 1] == b'"':
        j = resp.index(b'"', i + 1)
        return resp[i + 1:j]
    raise AssertionError("no string after %r in %r" % (label, resp[:300]))


def simple(resp, name):
    """A non-string FETCH item: the text after `name ` up to the next space/paren."""
    m = re.search(re.escape(name) + rb" (\d+|\([^)]*\)|\"[^\"]*\")", resp)
    return None if m is None else m.group(1)


def search_result(got):
    line = [g for g in got if g.startswith(b"* SEARCH")]
    assert len(line) == 1, got
    words = line[0][len(b"* SEARCH"):].strip()
    modseq = None
    m = re.search(rb"\(MODSEQ (\d+)\)", words)
    if m:
        modseq = int(m.group(1))
        words = words[:m.start()]
    return [int(w) for w in words.split()], modseq


class FetchTest(ImapTestCase):
    USERS = ["fanny", "sam", "bulky", "searchy"]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.uid = None

    def nested(self):
        """Delivers the nested message once; returns (uid, stored raw)."""
        cls = type(self)
        if cls.uid is None:
            cls.uid = self.deliver("fanny", NESTED)
        raw = dict(self.stored("fanny"))[cls.uid]
        return cls.uid, raw

    def fetch1(self, r, uid, items, ok=True):
        got, done = r.cmd("UID FETCH %d %s" % (uid, items))
        if ok:
            self.assertIn(b" OK ", done, (items, got, done))
        fetches = [g for g in got if re.match(rb"\* \d+ FETCH ", g)]
        return fetches, done

    # ---- FETCH -------------------------------------------------------------

    def test_sections_exact_octets(self):
        uid, raw = self.nested()
        # Stored as given, after the trace fields delivery put on top.
        self.assertTrue(raw.endswith(NESTED), raw[:200])
        r = self.raw("fanny")
        r.ok("EXAMINE INBOX")
        header = raw[:raw.index(b"\r\n\r\n") + 4]
        text = raw[len(header):]
        p11_mime = (b"Content-Type: text/plain; charset=utf-8\r\n"
                    b"Content-Transfer-Encoding: 8bit\r\n\r\n")
        p11 = b"Plain body w\xc3\xb6rld\r\nsecond plain line"
        p12 = b"<p>html body</p>"
        p1 = between(raw, b"--outer\r\nContent-Type: multipart/alternative; boundary=\"inner\""
                     b"\r\n\r\n", b"\r\n--outer")
        p2_header = (b"From: Inner <inner@example.org>\r\nSubject: inner subject\r\n"
                     b"Content-Type: text/plain\r\n\r\n")
        p2_text = b"inner body text"
        p3 = b"AAECAwQF"
        p3_mime = (b"Content-Type: application/octet-stream; name=\"a.bin\"\r\n"
                   b"Content-Transfer-Encoding: base64\r\n"
                   b"Content-Disposition: attachment; filename=\"a.bin\"\r\n\r\n")
        cases = [
            ("BODY.PEEK[]", b"BODY[]", raw),
            ("BODY.PEEK[HEADER]", b"BODY[HEADER]", header),
            ("BODY.PEEK[TEXT]", b"BODY[TEXT]", text),
            ("BODY.PEEK[1]", b"BODY[1]", p1),
            ("BODY.PEEK[1.1]", b"BODY[1.1]", p11),
            ("BODY.PEEK[1.1.MIME]", b"BODY[1.1.MIME]", p11_mime),
            ("BODY.PEEK[1.2]", b"BODY[1.2]", p12),
            ("BODY.PEEK[2]", b"BODY[2]", p2_header + p2_text),
            ("BODY.PEEK[2.HEADER]", b"BODY[2.HEADER]", p2_header),
            ("BODY.PEEK[2.TEXT]", b"BODY[2.TEXT]", p2_text),
            ("BODY.PEEK[2.1]", b"BODY[2.1]", p2_text),
            ("BODY.PEEK[3]", b"BODY[3]", p3),
            ("BODY.PEEK[3.MIME]", b"BODY[3.MIME]", p3_mime),
            ("RFC822.HEADER", b"RFC822.HEADER", header),
            ("BODY.PEEK[4]", b"BODY[4]", None),
            ("BODY.PEEK[1.1.HEADER]", b"BODY[1.1.HEADER]", None),
        ]
        for req, label, want in cases:
            with self.subTest(req):
                fetches, _ = self.fetch1(r, uid, "(%s)" % req)
                self.assertEqual(len(fetches), 1, fetches)
                self.assertEqual(item(fetches[0], label), want)
        # All at once, in one response, in the order asked.
        fetches, _ = self.fetch1(r, uid, "(" + " ".join(c[0] for c in cases) + ")")
        self.assertEqual(len(fetches), 1)
        for _, label, want in cases:
            self.assertEqual(item(fetches[0], label), want, label)
        fetches, _ = self.fetch1(r, uid, "RFC822.SIZE")
        self.assertEqual(simple(fetches[0], b"RFC822.SIZE"), str(len(raw)).encode())
        # EXAMINE: RFC822 and RFC822.TEXT are read-only here, so no \Seen.
        fetches, _ = self.fetch1(r, uid, "(RFC822 RFC822.TEXT)")
        self.assertEqual(item(fetches[0], b"RFC822"), raw)
        self.assertEqual(item(fetches[0], b"RFC822.TEXT"), text)
        self.assertEqual(self.pointers("fanny")[0][1] & 1, 0)

    def test_partial(self):
        uid, raw = self.nested()
        r = self.raw("fanny")
        r.ok("EXAMINE INBOX")
        for origin, count in ((0, 10), (10, 20), (len(raw) - 5, 100), (len(raw) + 10, 5)):
            fetches, _ = self.fetch1(r, uid, "BODY.PEEK[]<%d.%d>" % (origin, count))
            self.assertEqual(item(fetches[0], b"BODY[]<%d>" % origin),
                             raw[origin:origin + count])
        fetches, _ = self.fetch1(r, uid, "BODY.PEEK[1.1]<6.4>")
        self.assertEqual(item(fetches[0], b"BODY[1.1]<6>"), b"body")
        fetches, _ = self.fetch1(r, uid, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]<3.5>")
        self.assertEqual(item(fetches[0], b"BODY[HEADER.FIELDS (SUBJECT)]<3>"), b"ject:")
        # imaplib's own view of a partial fetch.
        c = self.imap("fanny")
        c.select("INBOX", readonly=True)
        typ, data = c.uid("FETCH", str(uid), "(BODY.PEEK[TEXT]<0.8>)")
        self.assertEqual(typ, "OK")
        self.assertEqual(data[0][1], b"preamble")

    def test_header_fields(self):
        uid, raw = self.nested()
        r = self.raw("fanny")
        r.ok("EXAMINE INBOX")
        fetches, _ = self.fetch1(r, uid, "(BODY.PEEK[HEADER.FIELDS (subject X-LONG Nope)])")
        self.assertEqual(item(fetches[0], b"BODY[HEADER.FIELDS (SUBJECT X-LONG NOPE)]"),
                         b"Subject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=\r\n"
                         b"X-Long: first part\r\n  continued line\r\n\r\n")
        header = raw[:raw.index(b"\r\n\r\n")].decode()
        names = sorted({m.group(1).upper() for m in re.finditer(r"(?m)^([^ \t:]+):", header)}
                       - {"SUBJECT", "X-LONG"})
        fetches, _ = self.fetch1(r, uid, "(BODY.PEEK[HEADER.FIELDS.NOT (%s)])"
                                 % " ".join(n.lower() for n in names))
        self.assertEqual(item(fetches[0], b"BODY[HEADER.FIELDS.NOT (%s)]"
                              % " ".join(names).encode()),
                         b"Subject: =?UTF-8?B?SGVsbG8gd8O2cmxk?=\r\n"
                         b"X-Long: first part\r\n  continued line\r\n\r\n")
        fetches, _ = self.fetch1(r, uid, '(BODY.PEEK[2.HEADER.FIELDS ("subject")])')
        self.assertEqual(item(fetches[0], b"BODY[2.HEADER.FIELDS (SUBJECT)]"),
                         b"Subject: inner subject\r\n\r\n")
        fetches, _ = self.fetch1(r, uid, "(BODY.PEEK[HEADER.FIELDS (X-None)])")
        self.assertEqual(item(fetches[0], b"BODY[HEADER.FIELDS (X-NONE)]"), b"\r\n")
        # Malformed sections are BAD.
        for bad in ("BODY[MIME]", "BODY[HEADER.FIELDS]", "BODY[HEADER.FIELDS ()]", "BODY[0]",
                    "BODY[1.]", "BODY[TEXT.1]", "BINARY[TEXT]", "NOSUCH", "(FLAGS"):
            with self.subTest(bad):
                _, done = r.cmd("UID FETCH %d %s" % (uid, bad))
                self.assertIn(b" BAD ", done)

    def test_cached_structure(self):
        uid, raw = self.nested()
        r = self.raw("fanny")
        r.ok("EXAMINE INBOX")
        row = self.node.sql("SELECT m.envelope, m.bodystructure, m.body FROM message m"
                            " JOIN mailbox_pointer p ON p.message_id = m.id"
                            " JOIN mailbox b ON b.id = p.mailbox_id"
                            " JOIN dir_object o ON o.id = b.account_id"
                            " WHERE o.name = 'fanny' AND p.uid = :'p1'", uid)[0]
        fetches, _ = self.fetch1(r, uid, "(ENVELOPE BODYSTRUCTURE BODY)")
        f = fetches[0]
        self.assertIn(b"ENVELOPE " + row[0].encode(), f)
        self.assertIn(b"BODYSTRUCTURE " + row[1].encode(), f)
        self.assertIn(b"BODY " + row[2].encode(), f)
        env = row[0]
        # RFC 3501 §7.4.2: date, subject, from, sender, reply-to, to, cc, bcc, in-reply-to,
        # message-id; header text as written (encoded words stay encoded).
        self.assertTrue(env.startswith('("Wed, 01 Oct 2025 10:00:00 +0200"'
                                       ' "=?UTF-8?B?SGVsbG8gd8O2cmxk?="'), env)
        self.assertIn('(("=?UTF-8?Q?J=C3=B6rg_Doe?=" NIL "joerg" "example.org"))', env)
        self.assertIn('(("Alice" NIL "alice" "com")(NIL NIL "bob" "example.net"))', env)
        self.assertTrue(env.endswith(' NIL "<nested1@test>")'), env)
        bs = row[1]
        self.assertTrue(bs.startswith('((("text" "plain" ("charset" "utf-8") NIL NIL "8bit" '),
                        bs)
        self.assertIn('"alternative"', bs)
        self.assertIn('"message" "rfc822"', bs)
        self.assertIn('"mixed" ("boundary" "outer")', bs)
        # Macros.
        fetches, _ = self.fetch1(r, uid, "ALL")
        for name in (b"FLAGS", b"INTERNALDATE", b"RFC822.SIZE", b"ENVELOPE", b"UID"):
            self.assertIn(name + b" ", fetches[0])
        self.assertNotIn(b"BODY", fetches[0])
        fetches, _ = self.fetch1(r, uid, "FAST")
        self.assertNotIn(b"ENVELOPE", fetches[0])
        fetches, _ = self.fetch1(r, uid, "FULL")
        self.assertIn(b"BODY (", fetches[0])
        self.assertNotIn(b"BODYSTRUCTURE", fetches[0])
        self.assertRegex(fetches[0], rb'INTERNALDATE "\d\d-[A-Z][a-z]{2}-\d{4} '
                                     rb'\d\d:\d\d:\d\d \+0000"')
        # imaplib parses it.
        c = self.imap("fanny")
        c.select("INBOX", readonly=True)
        typ, data = c.uid("FETCH", str(uid), "(INTERNALDATE)")
        self.assertIsNotNone(__import__("imaplib").Internaldate2tuple(data[0]))

    def test_seen(self):
        uid = self.deliver("sam", message("sam@com", "seen test"))
        r = self.raw("sam")
        r.ok("SELECT INBOX")
        msn = len(self.pointers("sam"))
        flags = lambda: [p for p in self.pointers("sam") if p[0] == uid][0]
        before = flags()
        for peek in ("BODY.PEEK[]", "BODY.PEEK[TEXT]", "RFC822.HEADER", "RFC822.SIZE",
                     "BODY.PEEK[1]"):
            fetches, _ = self.fetch1(r, uid, peek)
            self.assertNotIn(b"FLAGS", fetches[0])
        self.assertEqual(flags()[1] & 1, 0)
        self.assertEqual(flags()[4], before[4])
        # Without .PEEK: \Seen is set, modseq raised, FLAGS in the same response.
        got = r.ok("FETCH %d (BODY[TEXT])" % msn)
        f = [g for g in got if g.startswith(b"* %d FETCH" % msn)]
        self.assertEqual(len(f), 1, got)
        self.assertRegex(f[0], rb"FLAGS \([^)]*\\Seen")
        after = flags()
        self.assertEqual(after[1] & 1, 1)
        self.assertGreater(after[4], before[4])
        self.assertEqual(self.mailbox_row("sam")["highestmodseq"], after[4])
        # Seen already: no FLAGS again, no modseq change.
        fetches, _ = self.fetch1(r, uid, "RFC822")
        self.assertNotIn(b"FLAGS", fetches[0])
        self.assertEqual(flags()[4], after[4])
        # RFC822.TEXT sets \Seen too.
        r.ok("UID STORE %d -FLAGS.SILENT (\\Seen)" % uid)
        fetches, _ = self.fetch1(r, uid, "RFC822.TEXT")
        self.assertIn(b"\\Seen", fetches[0])

    def test_uid_fetch_and_sets(self):
        uids = [self.deliver("sam", message("sam@com", "set %d" % i)) for i in range(3)]
        r = self.raw("sam")
        r.ok("EXAMINE INBOX")
        got, done = r.cmd("UID FETCH %d:* (FLAGS)" % uids[0])
        self.assertIn(b" OK ", done)
        found = [int(re.search(rb"UID (\d+)", g).group(1)) for g in got if b" FETCH " in g]
        self.assertEqual(found[-3:], uids)
        got, done = r.cmd("UID FETCH 4000000000 (FLAGS)")
        self.assertIn(b" OK ", done)
        self.assertEqual([g for g in got if b" FETCH " in g], [])
        n = len(self.pointers("sam"))
        got, done = r.cmd("FETCH %d (UID)" % (n + 1))
        self.assertIn(b" BAD ", done)
        got = r.ok("FETCH 1:* (UID)")
        msns = [int(g.split()[1]) for g in got if b" FETCH " in g]
        self.assertEqual(msns, list(range(1, n + 1)))
        got = r.ok("FETCH %d,1 UID" % n)
        msns = [int(g.split()[1]) for g in got if b" FETCH " in g]
        self.assertEqual(msns, [1, n])

    def test_condstore(self):
        uids = [self.deliver("sam", message("sam@com", "cs %d" % i)) for i in range(2)]
        r = self.raw("sam")
        r.ok("SELECT INBOX")
        ptrs = {p[0]: p for p in self.pointers("sam")}
        fetches, _ = self.fetch1(r, uids[0], "(MODSEQ)")
        self.assertIn(b"MODSEQ (%d)" % ptrs[uids[0]][4], fetches[0])
        r.ok("UID STORE %d +FLAGS (\\Flagged)" % uids[1])
        changed = {p[0]: p for p in self.pointers("sam")}[uids[1]][4]
        got = r.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % (changed - 1))
        f = [g for g in got if b" FETCH " in g]
        self.assertEqual(len(f), 1, got)
        self.assertIn(b"UID %d" % uids[1], f[0])
        self.assertIn(b"MODSEQ (%d)" % changed, f[0])
        got = r.ok("UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d)" % changed)
        self.assertEqual([g for g in got if b" FETCH " in g], [])
        _, done = r.cmd("FETCH 1 (FLAGS) (CHANGEDSINCE x)")
        self.assertIn(b" BAD ", done)
        # SEARCH MODSEQ answers the highest modseq of what it found.
        got = r.ok("UID SEARCH MODSEQ %d" % changed)
        res, modseq = search_result(got)
        self.assertEqual(res, [uids[1]])
        self.assertEqual(modseq, changed)
        got = r.ok('UID SEARCH MODSEQ "/flags/\\\\flagged" all %d' % changed)
        self.assertEqual(search_result(got), ([uids[1]], changed))
        got = r.ok("SEARCH MODSEQ %d" % (changed + 100))
        self.assertEqual(search_result(got), ([], None))
        # CONDSTORE is on now: FLAGS come with MODSEQ, an implicit \Seen with the UID too.
        msn0 = [p[0] for p in self.pointers("sam")].index(uids[0]) + 1
        got = r.ok("FETCH %d (FLAGS)" % msn0)
        self.assertIn(b"MODSEQ (%d)" % ptrs[uids[0]][4], [g for g in got if b" FETCH " in g][0])
        got = r.ok("FETCH %d (BODY[TEXT])" % msn0)
        f = [g for g in got if g.startswith(b"* %d FETCH" % msn0)]
        self.assertEqual(len(f), 1, got)
        now = {p[0]: p for p in self.pointers("sam")}[uids[0]]
        self.assertEqual(now[1] & 1, 1)
        self.assertGreater(now[4], changed)
        for part in (b"\\Seen", b"MODSEQ (%d)" % now[4], b"UID %d" % uids[0]):
            self.assertIn(part, f[0])

    def test_binary(self):
        """BINARY, BINARY.PEEK and BINARY.SIZE (RFC 3516): decoded parts."""
        uid, raw = self.nested()
        r = self.raw("fanny")
        r.ok("EXAMINE INBOX")
        fetches, _ = self.fetch1(r, uid, "(BINARY.PEEK[3] BINARY.SIZE[3] BINARY.PEEK[1.1]"
                                         " BINARY.PEEK[3]<2.3> BINARY.PEEK[4] BINARY.SIZE[1.1])")
        f = fetches[0]
        self.assertIn(b"BINARY[3] ~{6}\r\n\x00\x01\x02\x03\x04\x05", f)  # literal8: NULs
        self.assertEqual(item(f, b"BINARY[3]"), bytes(range(6)))
        self.assertEqual(simple(f, b"BINARY.SIZE[3]"), b"6")
        p11 = b"Plain body w\xc3\xb6rld\r\nsecond plain line"
        self.assertEqual(item(f, b"BINARY[1.1]"), p11)
        self.assertEqual(simple(f, b"BINARY.SIZE[1.1]"), str(len(p11)).encode())
        self.assertEqual(item(f, b"BINARY[3]<2>"), b"\x02\x03\x04")
        self.assertIsNone(item(f, b"BINARY[4]"))
        for bad in ("BINARY[1.MIME]", "BINARY.PEEK[HEADER]", "BINARY.SIZE[1]<0.1>"):
            _, done = r.cmd("UID FETCH %d %s" % (uid, bad))
            self.assertIn(b" BAD ", done, bad)
        qp = (b"From: q@example.org\r\nTo: sam@com\r\nSubject: qp\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\n"
              b"Content-Transfer-Encoding: Quoted-Printable (comment)\r\n\r\n"
              b"caf=C3=A9 soft=\r\nbreak =3D ok =ZZ\r\n")
        uu = (b"From: u@example.org\r\nTo: sam@com\r\nSubject: uu\r\n"
              b"Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\nend\r\n")
        u_qp = self.deliver("sam", qp)
        u_uu = self.deliver("sam", uu)
        r = self.raw("sam")
        r.ok("SELECT INBOX")
        fetches, _ = self.fetch1(r, u_qp, "(BINARY.PEEK[1] BINARY.SIZE[1])")
        want = "café softbreak = ok =ZZ\r\n".encode()
        self.assertEqual(item(fetches[0], b"BINARY[1]"), want)
        self.assertEqual(simple(fetches[0], b"BINARY.SIZE[1]"), str(len(want)).encode())
        _, done = r.cmd("UID FETCH %d BINARY[1]" % u_uu)
        self.assertIn(b" NO [UNKNOWN-CTE]", done)

    def test_big_message(self):
        """A message larger than one read (1 MiB pieces): whole, by part, partial
        across piece boundaries, and beside small ones in one FETCH."""
        line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-+0123456789\r\n"
        body = b"".join(b"%07d " % i + line for i in range(40000))  # ~3.3 MB
        raw = (b"From: big@example.org\r\nTo: sam@com\r\nSubject: big one\r\n"
               b"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
               b"--b\r\nContent-Type: text/plain\r\n\r\nsmall part\r\n"
               b"--b\r\nContent-Type: text/plain\r\n\r\n" + body + b"\r\n--b--\r\n")
        c = self.imap("sam")
        typ, data = c.append("INBOX", None, None, raw)
        self.assertEqual(typ, "OK", data)
        uid = max(p[0] for p in self.pointers("sam"))
        r = self.raw("sam")
        r.ok("EXAMINE INBOX")
        fetches, _ = self.fetch1(r, uid, "(RFC822.SIZE BODY.PEEK[] BODY.PEEK[1] BODY.PEEK[2]"
                                         " BODY.PEEK[2]<1048570.20> BODY.PEEK[]<2097140.3000000>)")
        f = fetches[0]
        self.assertEqual(simple(f, b"RFC822.SIZE"), str(len(raw)).encode())
        self.assertEqual(item(f, b"BODY[]"), raw)
        self.assertEqual(item(f, b"BODY[1]"), b"small part")
        self.assertEqual(item(f, b"BODY[2]"), body)
        self.assertEqual(item(f, b"BODY[2]<1048570>"), body[1048570:1048590])
        self.assertEqual(item(f, b"BODY[]<2097140>"), raw[2097140:2097140 + 3000000])
        # Small messages before and after it in the same FETCH keep their octets.
        stored = dict(self.stored("sam"))
        got = r.ok("UID FETCH 1:* (UID BODY.PEEK[TEXT])")
        for g in got:
            if b" FETCH " in g:
                u = int(re.search(rb"UID (\d+)", g).group(1))
                whole = stored[u]
                self.assertEqual(item(g, b"BODY[TEXT]"),
                                 whole[whole.index(b"\r\n\r\n") + 4:], u)

    # ---- SEARCH ------------------------------------------------------------

    def test_search_keys(self):
        user = "searchy"
        m1 = message("searchy@com", "Alpha report", body=b"apple banana\r\n",
                      headers=b"Cc: Carol <carol@example.com>")
        m2 = (b"From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.org>\r\nTo: searchy@com\r\n"
              b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
              b"Date: Fri, 15 Mar 2024 10:00:00 +0000\r\nX-Custom: magic-value\r\n"
              b"Message-ID: <m2@test>\r\n\r\ncherry pie\r\n")
        m3 = (b"From: Bee <bee@example.net>\r\nTo: other@example.net\r\n"
              b"Bcc: hidden@example.net\r\nSubject: Beta\r\n"
              b"Date: Thu, 20 Jun 2024 10:00:00 +0000\r\n\r\n" + b"x" * 5000 + b"\r\n")
        m4 = (b"From: gamma@example.net\r\nTo: searchy@com\r\nSubject: gamma\r\n"
              b"Date: Fri, 21 Jun 2024 23:30:00 -0500\r\n"
              b"Content-Type: text/plain; charset=utf-8\r\n\r\n\xc3\x9cBER alles\r\n")
        uids = [self.deliver(user, m) for m in (m1, m2, m3, m4)]
        mid = self.mailbox_id(user)
        for uid, date in zip(uids, ("2024-01-01 12:00+00", "2024-03-15 12:00+00",
                                    "2024-06-20 23:59+00", "2024-06-21 00:00+00")):
            self.node.sql("UPDATE mailbox_pointer SET internaldate = :'p1'"
                          " WHERE mailbox_id = :'p2' AND uid = :'p3'", date, mid, uid)
        c = self.imap(user)
        c.select("INBOX")
        for uid, flags in zip(uids, ("(\\Seen \\Answered)", "(\\Flagged)",
                                     "(\\Deleted \\Draft)", "($Work)")):
            typ, _ = c.uid("STORE", str(uid), "+FLAGS.SILENT", flags)
            self.assertEqual(typ, "OK")
        r = self.raw(user)
        r.ok("SELECT INBOX")
        # A new message after this SELECT: \Recent only for a later session.
        u1, u2, u3, u4 = uids
        cases = [
            ("ALL", [1, 2, 3, 4]),
            ("ANSWERED", [1]), ("UNANSWERED", [2, 3, 4]),
            ("SEEN", [1]), ("UNSEEN", [2, 3, 4]),
            ("FLAGGED", [2]), ("UNFLAGGED", [1, 3, 4]),
            ("DELETED", [3]), ("UNDELETED", [1, 2, 4]),
            ("DRAFT", [3]), ("UNDRAFT", [1, 2, 4]),
            ("KEYWORD $Work", [4]), ("KEYWORD $work", [4]), ("UNKEYWORD $Work", [1, 2, 3]),
            ("KEYWORD \\Seen", [1]),
            ("FROM joerg", [2]), ('FROM "Jörg"', [2]), ("FROM example.net", [3, 4]),
            ("TO other", [3]), ("CC carol", [1]), ("BCC hidden", [3]),
            ("SUBJECT alpha", [1]), ('SUBJECT "grüße aus"', [2]), ('SUBJECT ""', [1, 2, 3, 4]),
            ("HEADER X-Custom magic", [2]), ('HEADER x-custom ""', [2]),
            ("HEADER Subject beta", [3]),
            ("BODY banana", [1]), ("BODY BANANA", [1]), ("BODY Alpha", []),
            ('BODY "ÜBER"', [4]), ("TEXT alpha", [1]), ("TEXT cherry", [2]),
            ('TEXT "Köln"', [2]), ("TEXT magic-value", [2]),
            ("LARGER 4000", [3]), ("SMALLER 4000", [1, 2, 4]),
            ("BEFORE 15-Mar-2024", [1]), ("ON 15-Mar-2024", [2]),
            ('SINCE "21-Jun-2024"', [4]), ("SINCE 20-Jun-2024", [3, 4]),
            ("SENTON 15-Mar-2024", [2]), ("SENTBEFORE 20-Jun-2024", [2]),
            ("SENTSINCE 22-Jun-2024", [1, 4]),  # 23:30 -0500 is the 22nd in UTC
            ("NOT SEEN", [2, 3, 4]), ("NOT NOT SEEN", [1]),
            ("OR SEEN FLAGGED", [1, 2]), ("OR (SEEN ANSWERED) OR DELETED KEYWORD $Work", [1, 3, 4]),
            ("(OR SEEN FLAGGED) NOT (FROM joerg)", [1]),
            ("NOT (OR SEEN (FLAGGED UNSEEN))", [3, 4]),
            ("NOT SUBJECT nothing-like-this", [1, 2, 3, 4]),
            ("2:3", [2, 3]), ("2,4:*", [2, 4]), ("*", [4]), ("1:* UNSEEN", [2, 3, 4]),
            ("UID %d:%d" % (u2, u3), [2, 3]), ("UID %d" % u4, [4]), ("UID *", [4]),
            ("UID 4000000000", []), ("UID 4000000000:*", [4]),  # n:* is *:n
            ("NOT UID %d" % u1, [2, 3, 4]),
            ('CHARSET UTF-8 SUBJECT "grüße"', [2]), ("CHARSET US-ASCII FROM bee", [3]),
            ("RECENT", []), ("NEW", []), ("OLD", [1, 2, 3, 4]),
        ]
        for query, want in cases:
            with self.subTest(query):
                got = r.ok("SEARCH " + query)
                self.assertEqual(search_result(got)[0], want)
                got = r.ok("UID SEARCH " + query)
                self.assertEqual(search_result(got)[0], [uids[i - 1] for i in want])
        # Literal search string (imaplib sends it when asked).
        c.literal = "Grüße".encode()
        typ, data = c.search("UTF-8", "SUBJECT")
        self.assertEqual((typ, data[0].split()), ("OK", [b"2"]))
        for bad in ("SEARCH CHARSET ISO-8859-1 ALL", "SEARCH CHARSET KOI8-R SUBJECT x"):
            _, done = r.cmd(bad)
            self.assertIn(b" NO [BADCHARSET (UTF-8 US-ASCII)]", done)
        for bad in ("SEARCH", "SEARCH NOSUCH", "SEARCH BEFORE 30-Feb-2024", "SEARCH LARGER x",
                    "SEARCH OR SEEN", "SEARCH NOT", "SEARCH (SEEN", "SEARCH HEADER X",
                    "SEARCH BEFORE 1-Foo-2024", "SEARCH " + "NOT " * 100 + "SEEN"):
            with self.subTest(bad):
                _, done = r.cmd(bad)
                self.assertIn(b" BAD ", done)
        # \Recent: a delivery while no session has the mailbox selected is
        # recent for the next one that selects it.
        c.logout()
        r.cmd("LOGOUT")
        u5 = self.deliver(user, message("searchy@com", "fresh one"))
        r2 = self.raw(user)
        r2.ok("SELECT INBOX")
        self.assertEqual(search_result(r2.ok("UID SEARCH RECENT"))[0], [u5])
        self.assertEqual(search_result(r2.ok("UID SEARCH NEW"))[0], [u5])
        self.assertEqual(search_result(r2.ok("SEARCH OLD"))[0], [1, 2, 3, 4])

    # ---- 10,000 messages ------------------------------------------------------

    def test_large_mailbox(self):
        n = 10000
        t0 = time.monotonic()
        uids = self.bulk("bulky", n)
        self.assertEqual(len(uids), n)
        t_fill = time.monotonic() - t0
        c = self.imap("bulky")
        t0 = time.monotonic()
        typ, data = c.select("INBOX")
        t_select = time.monotonic() - t0
        self.assertEqual((typ, int(data[0])), ("OK", n))
        t0 = time.monotonic()
        typ, data = c.fetch("1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE)")
        t_env = time.monotonic() - t0
        self.assertEqual(typ, "OK")
        self.assertEqual(len([d for d in data if d is not None]), n)
        self.assertIn(b"bulk 000005000", [d for d in data if b"UID %d " % uids[4999] in d][0])
        t0 = time.monotonic()
        typ, data = c.fetch("1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE"
                                   " MESSAGE-ID)])")
        t_hdr = time.monotonic() - t0
        self.assertEqual(typ, "OK")
        lits = [d for d in data if isinstance(d, tuple)]
        self.assertEqual(len(lits), n)
        self.assertIn(b"Subject: bulk 000000001\r\n", lits[0][1])
        self.assertTrue(lits[0][1].endswith(b"\r\n\r\n"))
        # Bodies of thousands of messages leave batch by batch (sps_job_flush), whole and in order.
        t0 = time.monotonic()
        typ, data = c.fetch("1:3000", "(UID BODY.PEEK[])")
        t_bodies = time.monotonic() - t0
        self.assertEqual(typ, "OK")
        lits = [d for d in data if isinstance(d, tuple)]
        self.assertEqual(len(lits), 3000)
        for i in (0, 499, 500, 1234, 2999):
            self.assertIn(b"Subject: bulk %09d\r\n" % (i + 1), lits[i][1])
            self.assertIn(b"UID %d " % uids[i], lits[i][0])
        t0 = time.monotonic()
        typ, data = c.search(None, "SUBJECT", "000007777")
        t_search_subject = time.monotonic() - t0
        self.assertEqual(data[0].split(), [b"7777"])
        t0 = time.monotonic()
        typ, data = c.search(None, "UNSEEN", "SINCE", "1-Nov-2025")
        t_search_flags = time.monotonic() - t0
        self.assertEqual(len(data[0].split()), n)
        t0 = time.monotonic()
        typ, data = c.search(None, "BODY", '"lazy dog 0123456789 NOTTHERE"')
        t_search_body = time.monotonic() - t0
        self.assertEqual(data[0].split(), [])
        print("\n10,000 messages: fill %.2f s, SELECT %.2f s, FETCH envelopes %.2f s,"
              " FETCH header fields %.2f s, FETCH 3,000 bodies %.2f s, SEARCH SUBJECT %.3f s,"
              " SEARCH UNSEEN SINCE %.3f s, SEARCH BODY %.2f s"
              % (t_fill, t_select, t_env, t_hdr, t_bodies, t_search_subject, t_search_flags,
                 t_search_body))


if __name__ == "__main__":
    import unittest
    unittest.main()
