"""imap4srv: the commands on mailboxes as names, and APPEND, with Python's
imaplib (and a raw socket where exact octets matter): LIST (hierarchy,
wildcards, reference, CHILDREN, SPECIAL-USE, the RFC 5258 basics), LSUB,
CREATE, DELETE, RENAME (incl. INBOX), SUBSCRIBE, UNSUBSCRIBE, STATUS,
NAMESPACE, GETQUOTA, GETQUOTAROOT, APPEND (flags, date-time, literal,
APPENDUID, TRYCREATE, OVERQUOTA), modified UTF-7 names, and the
UIDVALIDITY/UIDNEXT rules after DELETE/CREATE and RENAME.

Every test has an account of its own; the store is checked with SQL.
"""
import base64
import email.utils
import imaplib
import re
import unittest

from imaptest import ImapTestCase, PASSWORD, message

MULTIPART = (b"From: =?utf-8?q?J=C3=BCrgen?= <j@example.org>\r\n"
             b"To: append@com\r\nSubject: multipart \xc3\xa4\xc3\xb6\xc3\xbc\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n"
             b"preamble\r\n--XyZ\r\nContent-Type: text/plain; charset=utf-8\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n\r\nGr\xc3\xbc\xc3\x9fe \xe2\x82\xac\r\n"
             b"--XyZ\r\nContent-Type: application/octet-stream\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(bytes(range(256))).replace(b"\n", b"\r\n")
             + b"--XyZ--\r\nepilogue\r\n")
EIGHTBIT = (b"From: a@example.org\r\nTo: append@com\r\nSubject: 8bit\r\n\r\n"
            b"Latin-1 \xe9\xe8 and a lone CR\r in a line \x01\x7f\xff\r\n\r\n")


def mutf7(s):
    """Modified UTF-7 of RFC 3501 §5.1.3 (the test's own, independent of the server's)."""
    out, buf = [], []

    def flush():
        if buf:
            b = base64.b64encode("".join(buf).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b.replace("/", ",") + "-")
            buf.clear()
    for ch in s:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            buf.append(ch)
    flush()
    return "".join(out)


LIST_RE = re.compile(rb'^\((?P<attrs>[^)]*)\) "/" (?P<name>.*)$')


def parse_list(data):
    """{name: set(attributes)} from imaplib's LIST/LSUB data."""
    out = {}
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):  # a literal name
            m = LIST_RE.match(item[0].rsplit(b"{", 1)[0].rstrip() + b" x")
            name = item[1]
        else:
            m = LIST_RE.match(item)
            name = m.group("name")
            if name.startswith(b'"'):
                name = name[1:-1].replace(b'\\"', b'"').replace(b"\\\\", b"\\")
        out[name.decode()] = set(m.group("attrs").decode().split())
    return out


class ImapMailboxesTest(ImapTestCase):
    USERS = ["list", "hier", "create", "utf7", "uidv", "rename", "inboxren", "append",
             "appsel", "quota", "status", "subs", "ns", "ext", "lsubpct", "twosess"]
    DELIVERY = False

    def ok(self, result):
        typ, data = result
        self.assertEqual(typ, "OK", data)
        return data

    def no(self, result, code=None):
        typ, data = result
        self.assertEqual(typ, "NO", data)
        if code is not None:
            self.assertIn(("[%s]" % code).encode(), data[0])
        return data

    def list(self, c, ref='""', pattern="*"):
        return parse_list(self.ok(c.list(ref, pattern)))

    def account_id(self, user):
        return int(self.node.value("SELECT id FROM dir_object WHERE name = :'p1'", user))

    # ---- LIST ---------------------------------------------------------------

    def test_list_defaults_and_delimiter(self):
        c = self.imap("list")
        got = self.list(c)
        self.assertEqual(set(got), {"INBOX", "Drafts", "Sent", "Trash", "Junk"})
        self.assertEqual(got["INBOX"], {"\\HasNoChildren"})
        self.assertEqual(got["Sent"], {"\\HasNoChildren", "\\Sent"})
        self.assertEqual(got["Drafts"], {"\\HasNoChildren", "\\Drafts"})
        self.assertEqual(got["Trash"], {"\\HasNoChildren", "\\Trash"})
        self.assertEqual(got["Junk"], {"\\HasNoChildren", "\\Junk"})
        # LIST "" "": the delimiter and the root.
        r = self.raw("list")
        got, done = r.cmd('LIST "" ""')
        self.assertIn(b" OK", done)
        self.assertEqual(got, [b'* LIST (\\Noselect) "/" ""\r\n'])
        # INBOX is case-insensitive, in patterns as in names.
        self.assertEqual(set(self.list(c, '""', "inbox")), {"INBOX"})
        self.assertEqual(set(self.list(c, '""', "InBoX")), {"INBOX"})
        self.assertEqual(set(self.list(c, '""', "inb*")), {"INBOX"})
        self.assertEqual(set(self.list(c, '""', "i%")), {"INBOX"})
        # INBOX comes first.
        got, done = r.cmd('LIST "" "*"')
        self.assertRegex(got[0], rb' "/" "?INBOX"?\r\n$')

    def test_hierarchy_and_wildcards(self):
        c = self.imap("hier")
        self.ok(c.create("a/b/c"))  # superior levels are created too
        self.ok(c.create("a/x"))
        self.ok(c.create("ab"))
        names = self.mailboxes("hier")
        for n in ("a", "a/b", "a/b/c", "a/x", "ab"):
            self.assertIn(n, names)
        top = self.list(c, '""', "%")
        self.assertEqual(set(top), {"INBOX", "Drafts", "Sent", "Trash", "Junk", "a", "ab"})
        self.assertIn("\\HasChildren", top["a"])
        self.assertIn("\\HasNoChildren", top["ab"])
        self.assertEqual(set(self.list(c, '""', "a/%")), {"a/b", "a/x"})
        self.assertEqual(set(self.list(c, '"a/"', "%")), {"a/b", "a/x"})
        self.assertEqual(set(self.list(c, '""', "a/*")), {"a/b", "a/b/c", "a/x"})
        self.assertEqual(set(self.list(c, '""', "a*")), {"a", "a/b", "a/b/c", "a/x", "ab"})
        self.assertEqual(set(self.list(c, '""', "a%")), {"a", "ab"})
        self.assertEqual(set(self.list(c, '""', "*c")), {"a/b/c"})
        self.assertEqual(set(self.list(c, '""', "%/%/%")), {"a/b/c"})
        self.assertEqual(set(self.list(c, '""', "nothing*")), set())
        # DELETE of a mailbox with inferiors: it goes, its inferiors stay and
        # the name is a \Noselect hierarchy level.
        self.ok(c.delete("a/b"))
        self.assertNotIn("a/b", self.mailboxes("hier"))
        got = self.list(c, '""', "a/*")
        self.assertEqual(got["a/b"], {"\\Noselect", "\\HasChildren"})
        self.assertEqual(got["a/b/c"], {"\\HasNoChildren"})
        self.no(c.select("a/b"))
        self.no(c.delete("a/b"), "NONEXISTENT")
        # Making it again makes it selectable, with a new UIDVALIDITY.
        self.ok(c.create("a/b"))
        self.assertEqual(self.list(c, '""', "a/b")["a/b"], {"\\HasChildren"})
        # A trailing delimiter declares a level for inferiors: the name is made.
        self.ok(c.create("lvl/"))
        self.assertIn("lvl", self.mailboxes("hier"))

    def test_list_extended(self):
        c = self.imap("ext")
        self.ok(c.subscribe("Ghost"))  # a subscription without a mailbox
        self.ok(c.unsubscribe("Junk"))
        typ, data = c._simple_command("LIST", "(SPECIAL-USE)", '""', "*")
        self.assertEqual(typ, "OK", data)
        got = parse_list(c._untagged_response(typ, data, "LIST")[1])
        self.assertEqual(set(got), {"Drafts", "Sent", "Trash", "Junk"})
        typ, data = c._simple_command("LIST", '""', "*", "RETURN", "(SUBSCRIBED)")
        got = parse_list(c._untagged_response(typ, data, "LIST")[1])
        self.assertIn("\\Subscribed", got["INBOX"])
        self.assertNotIn("\\Subscribed", got["Junk"])
        self.assertNotIn("Ghost", got)
        typ, data = c._simple_command("LIST", "(SUBSCRIBED)", '""', "*")
        got = parse_list(c._untagged_response(typ, data, "LIST")[1])
        self.assertEqual(set(got), {"INBOX", "Drafts", "Sent", "Trash", "Ghost"})
        self.assertEqual(got["Ghost"], {"\\Subscribed", "\\NonExistent"})
        # Several patterns at once.
        typ, data = c._simple_command("LIST", '""', '(INBOX "S*")')
        got = parse_list(c._untagged_response(typ, data, "LIST")[1])
        self.assertEqual(set(got), {"INBOX", "Sent"})
        r = self.raw("ext")
        got, done = r.cmd('LIST (BOGUS) "" "*"')
        self.assertIn(b" BAD", done)

    # ---- CREATE / DELETE / RENAME ---------------------------------------------

    def test_create_errors(self):
        c = self.imap("create")
        self.no(c.create("INBOX"))
        self.no(c.create("inbox"))
        self.ok(c.create("Projects"))
        self.no(c.create("Projects"), "ALREADYEXISTS")
        for bad in ('"x//y"', '"/lead"', '"wild*"', '"pct%"'):
            self.no(c.create(bad))
        self.no(c.create('"' + "n" * 1100 + '"'))
        # INBOX's inferiors: the first level is INBOX in any case.
        self.ok(c.create("inbox/sub"))
        self.assertIn("INBOX/sub", self.mailboxes("create"))
        self.assertIn("INBOX/sub", self.list(c, '""', "INBOX/*"))
        self.assertEqual(self.list(c, '""', "%")["INBOX"], {"\\HasChildren"})
        # DELETE: INBOX cannot go; a name that does not exist cannot either.
        self.no(c.delete("INBOX"))
        self.no(c.delete("Nothing"), "NONEXISTENT")
        r = self.raw("create")
        got, done = r.cmd("CREATE")
        self.assertIn(b" BAD", done)
        # CREATE-SPECIAL-USE: the use moves to the new mailbox.
        got, done = r.cmd('CREATE "Archive 2025" (USE (\\Archive))')
        self.assertIn(b" OK", done)
        self.assertEqual(self.mailbox_row("create", "Archive 2025")["special_use"], "\\Archive")
        got, done = r.cmd('CREATE "Old sent" (USE (\\Sent))')
        self.assertIn(b" OK", done)
        self.assertEqual(self.mailbox_row("create", "Old sent")["special_use"], "\\Sent")
        self.assertIsNone(self.mailbox_row("create", "Sent")["special_use"])
        got, done = r.cmd('CREATE "Odd" (USE (\\Important))')
        self.assertIn(b"NO [USEATTR]", done)

    def test_modified_utf7_round_trip(self):
        c = self.imap("utf7")
        names = ["Entwürfe", "日本語", "Entwürfe/日本語", "A&B", "~peter/mail/台北/日本語"]
        for n in names:
            self.ok(c.create('"%s"' % mutf7(n)))
        stored = self.mailboxes("utf7")
        for n in names:
            self.assertIn(n, stored)
        got = self.list(c)
        for n in names:
            self.assertIn(mutf7(n), got)
        self.assertEqual(mutf7("Entwürfe"), "Entw&APw-rfe")
        self.assertEqual(mutf7("日本語"), "&ZeVnLIqe-")
        self.assertIn("\\HasChildren", got["Entw&APw-rfe"])
        # Status, rename and delete by the encoded name.
        data = self.ok(c.status('"%s"' % mutf7("日本語"), "(MESSAGES)"))
        self.assertIn(b"&ZeVnLIqe-", data[0])
        self.ok(c.rename('"%s"' % mutf7("日本語"), '"%s"' % mutf7("中文")))
        self.assertIn("中文", self.mailboxes("utf7"))
        self.ok(c.delete('"%s"' % mutf7("中文")))
        # Invalid modified UTF-7 cannot be a name; raw 8-bit neither.
        self.no(c.create('"&Jjo"'))
        self.no(c.create('"&AGE-"'))  # "a" encoded: not the shortest form
        r = self.raw("utf7")
        got, done = r.cmd(b'CREATE "Entw\xc3\xbcrfe2"')
        self.assertIn(b" NO", done)

    def test_delete_create_new_uidvalidity(self):
        c = self.imap("uidv")
        self.ok(c.create("Box"))
        before = self.mailbox_row("uidv", "Box")
        self.ok(c.append("Box", None, None, message("uidv@com", "one")))
        self.ok(c.append("Box", None, None, message("uidv@com", "two")))
        self.assertEqual(self.mailbox_row("uidv", "Box")["uidnext"], 3)
        self.ok(c.delete("Box"))
        self.assertIsNone(self.mailbox_row("uidv", "Box"))
        self.ok(c.create("Box"))
        after = self.mailbox_row("uidv", "Box")
        self.assertGreater(after["uidvalidity"], before["uidvalidity"])
        self.assertEqual(after["uidnext"], 1)
        self.assertEqual(after["messages"], 0)
        data = self.ok(c.status("Box", "(UIDVALIDITY UIDNEXT MESSAGES)"))
        self.assertIn(b"UIDVALIDITY %d" % after["uidvalidity"], data[0])
        self.assertIn(b"UIDNEXT 1 ", data[0])

    def test_rename(self):
        c = self.imap("rename")
        self.ok(c.create("r1/child/deep"))
        self.ok(c.append("r1", None, None, message("rename@com", "kept")))
        self.ok(c.append("r1/child", None, None, message("rename@com", "kept too")))
        before = self.mailbox_row("rename", "r1")
        child = self.mailbox_row("rename", "r1/child")
        self.ok(c.rename("r1", "r2"))
        names = self.mailboxes("rename")
        self.assertNotIn("r1", names)
        self.assertNotIn("r1/child", names)
        for n in ("r2", "r2/child", "r2/child/deep"):
            self.assertIn(n, names)
        # UIDs are unchanged, so the UIDVALIDITY stays.
        after = self.mailbox_row("rename", "r2")
        self.assertEqual(after["uidvalidity"], before["uidvalidity"])
        self.assertEqual(after["uidnext"], before["uidnext"])
        self.assertEqual(after["messages"], 1)
        self.assertEqual(self.mailbox_row("rename", "r2/child")["uidvalidity"],
                         child["uidvalidity"])
        # Into a new hierarchy: superior levels are made.
        self.ok(c.rename("r2/child", "top/mid/child"))
        self.assertIn("top/mid", self.mailboxes("rename"))
        self.assertIn("top/mid/child/deep", self.mailboxes("rename"))
        # Errors.
        self.no(c.rename("nothere", "x"), "NONEXISTENT")
        self.no(c.rename("r2", "Sent"), "ALREADYEXISTS")
        self.no(c.rename("r2", "INBOX"), "ALREADYEXISTS")
        self.no(c.rename("r2", "r2/under"))
        self.no(c.rename("r2", '"bad//name"'))
        # A name freed by RENAME can be made again: a new UIDVALIDITY.
        self.ok(c.create("r1"))
        self.assertGreater(self.mailbox_row("rename", "r1")["uidvalidity"],
                           after["uidvalidity"])
        # Renaming up a level over names that move themselves.
        self.ok(c.create("p/q/r"))
        self.ok(c.delete("p"))
        self.ok(c.rename("p/q", "p"))
        self.assertIn("p", self.mailboxes("rename"))
        self.assertIn("p/r", self.mailboxes("rename"))

    def test_rename_inbox(self):
        c = self.imap("inboxren")
        uids = []
        for i, flags in enumerate([None, "(\\Seen)", "(\\Flagged $Work)"]):
            data = self.ok(c.append("INBOX", flags, None, message("inboxren@com", "m%d" % i)))
            uids.append(int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1)))
        self.assertEqual(uids, [1, 2, 3])
        self.ok(c.create("INBOX/child"))
        inbox = self.mailbox_row("inboxren")
        raws = self.stored("inboxren")
        self.ok(c.rename("INBOX", '"Old mail"'))
        # INBOX stays, empty, with its UIDVALIDITY and UIDNEXT; its inferiors stay.
        now = self.mailbox_row("inboxren")
        self.assertEqual(now["messages"], 0)
        self.assertEqual(now["uidvalidity"], inbox["uidvalidity"])
        self.assertEqual(now["uidnext"], inbox["uidnext"])
        self.assertGreater(now["highestmodseq"], inbox["highestmodseq"])
        self.assertIn("INBOX/child", self.mailboxes("inboxren"))
        self.assertEqual(self.node.value(
            "SELECT count(*) FROM mailbox_expunged WHERE mailbox_id = :'p1'::bigint",
            self.mailbox_id("inboxren")), "3")
        # The new mailbox: its own UIDVALIDITY, UIDs 1..n, flags and octets kept.
        old = self.mailbox_row("inboxren", "Old mail")
        self.assertNotEqual(old["uidvalidity"], inbox["uidvalidity"])
        self.assertEqual(old["uidnext"], 4)
        ptrs = self.pointers("inboxren", "Old mail")
        self.assertEqual([p[0] for p in ptrs], [1, 2, 3])
        self.assertEqual([p[1] for p in ptrs], [0, 1, 4])
        self.assertEqual(ptrs[2][2], ["$Work"])
        self.assertEqual([r for _, r in self.stored("inboxren", "Old mail")],
                         [r for _, r in raws])
        data = self.ok(c.status("INBOX", "(MESSAGES UIDNEXT)"))
        self.assertIn(b"MESSAGES 0", data[0])
        self.assertIn(b"UIDNEXT 4", data[0])
        # New mail to INBOX goes on from UIDNEXT.
        data = self.ok(c.append("INBOX", None, None, message("inboxren@com", "after")))
        self.assertIn(b"[APPENDUID %d 4]" % inbox["uidvalidity"], data[0])
        self.no(c.rename("INBOX", '"Old mail"'), "ALREADYEXISTS")

    def test_rename_selected_inbox_expunges(self):
        c = self.imap("appsel")
        self.ok(c.append("INBOX", None, None, message("appsel@com", "one")))
        self.ok(c.append("INBOX", None, None, message("appsel@com", "two")))
        typ, data = c.select("INBOX")
        self.assertEqual(data, [b"2"])
        # APPEND to the selected mailbox: EXISTS before the tagged reply.
        self.ok(c.append("INBOX", None, None, message("appsel@com", "three")))
        self.assertEqual(c.untagged_responses.get("EXISTS")[-1], b"3")
        self.ok(c.rename("INBOX", "Moved"))
        self.assertEqual(len(c.untagged_responses.get("EXPUNGE", [])), 3)
        self.ok(c.noop())
        # DELETE of the selected mailbox leaves the selected state.
        self.ok(c.select("Moved"))
        self.ok(c.delete("Moved"))
        with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
            c._simple_command("FETCH", "1", "(FLAGS)")

    def test_other_session_appends_and_deletes(self):
        a, b = self.imap("twosess"), self.imap("twosess")
        self.ok(a.create("Shared"))
        typ, data = a.select("Shared")
        self.assertEqual(data, [b"0"])
        self.ok(b.append("Shared", None, None, message("twosess@com", "from b")))
        self.ok(a.noop())
        self.assertEqual(a.untagged_responses.get("EXISTS", [b"?"])[-1], b"1")
        # STATUS in b sees it too; then b deletes the mailbox a has selected.
        data = self.ok(b.status("Shared", "(MESSAGES UIDNEXT)"))
        self.assertIn(b"MESSAGES 1 UIDNEXT 2", data[0])
        self.ok(b.delete("Shared"))
        a.noop()  # whatever a is told, the server goes on serving it
        self.assertIn("INBOX", self.list(a))
        self.assertIn("INBOX", self.list(b))

    # ---- APPEND -----------------------------------------------------------------

    def test_append_round_trip(self):
        # A raw socket: imaplib would turn the lone CR into CRLF.
        c = self.imap("append")
        r = self.raw("append")
        uidv = self.mailbox_row("append")["uidvalidity"]
        for i, raw in enumerate([EIGHTBIT, MULTIPART]):
            r.send(b"a%d APPEND INBOX {%d}\r\n" % (i, len(raw)))
            self.assertTrue(r.line().startswith(b"+"))
            r.send(raw + b"\r\n")
            got, done = r.until("a%d" % i)
            self.assertIn(b"OK [APPENDUID %d %d]" % (uidv, i + 1), done)
            self.assertIn(b"(%d octets)" % len(raw), done)
        self.assertEqual(self.stored("append"), [(1, EIGHTBIT), (2, MULTIPART)])
        row = self.node.sql("SELECT m.size, m.bodystructure IS NOT NULL, m.hdr_subject"
                            " FROM message m JOIN mailbox_pointer p ON p.message_id = m.id"
                            " JOIN mailbox b ON b.id = p.mailbox_id"
                            " WHERE b.id = :'p1'::bigint AND p.uid = 2",
                            self.mailbox_id("append"))[0]
        self.assertEqual(int(row[0]), len(MULTIPART))
        self.assertEqual(row[1], "t")
        self.assertEqual(row[2], "multipart äöü")
        self.assertEqual(self.mailbox_row("append")["uidnext"], 3)
        data = self.ok(c.status("INBOX", "(UIDNEXT MESSAGES)"))
        self.assertIn(b"UIDNEXT 3", data[0])

    def test_append_flags_and_date(self):
        c = self.imap("append")
        date = imaplib.Time2Internaldate(1700000000)  # '"14-Nov-2023 ..."' local zone
        data = self.ok(c.append("Drafts", "(\\Draft \\Seen $Label1 Junk)", date,
                                message("append@com", "draft")))
        uid = int(re.search(rb"APPENDUID \d+ (\d+)", data[0]).group(1))
        row = self.node.sql(
            "SELECT p.flags, array_to_string(p.keywords, ' '),"
            " extract(epoch FROM p.internaldate)::bigint, p.modseq, b.highestmodseq"
            " FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
            " WHERE b.id = :'p1'::bigint AND p.uid = :'p2'::bigint",
            self.mailbox_id("append", "Drafts"), uid)[0]
        self.assertEqual(int(row[0]), 16 | 1)
        self.assertEqual(sorted(row[1].split()), ["$Label1", "Junk"])
        self.assertEqual(int(row[2]), 1700000000)
        self.assertEqual(row[3], row[4])
        # An explicit zone.
        r = self.raw("append")
        body = message("append@com", "zoned")
        r.send(b'z1 APPEND Drafts () "17-Jul-1996 02:44:25 -0700" {%d}\r\n' % len(body))
        self.assertTrue(r.line().startswith(b"+"))
        r.send(body + b"\r\n")
        got, done = r.until("z1")
        self.assertIn(b"z1 OK [APPENDUID", done)
        uid = int(re.search(rb"APPENDUID \d+ (\d+)", done).group(1))
        self.assertEqual(int(self.node.value(
            "SELECT extract(epoch FROM p.internaldate)::bigint FROM mailbox_pointer p"
            " WHERE p.mailbox_id = :'p1'::bigint AND p.uid = :'p2'::bigint",
            self.mailbox_id("append", "Drafts"), uid)),
            email.utils.mktime_tz(email.utils.parsedate_tz("17 Jul 1996 02:44:25 -0700")))
        # A day with a leading space, LITERAL+.
        r.send(b'z2 APPEND Drafts " 7-Jul-1996 02:44:25 +0000" {%d+}\r\n' % len(body) + body
               + b"\r\n")
        got, done = r.until("z2")
        self.assertIn(b"z2 OK", done)
        # Errors: a bad date, \Recent, no literal, an empty message, no mailbox.
        got, done = r.cmd('APPEND Drafts "31-Feb-2020 00:00:00 +0000" "x"')
        self.assertIn(b" BAD", done)
        got, done = r.cmd('APPEND Drafts (\\Recent) "x"')
        self.assertIn(b" BAD", done)
        got, done = r.cmd("APPEND Drafts")
        self.assertIn(b" BAD", done)
        got, done = r.cmd('APPEND Drafts ""')
        self.assertIn(b" NO", done)
        got, done = r.cmd('APPEND Nowhere "Subject: x\r\n\r\nx"'.replace("\r\n", " "))
        self.assertIn(b"NO [TRYCREATE]", done)
        self.no(c.append("Nowhere", None, None, message("append@com", "x")), "TRYCREATE")

    # ---- STATUS, quota, namespace, subscriptions -----------------------------------

    def test_status(self):
        c = self.imap("status")
        self.ok(c.create("St"))
        uidv = self.mailbox_row("status", "St")["uidvalidity"]
        sizes = 0
        for flags in (None, "(\\Seen)", "(\\Deleted \\Seen)", None):
            m = message("status@com", "s%d" % sizes)
            sizes += len(m)
            self.ok(c.append("St", flags, None, m))
        data = self.ok(c.status("St", "(MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN"
                                      " HIGHESTMODSEQ SIZE)"))
        hms = self.mailbox_row("status", "St")["highestmodseq"]
        self.assertEqual(data[0].replace(b'"St"', b"St"), b"St (MESSAGES 4 RECENT 4 UIDNEXT 5 UIDVALIDITY %d UNSEEN 2"
                         b" HIGHESTMODSEQ %d SIZE %d)" % (uidv, hms, sizes))
        self.no(c.status("Nope", "(MESSAGES)"), "NONEXISTENT")
        for items in ("(BOGUS)", "()", "MESSAGES"):
            with self.assertRaisesRegex(imaplib.IMAP4.error, "BAD"):
                c.status("St", items)

    def test_quota(self):
        c = self.imap("quota")
        r = self.raw("quota")
        got, done = r.cmd("GETQUOTAROOT INBOX")
        self.assertIn(b" OK", done)
        self.assertEqual([g.replace(b'"INBOX"', b"INBOX") for g in got],
                         [b'* QUOTAROOT INBOX ""\r\n', b'* QUOTA "" ()\r\n'])
        self.ok(c.append("INBOX", None, None, message("quota@com", "q1")))
        used = self.mailbox_row("quota")["bytes"]
        self.node.sql("UPDATE account SET quota_bytes = :'p2'::bigint WHERE object_id = :'p1'",
                      self.account_id("quota"), used + 3000)
        got, done = r.cmd('GETQUOTA ""')
        self.assertIn(b" OK", done)
        self.assertEqual(got, [b'* QUOTA "" (STORAGE %d %d)\r\n'
                               % ((used + 1023) // 1024, (used + 3000) // 1024)])
        got, done = r.cmd("GETQUOTAROOT Sent")
        self.assertEqual(got[0].replace(b'"Sent"', b"Sent"), b'* QUOTAROOT Sent ""\r\n')
        got, done = r.cmd('GETQUOTA "other"')
        self.assertIn(b"NO [NONEXISTENT]", done)
        got, done = r.cmd("GETQUOTAROOT Nope")
        self.assertIn(b"NO [NONEXISTENT]", done)
        got, done = r.cmd('SETQUOTA "" (STORAGE 1)')
        self.assertNotIn(b" OK", done)
        # Over quota: refused, nothing stored.
        before = self.count("quota")
        self.no(c.append("INBOX", None, None, message("quota@com", "big", b"x" * 4000 + b"\r\n")),
                "OVERQUOTA")
        self.assertEqual(self.count("quota"), before)
        self.ok(c.append("INBOX", None, None, message("quota@com", "small")))

    def test_namespace(self):
        r = self.raw("ns")
        got, done = r.cmd("NAMESPACE")
        self.assertIn(b" OK", done)
        self.assertEqual(got, [b'* NAMESPACE (("" "/")) NIL NIL\r\n'])
        c = self.imap("ns")
        self.ok(c.namespace())

    def test_subscriptions(self):
        c = self.imap("subs")
        got = parse_list(self.ok(c.lsub('""', "*")))
        self.assertEqual(set(got), {"INBOX", "Drafts", "Sent", "Trash", "Junk"})
        self.ok(c.create("Keep"))
        self.ok(c.subscribe("Keep"))
        self.ok(c.subscribe("Future"))  # a name that does not exist (yet)
        self.ok(c.subscribe("Keep"))    # twice is fine
        got = parse_list(self.ok(c.lsub('""', "*")))
        self.assertIn("Keep", got)
        self.assertIn("Future", got)
        # DELETE keeps the subscription (RFC 3501 §6.3.6).
        self.ok(c.delete("Keep"))
        self.assertIn("Keep", parse_list(self.ok(c.lsub('""', "*"))))
        self.ok(c.unsubscribe("Keep"))
        self.assertNotIn("Keep", parse_list(self.ok(c.lsub('""', "*"))))
        self.assertEqual(set(parse_list(self.ok(c.lsub('""', "F*")))), {"Future"})
        self.ok(c.subscribe('"%s"' % mutf7("Entwürfe")))
        self.assertEqual(self.node.value(
            "SELECT count(*) FROM mailbox_subscription WHERE name = 'Entwürfe'"
            " AND account_id = :'p1'::bigint", self.account_id("subs")), "1")
        self.assertIn(mutf7("Entwürfe"), parse_list(self.ok(c.lsub('""', "*"))))

    def test_lsub_percent_parent(self):
        c = self.imap("lsubpct")
        self.ok(c.subscribe("foo/bar"))
        got = parse_list(self.ok(c.lsub('""', "%")))
        self.assertEqual(got.get("foo"), {"\\Noselect"})
        self.assertNotIn("foo/bar", got)
        got = parse_list(self.ok(c.lsub('""', "*")))
        self.assertNotIn("foo", got)
        self.assertEqual(got["foo/bar"], set())


if __name__ == "__main__":
    unittest.main()
