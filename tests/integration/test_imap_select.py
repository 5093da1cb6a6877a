"""imap4srv's selected state: SELECT and EXAMINE (every response of RFC
3501 §6.3.1, CONDSTORE's HIGHESTMODSEQ), \\Recent across sessions, STORE in
all its forms (FLAGS, +FLAGS, -FLAGS, .SILENT, keywords, UNCHANGEDSINCE with
MODIFIED), COPY and MOVE with COPYUID and the UIDs they give in the target,
EXPUNGE, UID EXPUNGE, CLOSE and UNSELECT, two sessions seeing each other's
EXISTS, EXPUNGE and FLAGS (on NOOP and during IDLE), IDLE woken by a
delivery, and sequence sets with '*', reversed ranges and numbers out of
range.

Each test has an account of its own; messages come from bulk() (SQL, fast)
or deliver() (the LMTP path) where the real path matters. Exact responses
are read with Raw; imaplib checks that a stock client is happy.
"""
import re
import select
import time

from imaptest import ImapTestCase
from ofctest import wait_until


def status(tagged):
    return tagged.split(b" ", 2)[1].decode()


def rest(tagged):
    """b"t4 OK text\\r\\n" -> b"OK text\\r\\n" (tests do not count tags)."""
    return tagged.split(b" ", 1)[1]


def find(lines, pattern):
    """The first response matching the regular expression (bytes), or None."""
    rx = re.compile(pattern)
    for line in lines:
        m = rx.search(line)
        if m:
            return m
    return None


class ImapSelectTest(ImapTestCase):
    USERS = ["sel", "rec", "sto", "cond", "copy", "move", "exp", "close", "two", "idle", "seq",
             "kw", "ro", "qr", "lazy", "pool"]

    # ---- helpers ------------------------------------------------------------

    def pointers(self, user, mailbox="INBOX"):
        """{uid: (flags, [keywords], modseq)} of a mailbox, from the store."""
        rows = self.node.sql(
            "SELECT p.uid, p.flags, array_to_string(p.keywords, ' '), p.modseq"
            " FROM mailbox_pointer p JOIN mailbox b ON b.id = p.mailbox_id"
            " JOIN dir_object o ON o.id = b.account_id"
            " WHERE o.name = :'p1' AND b.name = :'p2' ORDER BY p.uid", user, mailbox)
        return {int(r[0]): (int(r[1]), r[2].split() if r[2] else [], int(r[3])) for r in rows}

    def create_mailbox(self, user, name):
        self.node.sql("INSERT INTO mailbox (account_id, name)"
                      " SELECT id, :'p2' FROM dir_object WHERE name = :'p1'", user, name)

    def selected(self, user, n, mailbox="INBOX", flags=0, cmd="SELECT"):
        """A Raw session of user with n new messages in mailbox, selected."""
        uids = self.bulk(user, n, mailbox=mailbox, flags=flags) if n else []
        r = self.raw(user)
        got, done = r.cmd("%s %s" % (cmd, mailbox))
        self.assertEqual(status(done), "OK", (got, done))
        return r, uids

    # ---- SELECT / EXAMINE ---------------------------------------------------

    def test_select_and_examine(self):
        uids = self.bulk("sel", 3)
        self.node.sql("UPDATE mailbox_pointer SET flags = 1 WHERE uid = :'p1'::bigint"
                      " AND mailbox_id = :'p2'::bigint", uids[0], self.mailbox_id("sel"))
        row = self.mailbox_row("sel")
        r = self.raw("sel")
        got, done = r.cmd("SELECT inbox")
        self.assertEqual(rest(done), b"OK [READ-WRITE] SELECT completed\r\n")
        self.assertIn(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n", got)
        self.assertIn(b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)]"
                      b" Flags permitted\r\n", got)
        self.assertIn(b"* 3 EXISTS\r\n", got)
        self.assertIn(b"* 3 RECENT\r\n", got)
        self.assertIn(b"* OK [UNSEEN 2] First unseen\r\n", got)
        self.assertIn(b"* OK [UIDVALIDITY %d] UIDs valid\r\n" % row["uidvalidity"], got)
        self.assertIn(b"* OK [UIDNEXT %d] Predicted next UID\r\n" % row["uidnext"], got)
        self.assertIn(b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % row["highestmodseq"], got)

        # EXAMINE: read-only, no permanent flags, and the recent ones were taken above.
        got, done = r.cmd("EXAMINE INBOX")
        self.assertEqual(rest(done), b"OK [READ-ONLY] EXAMINE completed\r\n")
        self.assertIn(b"* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n", got)
        self.assertIn(b"* 3 EXISTS\r\n", got)
        self.assertIn(b"* 0 RECENT\r\n", got)
        self.assertEqual(status(r.cmd("STORE 1 +FLAGS (\\Seen)")[1]), "NO")
        self.assertEqual(status(r.cmd("EXPUNGE")[1]), "NO")
        self.assertEqual(status(r.cmd("MOVE 1 INBOX")[1]), "NO")
        self.assertEqual(status(r.cmd("CHECK")[1]), "OK")

        # A failing SELECT leaves the selected state (RFC 3501 §6.3.1).
        got, done = r.cmd("SELECT nosuchbox")
        self.assertEqual(status(done), "NO")
        self.assertIn(b"[NONEXISTENT]", done)
        self.assertNotEqual(status(r.cmd("STORE 1 +FLAGS (\\Seen)")[1]), "OK")
        self.assertEqual(status(r.cmd("SELECT INBOX (FOO)")[1]), "BAD")

        # imaplib is content.
        c = self.imap("sel")
        typ, data = c.select("INBOX", readonly=True)
        self.assertEqual((typ, data), ("OK", [b"3"]))
        self.assertEqual(c.response("UIDVALIDITY")[1], [str(row["uidvalidity"]).encode()])
        typ, data = c.select("INBOX")
        self.assertEqual(typ, "OK")
        self.assertEqual(c.unselect()[0], "OK")

    def test_recent_across_sessions(self):
        self.bulk("rec", 2)
        a = self.raw("rec")
        got, _ = a.cmd("SELECT INBOX")
        self.assertIn(b"* 2 RECENT\r\n", got)
        b = self.raw("rec")
        got, _ = b.cmd("SELECT INBOX")
        self.assertIn(b"* 2 EXISTS\r\n", got)
        self.assertIn(b"* 0 RECENT\r\n", got)
        # A new message is recent for the first session told about it only.
        self.bulk("rec", 1)
        got = a.ok("NOOP")
        self.assertIn(b"* 3 EXISTS\r\n", got)
        self.assertIn(b"* 3 RECENT\r\n", got)
        got = b.ok("NOOP")
        self.assertIn(b"* 3 EXISTS\r\n", got)
        self.assertIn(b"* 0 RECENT\r\n", got)
        # EXAMINE takes nothing: a later SELECT still sees them as recent.
        self.bulk("rec", 1)
        c = self.raw("rec")
        got, _ = c.cmd("EXAMINE INBOX")
        self.assertIn(b"* 1 RECENT\r\n", got)
        got, _ = c.cmd("SELECT INBOX")
        self.assertIn(b"* 1 RECENT\r\n", got)
        got, _ = c.cmd("SELECT INBOX")
        self.assertIn(b"* 0 RECENT\r\n", got)

    # ---- STORE --------------------------------------------------------------

    def test_store_variants(self):
        r, uids = self.selected("sto", 4)
        got = r.ok("STORE 1 FLAGS (\\Seen \\Flagged)")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Seen \\Flagged \\Recent))\r\n"])
        got = r.ok("STORE 1:2 +FLAGS (\\Answered)")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Seen \\Answered \\Flagged \\Recent))\r\n",
                               b"* 2 FETCH (FLAGS (\\Answered \\Recent))\r\n"])
        got = r.ok("STORE 1 -FLAGS (\\Seen \\Answered)")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n"])
        # .SILENT: no FETCH, but the change is made.
        self.assertEqual(r.ok("STORE 3 +FLAGS.SILENT (\\Deleted \\Draft)"), [])
        self.assertEqual(self.pointers("sto")[uids[2]][0], 8 | 16)
        self.assertEqual(r.ok("STORE 3 FLAGS.SILENT ()"), [])
        self.assertEqual(self.pointers("sto")[uids[2]][0], 0)
        # UID STORE answers with UID; a flag without parentheses is fine.
        got = r.ok("UID STORE %d +FLAGS \\Seen" % uids[3])
        self.assertEqual(got, [b"* 4 FETCH (FLAGS (\\Seen \\Recent) UID %d)\r\n" % uids[3]])
        p = self.pointers("sto")
        self.assertEqual([p[u][0] for u in uids], [4, 2, 0, 1])
        # Unknown system flags and \Recent cannot be stored; bad items are BAD.
        for bad in ("STORE 1 +FLAGS (\\Recent)", "STORE 1 +FLAGS (\\Bogus)",
                    "STORE 1 FLAGZ (\\Seen)", "STORE 1 +FLAGS (a(b)", "STORE x FLAGS ()",
                    "STORE 1 +FLAGS"):
            self.assertEqual(status(r.cmd(bad)[1]), "BAD", bad)
        # imaplib.
        c = self.imap("sto")
        c.select("INBOX")
        typ, data = c.store("2", "-FLAGS", "(\\Answered)")
        self.assertEqual(typ, "OK")
        self.assertEqual(data, [b"2 (FLAGS ())"])

    def test_keywords(self):
        r, uids = self.selected("kw", 2)
        got = r.ok("STORE 1 +FLAGS ($Forwarded Junk)")
        # A keyword new to the mailbox: FLAGS and PERMANENTFLAGS again (RFC 3501 §7.2.6).
        self.assertIn(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Junk)\r\n",
                      got)
        self.assertIn(b"* 1 FETCH (FLAGS (\\Recent $Forwarded Junk))\r\n", got)
        # Keywords compare without case; the first spelling stays.
        got = r.ok("STORE 1 +FLAGS (junk \\Seen)")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Seen \\Recent $Forwarded Junk))\r\n"])
        got = r.ok("STORE 1 -FLAGS ($FORWARDED)")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Seen \\Recent Junk))\r\n"])
        got = r.ok("STORE 2 FLAGS (Work Home)")
        self.assertIn(b"* 2 FETCH (FLAGS (\\Recent Work Home))\r\n", got)
        self.assertEqual(self.pointers("kw")[uids[1]][1], ["Work", "Home"])
        # A new SELECT lists the keywords in use.
        got, _ = r.cmd("SELECT INBOX")
        self.assertIn(b"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Home Junk Work)\r\n",
                      got)
        self.assertIn(b"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft"
                      b" Home Junk Work \\*)] Flags permitted\r\n", got)

    def test_condstore(self):
        uids = self.bulk("cond", 3)
        r = self.raw("cond")
        got, done = r.cmd("SELECT INBOX (CONDSTORE)")
        self.assertEqual(status(done), "OK")
        h = int(find(got, rb"\[HIGHESTMODSEQ (\d+)\]").group(1))
        self.assertEqual(h, self.mailbox_row("cond")["highestmodseq"])
        got = r.ok("STORE 1 +FLAGS (\\Seen)")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (%d))\r\n" % (h + 1)])
        self.assertEqual(self.mailbox_row("cond")["highestmodseq"], h + 1)
        # A STORE that changes nothing leaves modseqs alone.
        got = r.ok("STORE 1 +FLAGS (\\Seen)")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (%d))\r\n" % (h + 1)])
        self.assertEqual(self.mailbox_row("cond")["highestmodseq"], h + 1)
        # UNCHANGEDSINCE: message 1 changed after h, so it is left alone and named.
        got, done = r.cmd("STORE 1:2 (UNCHANGEDSINCE %d) +FLAGS (\\Flagged)" % h)
        self.assertEqual(rest(done), b"OK [MODIFIED 1] Conditional STORE failed\r\n")
        self.assertEqual(got, [b"* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (%d))\r\n" % (h + 2)])
        p = self.pointers("cond")
        self.assertEqual(p[uids[0]][0], 1)
        self.assertEqual(p[uids[1]], (4, [], h + 2))
        # UID STORE names UIDs in MODIFIED; .SILENT still tells the new MODSEQ.
        got, done = r.cmd("UID STORE %d,%d (UNCHANGEDSINCE %d) +FLAGS.SILENT (\\Draft)"
                          % (uids[1], uids[2], h + 1))
        self.assertEqual(rest(done), b"OK [MODIFIED %d] Conditional STORE failed\r\n" % uids[1])
        self.assertEqual(got, [b"* 3 FETCH (UID %d MODSEQ (%d))\r\n" % (uids[2], h + 3)])
        got, done = r.cmd("STORE 3 (UNCHANGEDSINCE %d) FLAGS ()" % (h + 3))
        self.assertEqual(status(done), "OK")
        self.assertNotIn(b"MODIFIED", done)
        # HIGHESTMODSEQ grows and a new SELECT reports it.
        got, _ = r.cmd("EXAMINE INBOX")
        self.assertIn(b"* OK [HIGHESTMODSEQ %d] Highest\r\n" % (h + 4), got)
        self.assertEqual(status(r.cmd("STORE 1 (UNCHANGEDSINCE x) FLAGS ()")[1]), "BAD")

    # ---- COPY / MOVE --------------------------------------------------------

    def test_copy(self):
        self.create_mailbox("copy", "Archive")
        dst = self.mailbox_row("copy", "Archive")
        r, uids = self.selected("copy", 3)
        r.ok("STORE 2 +FLAGS (\\Flagged Work)")
        got, done = r.cmd("COPY 2:3 Archive")
        self.assertEqual(rest(done), b"OK [COPYUID %d %d:%d 1:2] COPY completed\r\n"
                         % (dst["uidvalidity"], uids[1], uids[2]))
        src = self.pointers("copy")
        copied = self.pointers("copy", "Archive")
        self.assertEqual(sorted(copied), [1, 2])
        self.assertEqual(copied[1][:2], (4, ["Work"]))
        self.assertEqual(copied[2][:2], src[uids[2]][:2])
        self.assertEqual(self.stored("copy", "Archive")[0][1], self.stored("copy")[1][1])
        self.assertEqual(self.mailbox_row("copy", "Archive")["uidnext"], 3)
        self.assertEqual(self.mailbox_row("copy", "Archive")["messages"], 2)
        # UID COPY, into the mailbox itself: the copies appear in this session.
        got, done = r.cmd("UID COPY %d INBOX" % uids[0])
        new_uid = uids[2] + 1
        self.assertIn(b"[COPYUID %d %d %d]" % (self.mailbox_row("copy")["uidvalidity"], uids[0],
                                               new_uid), done)
        self.assertIn(b"* 4 EXISTS\r\n", got)
        # No such target: TRYCREATE; the copies are recent for whoever selects the target.
        got, done = r.cmd("COPY 1 Nowhere")
        self.assertEqual(rest(done), b"NO [TRYCREATE] Mailbox does not exist\r\n")
        got, _ = r.cmd("SELECT Archive")
        self.assertIn(b"* 2 RECENT\r\n", got)
        # imaplib.
        c = self.imap("copy")
        c.select("INBOX")
        typ, data = c.copy("1", "Archive")
        self.assertEqual(typ, "OK")
        self.assertEqual(self.mailbox_row("copy", "Archive")["messages"], 3)

    def test_copy_over_quota(self):
        self.create_mailbox("copy", "Quota")
        r, uids = self.selected("copy", 1)
        self.node.sql("UPDATE account SET quota_bytes = (SELECT sum(b.bytes) FROM mailbox b"
                      " WHERE b.account_id = account.object_id) + 10"
                      " WHERE object_id = (SELECT id FROM dir_object WHERE name = 'copy')")
        try:
            got, done = r.cmd("COPY 1:* Quota")
            self.assertEqual(rest(done), b"NO [OVERQUOTA] Quota exceeded\r\n")
        finally:
            self.node.sql("UPDATE account SET quota_bytes = NULL"
                          " WHERE object_id = (SELECT id FROM dir_object WHERE name = 'copy')")

    def test_move(self):
        self.create_mailbox("move", "Done")
        dst = self.mailbox_row("move", "Done")
        r, uids = self.selected("move", 4)
        r.ok("STORE 3 +FLAGS.SILENT (\\Seen)")
        got, done = r.cmd("MOVE 2:3 Done")
        self.assertEqual(rest(done), b"OK MOVE completed\r\n")
        self.assertEqual(got, [b"* OK [COPYUID %d %d:%d 1:2] Moved\r\n"
                               % (dst["uidvalidity"], uids[1], uids[2]),
                               b"* 3 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"])
        self.assertEqual(sorted(self.pointers("move")), [uids[0], uids[3]])
        self.assertEqual(self.pointers("move", "Done")[2][0], 1)
        # UID MOVE; the source UIDs are recorded as expunged (QRESYNC's VANISHED).
        got, done = r.cmd("UID MOVE %d Done" % uids[3])
        self.assertEqual(got, [b"* OK [COPYUID %d %d 3] Moved\r\n"
                               % (dst["uidvalidity"], uids[3]), b"* 2 EXPUNGE\r\n"])
        self.assertEqual(int(self.node.value(
            "SELECT count(*) FROM mailbox_expunged WHERE mailbox_id = :'p1'::bigint",
            self.mailbox_id("move"))), 3)
        self.assertEqual(self.mailbox_row("move")["messages"], 1)
        self.assertEqual(self.mailbox_row("move", "Done")["messages"], 3)
        self.assertEqual(status(r.cmd("MOVE 1 Nowhere")[1]), "NO")
        self.assertEqual(status(r.cmd("MOVE 2 Done")[1]), "BAD")
        # imaplib (MOVE through the generic command interface).
        c = self.imap("move")
        c.select("INBOX")
        typ, data = c._simple_command("MOVE", "1", "Done")
        self.assertEqual(typ, "OK")
        self.assertEqual(self.mailbox_row("move")["messages"], 0)

    # ---- EXPUNGE, CLOSE, UNSELECT -------------------------------------------

    def test_expunge(self):
        r, uids = self.selected("exp", 6)
        r.ok("STORE 2,4,5 +FLAGS.SILENT (\\Deleted)")
        got, done = r.cmd("EXPUNGE")
        self.assertEqual(rest(done), b"OK EXPUNGE completed\r\n")
        # Descending: each number is the message's number when it is sent.
        self.assertEqual(got, [b"* 5 EXPUNGE\r\n", b"* 4 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"])
        self.assertEqual(sorted(self.pointers("exp")), [uids[0], uids[2], uids[5]])
        # UID EXPUNGE removes only the named \Deleted messages.
        r.ok("STORE 1:3 +FLAGS.SILENT (\\Deleted)")
        got, done = r.cmd("UID EXPUNGE %d:%d" % (uids[2], uids[5]))
        self.assertEqual(rest(done), b"OK UID EXPUNGE completed\r\n")
        self.assertEqual(got, [b"* 3 EXPUNGE\r\n", b"* 2 EXPUNGE\r\n"])
        self.assertEqual(sorted(self.pointers("exp")), [uids[0]])
        self.assertEqual(r.ok("EXPUNGE"), [b"* 1 EXPUNGE\r\n"])
        self.assertEqual(r.ok("EXPUNGE"), [])
        self.assertEqual(status(r.cmd("UID EXPUNGE")[1]), "BAD")
        self.assertEqual(self.mailbox_row("exp")["messages"], 0)
        # imaplib.
        self.bulk("exp", 2)
        c = self.imap("exp")
        c.select("INBOX")
        c.store("1", "+FLAGS", "(\\Deleted)")
        typ, data = c.expunge()
        self.assertEqual((typ, data), ("OK", [b"1"]))

    def test_close_and_unselect(self):
        r, uids = self.selected("close", 3)
        r.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        # UNSELECT leaves \Deleted messages where they are.
        self.assertEqual(r.ok("UNSELECT"), [])
        self.assertEqual(len(self.pointers("close")), 3)
        self.assertNotEqual(status(r.cmd("STORE 1 +FLAGS (\\Seen)")[1]), "OK")
        self.assertNotEqual(status(r.cmd("UNSELECT")[1]), "OK")
        # CLOSE of a read-only mailbox removes nothing either.
        r.ok("EXAMINE INBOX")
        self.assertEqual(r.ok("CLOSE"), [])
        self.assertEqual(len(self.pointers("close")), 3)
        # CLOSE expunges silently.
        r.ok("SELECT INBOX")
        self.assertEqual(r.ok("CLOSE"), [])
        self.assertEqual(sorted(self.pointers("close")), uids[1:])
        self.assertNotEqual(status(r.cmd("CLOSE")[1]), "OK")
        self.assertNotEqual(status(r.cmd("EXPUNGE")[1]), "OK")
        c = self.imap("close")
        c.select("INBOX")
        c.store("1", "+FLAGS", "(\\Deleted)")
        self.assertEqual(c.close()[0], "OK")
        self.assertEqual(sorted(self.pointers("close")), uids[2:])

    # ---- two sessions -------------------------------------------------------

    def test_two_sessions(self):
        uids = self.bulk("two", 4)
        a = self.raw("two")
        # With CONDSTORE enabled a's unsolicited FETCH responses carry MODSEQ.
        self.assertEqual(a.ok("ENABLE CONDSTORE"), [b"* ENABLED CONDSTORE\r\n"])
        a.ok("SELECT INBOX")
        b = self.raw("two")
        b.ok("SELECT INBOX")
        # Flags set by b reach a on NOOP (and CHECK).
        b.ok("STORE 2 +FLAGS.SILENT (\\Flagged Later)")
        got = a.ok("NOOP")
        self.assertEqual(got, [b"* 2 FETCH (FLAGS (\\Flagged \\Recent Later) MODSEQ (%d))\r\n"
                               % self.pointers("two")[uids[1]][2]])
        self.assertEqual(a.ok("NOOP"), [])
        b.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
        got = a.ok("CHECK")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (%d))\r\n"
                               % self.pointers("two")[uids[0]][2]])
        # b expunges message 3: not during a's STORE (RFC 3501 §7.4.1), then on NOOP.
        b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(b.ok("EXPUNGE"), [b"* 3 EXPUNGE\r\n"])
        got = a.ok("STORE 4 +FLAGS (\\Answered)")
        self.assertNotIn(b"EXPUNGE", b"".join(got))
        self.assertIn(b"* 4 FETCH (FLAGS (\\Answered \\Recent) MODSEQ", b"".join(got))
        got = a.ok("NOOP")
        self.assertIn(b"* 3 EXPUNGE\r\n", got)
        self.assertEqual(a.ok("NOOP"), [])
        # b sees a's flags after the renumbering; a new delivery reaches both.
        got = b.ok("NOOP")
        self.assertEqual(got, [b"* 3 FETCH (FLAGS (\\Answered))\r\n"])
        new_uid = self.deliver("two")
        got = a.ok("NOOP")
        # a's recent messages are the three left of its first four, and the new one.
        self.assertEqual(got[:2], [b"* 4 EXISTS\r\n", b"* 4 RECENT\r\n"])
        got = b.ok("NOOP")
        self.assertEqual(got, [b"* 4 EXISTS\r\n", b"* 0 RECENT\r\n"])
        got = b.ok("UID STORE %d +FLAGS (\\Seen)" % new_uid)
        self.assertEqual(got, [b"* 4 FETCH (FLAGS (\\Seen) UID %d)\r\n" % new_uid])

    def test_changes_reach_other_commands(self):
        """Others' changes are read when their NOTIFY came (not only on NOOP);
        this session's own are told at once."""
        a, uids = self.selected("lazy", 2)
        b = self.raw("lazy")
        b.ok("SELECT INBOX")
        b.ok("STORE 2 +FLAGS.SILENT (\\Flagged)")
        seen = []

        def told():
            seen.extend(a.ok("FETCH 1 (UID)"))
            return b"* 2 FETCH (FLAGS (\\Flagged \\Recent))\r\n" in seen
        wait_until(told, 10, interval=0.05, what="b's flag change on a's FETCH")
        # Nothing twice, nothing more: a's next FETCH only answers.
        self.assertEqual(a.ok("FETCH 1 (UID)"), [b"* 1 FETCH (UID %d)\r\n" % uids[0]])
        # A delivery reaches a on a command that may announce it.
        self.bulk("lazy", 1)
        seen.clear()

        def exists():
            seen.extend(a.ok("FETCH 1 (UID)"))
            return b"* 3 EXISTS\r\n" in seen
        wait_until(exists, 10, interval=0.05, what="EXISTS on a's FETCH")
        # a's own APPEND and EXPUNGE are in their own responses, whatever NOTIFY does.
        msg = "Subject: own\r\n\r\nmine\r\n"
        got = a.ok("APPEND INBOX (\\Deleted) {%d+}\r\n%s" % (len(msg), msg))
        self.assertIn(b"* 4 EXISTS\r\n", got)
        self.assertEqual(a.ok("EXPUNGE"), [b"* 4 EXPUNGE\r\n"])
        self.assertEqual(a.ok("NOOP"), [])

    def test_pool_sessions_replaced(self):
        """The prepared statements come back with new database sessions."""
        a, uids = self.selected("pool", 3)
        n = self.node
        n.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
              " WHERE application_name LIKE 'imap4srv/%'")
        # Each pooled handle finds its session gone and reconnects; several
        # commands so that every handle of the pool serves one.
        for _ in range(6):
            got = a.ok("FETCH 1:* (UID FLAGS)")
            self.assertEqual(len([g for g in got if b" FETCH (UID " in g]), 3, got)
        b = self.raw("pool")
        got, done = b.cmd("SELECT INBOX")
        self.assertEqual(status(done), "OK", (got, done))
        b.ok("STORE 1 +FLAGS.SILENT (\\Answered)")
        self.assertEqual(a.ok("NOOP"), [b"* 1 FETCH (FLAGS (\\Answered \\Recent))\r\n"])

    def test_idle(self):
        a, uids = self.selected("idle", 2)
        b = self.raw("idle")
        b.ok("SELECT INBOX")
        a.send(b"i1 IDLE\r\n")
        self.assertEqual(a.line(), b"+ idling\r\n")
        # A delivery wakes the idle session through NOTIFY, not a poll.
        self.deliver("idle")
        t0 = time.monotonic()
        self.assertEqual(a.line(), b"* 3 EXISTS\r\n")
        self.assertLess(time.monotonic() - t0, 1.5)
        self.assertEqual(a.line(), b"* 3 RECENT\r\n")
        # Another session's flags and expunges arrive as they happen.
        b.ok("NOOP")
        b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)")
        self.assertEqual(a.line(), b"* 1 FETCH (FLAGS (\\Flagged \\Recent))\r\n")
        b.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(a.line(), b"* 2 FETCH (FLAGS (\\Deleted \\Recent))\r\n")
        b.ok("EXPUNGE")
        self.assertEqual(a.line(), b"* 2 EXPUNGE\r\n")
        # SQL straight into the store: the trigger's NOTIFY is enough.
        self.bulk("idle", 2)
        self.assertEqual(a.line(), b"* 4 EXISTS\r\n")
        self.assertEqual(a.line(), b"* 4 RECENT\r\n")
        a.send(b"DONE\r\n")
        self.assertEqual(a.line(), b"i1 OK IDLE terminated\r\n")
        self.assertEqual(a.ok("NOOP"), [])
        # After IDLE, changes wait for the next command again.
        b.ok("STORE 1 -FLAGS.SILENT (\\Flagged)")
        self.assertEqual(select.select([a.sock], [], [], 0.5)[0], [])
        self.assertEqual(a.ok("NOOP"), [b"* 1 FETCH (FLAGS (\\Recent))\r\n"])
        # imaplib's idle (3.14+) or the raw form; IDLE without a mailbox works too.
        c = self.raw("idle")
        c.send(b"x IDLE\r\n")
        self.assertEqual(c.line(), b"+ idling\r\n")
        c.send(b"done\r\n")
        self.assertEqual(c.line(), b"x OK IDLE terminated\r\n")

    # ---- sequence sets ------------------------------------------------------

    def test_sequence_sets(self):
        r, uids = self.selected("seq", 5)
        self.assertEqual(r.ok("STORE 4:2 +FLAGS.SILENT (\\Seen)"), [])
        self.assertEqual([self.pointers("seq")[u][0] for u in uids], [0, 1, 1, 1, 0])
        self.assertEqual(r.ok("STORE *:5 +FLAGS.SILENT (\\Flagged)"), [])
        self.assertEqual(r.ok("STORE *,1 +FLAGS.SILENT (\\Draft)"), [])
        self.assertEqual([self.pointers("seq")[u][0] for u in uids], [16, 1, 1, 1, 4 | 16])
        got = r.ok("STORE 1,1:2,2 -FLAGS (\\Draft \\Seen)")
        self.assertEqual(got, [b"* 1 FETCH (FLAGS (\\Recent))\r\n",
                               b"* 2 FETCH (FLAGS (\\Recent))\r\n"])
        # Out of range message numbers are BAD; UIDs that do not exist name nothing.
        for bad in ("STORE 6 +FLAGS (\\Seen)", "STORE 0 +FLAGS (\\Seen)",
                    "STORE 1:9 +FLAGS (\\Seen)", "COPY 7 INBOX", "MOVE 2,6 INBOX",
                    "STORE 1,,2 +FLAGS (\\Seen)", "STORE 4294967296 +FLAGS (\\Seen)"):
            self.assertEqual(status(r.cmd(bad)[1]), "BAD", bad)
        self.assertEqual(r.ok("UID STORE %d:%d +FLAGS (\\Seen)" % (uids[4] + 1, uids[4] + 50)),
                         [])
        # UID n:* with n above every UID still names the last message (RFC 3501 §6.4.8).
        got = r.ok("UID STORE %d:* +FLAGS (\\Answered)" % (uids[4] + 100))
        self.assertEqual(got, [b"* 5 FETCH (FLAGS (\\Answered \\Flagged \\Draft \\Recent) UID %d)"
                               b"\r\n" % uids[4]])
        got = r.ok("UID STORE %d,%d:%d +FLAGS.SILENT (\\Seen)" % (uids[4], uids[0], uids[1]))
        self.assertEqual([self.pointers("seq")[u][0] & 1 for u in uids], [1, 1, 1, 1, 1])
        # '*' in an empty mailbox: BAD for numbers, nothing for UIDs.
        self.create_mailbox("seq", "Empty")
        r.ok("SELECT Empty")
        self.assertEqual(status(r.cmd("STORE * +FLAGS (\\Seen)")[1]), "BAD")
        self.assertEqual(r.ok("UID STORE 1:* +FLAGS (\\Seen)"), [])
        self.assertEqual(r.ok("UID COPY 1:* INBOX"), [])

    # ---- QRESYNC ------------------------------------------------------------

    def test_qresync(self):
        uids = self.bulk("qr", 4)
        a = self.raw("qr")
        caps = b"".join(a.ok("CAPABILITY"))
        if b" QRESYNC" not in caps:
            self.skipTest("QRESYNC is not offered")
        # Not enabled: the parameter is BAD (RFC 7162 §3.2.5).
        self.assertEqual(status(a.cmd("SELECT INBOX (QRESYNC (1 1))")[1]), "BAD")
        self.assertEqual(a.ok("ENABLE QRESYNC"), [b"* ENABLED QRESYNC\r\n"])
        got = a.ok("SELECT INBOX")
        v = int(find(got, rb"\[UIDVALIDITY (\d+)\]").group(1))
        h = int(find(got, rb"\[HIGHESTMODSEQ (\d+)\]").group(1))
        b = self.raw("qr")
        b.ok("SELECT INBOX")
        b.ok("STORE 2 +FLAGS.SILENT (\\Seen)")
        b.ok("STORE 3 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
        m2 = self.pointers("qr")[uids[1]][2]
        # Resynchronisation: what went and what changed since h, after [CLOSED].
        got = a.ok("SELECT INBOX (QRESYNC (%d %d))" % (v, h))
        self.assertEqual(got[0], b"* OK [CLOSED] Previous mailbox closed\r\n")
        self.assertIn(b"* 3 EXISTS\r\n", got)
        self.assertEqual(got[-2:], [b"* VANISHED (EARLIER) %d\r\n" % uids[2],
                                    b"* 2 FETCH (FLAGS (\\Seen) UID %d MODSEQ (%d))\r\n"
                                    % (uids[1], m2)])
        # Known UIDs limit VANISHED; sequence match data is accepted.
        got = a.ok("SELECT INBOX (QRESYNC (%d %d %d:%d (1:2 %d:%d)))"
                   % (v, h, uids[0], uids[1], uids[0], uids[1]))
        self.assertNotIn(b"VANISHED", b"".join(got))
        self.assertIn(b"* 2 FETCH (FLAGS (\\Seen) UID %d MODSEQ (%d))\r\n" % (uids[1], m2), got)
        # Another UIDVALIDITY: a plain SELECT.
        got = a.ok("SELECT INBOX (QRESYNC (%d %d))" % (v + 1, h))
        self.assertNotIn(b"VANISHED", b"".join(got))
        self.assertNotIn(b"FETCH", b"".join(got))
        for bad in ("(QRESYNC (%d))" % v, "(QRESYNC (0 1))", "(QRESYNC (%d 0))" % v,
                    "(QRESYNC (%d 1 x))" % v, "(QRESYNC (%d 1 1:2 (1)))" % v):
            self.assertEqual(status(a.cmd("SELECT INBOX " + bad)[1]), "BAD", bad)
        a.ok("SELECT INBOX")
        # VANISHED replaces EXPUNGE, for others' expunges and for this session's own.
        b.ok("NOOP")
        b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
        b.ok("EXPUNGE")
        self.assertEqual(a.ok("NOOP"), [b"* VANISHED %d\r\n" % uids[0]])
        got = a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)")
        self.assertEqual(got, [b"* 2 FETCH (UID %d MODSEQ (%d))\r\n"
                               % (uids[3], self.pointers("qr")[uids[3]][2])])
        self.assertEqual(a.ok("EXPUNGE"), [b"* VANISHED %d\r\n" % uids[3]])
        self.assertEqual(a.ok("STORE 1 -FLAGS (\\Seen)"),
                         [b"* 1 FETCH (FLAGS () UID %d MODSEQ (%d))\r\n"
                          % (uids[1], self.pointers("qr")[uids[1]][2])])
