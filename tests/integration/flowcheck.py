"""Shared pieces of the mail-flow stress tests (test_crash, test_db_restart)
and bench/deliver: many users made with SQL, process parameters, messages
that carry their identity, an at-least-once injector's bookkeeping and the
one-query check of the store after the storm.

Identity of a message. Every message the injector means to send has a
unique Message-ID; every *attempt* to hand it over (one ofcuto run, one
LMTP transaction) has a unique X-Attempt header. A sender retries an
attempt whose outcome it does not know (killed, connection lost, 4xx/75),
so a Message-ID may legitimately be stored more than once -- sendmail's
at-least-once contract. What ofcmail must guarantee is per attempt: an
attempt that was committed (its X-Attempt is in the store) is stored once
and gives exactly one INBOX pointer to each of its recipients; an attempt
that was acknowledged (ofcuto exit 0, LMTP 250) is committed.
"""
import errno
import os
import subprocess
import time

import ofctest
from ofctest import pgcluster


# How the benchmarks run the node's private cluster: durable, as a site runs
# it (BASELINES.md measured the same way), on loopback and its socket.
DURABLE = ("-c listen_addresses=127.0.0.1 -c port=%d -c unix_socket_directories=%s "
           "-c fsync=on -c synchronous_commit=on -c full_page_writes=on "
           "-c max_connections=200 -c shared_buffers=256MB")


def restart_durable(node, extra=""):
    """Restarts node's private cluster with DURABLE settings plus `extra`
    (more -c options)."""
    c = node.cluster
    opts = DURABLE % (c.port, c.sockdir) + (" " + extra if extra else "")
    c._run([os.path.join(pgcluster.pg_bindir(), "pg_ctl"), "-D", c.data, "-l", c.logfile,
            "-o", opts, "-w", "-t", "60", "restart"])


def add_users(node, count, domain="com", prefix="user"):
    """count persons prefix1..prefixN with an account and an INBOX, in one statement."""
    node.sql("""
        WITH o AS (INSERT INTO dir_object (domain_id, class, name)
                   SELECT d.id, 'PERSON', '%s' || g FROM domain d, generate_series(1, %d) g
                    WHERE d.fqdn = '%s' RETURNING id),
             a AS (INSERT INTO account (object_id, object_class, home_node_id)
                   SELECT o.id, 'PERSON', n.id FROM o, node n WHERE n.is_local
                   RETURNING object_id)
        INSERT INTO mailbox (account_id, name) SELECT object_id, 'INBOX' FROM a
    """ % (prefix, count, domain))


def ensure_process(node, type_, instance):
    """The id of process type_/instance of the local node, registered if needed."""
    pid = node.value("SELECT id FROM process WHERE type = :'p1' AND instance = :'p2'::int",
                     type_, instance)
    if pid is None:
        pid = node.value("INSERT INTO process (node_id, type, instance, domain_id)"
                         " SELECT n.id, :'p1', :'p2'::int,"
                         "  CASE WHEN :'p1' = 'SMTP_IN' THEN (SELECT id FROM domain"
                         "   WHERE parent_id IS NULL ORDER BY id LIMIT 1) END"
                         " FROM node n WHERE n.is_local RETURNING id", type_, instance)
    return int(pid)


def set_params(node, process_id, **params):
    for name, value in params.items():
        node.sql("INSERT INTO process_parameter (process_id, type, name, value)"
                 " SELECT id, type, :'p2', :'p3' FROM process WHERE id = :'p1'::int"
                 " ON CONFLICT (process_id, name) DO UPDATE SET value = EXCLUDED.value",
                 process_id, name, str(value))


# Quick heartbeats and no crash-loop throttling: the tests kill on purpose.
STRESS_PARAMS = dict(HeartbeatInterval=1, HeartbeatTimeout=5, PollInterval=1, StopGrace=2,
                     CrashLoopCount=1000, CrashLoopWindow=1, ThrottleCooldown=1)


def message(msgid, attempt, rcpts, size=400, domain="com"):
    """A message of about `size` octets naming its Message-ID and attempt."""
    head = ("From: <sender@example.org>\r\nTo: %s\r\nSubject: stress %s\r\n"
            "Message-ID: <%s@stress.test>\r\nX-Attempt: %s\r\n"
            "Date: Tue, 25 Nov 2025 20:37:23 +0000\r\n\r\n"
            % (", ".join("%s@%s" % (r, domain) for r in rcpts), msgid, msgid, attempt))
    line = "The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopq\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def demote(home):
    """Popen keyword arguments that run a program as the node's run user."""
    if os.geteuid() == 0:
        return dict(user=home.uid, group=home.gid, extra_groups=[])
    return {}


def _q(s):
    return "'" + str(s).replace("'", "''") + "'"


def check_store(node, attempts, limit=5):
    """attempts: iterable of (attempt, msgid, [rcpt names], outcome) with
    outcome 'ok' (acknowledged), 'killed', 'temp' (75/4xx) or 'lost'
    (connection lost: unknown). Returns a list of violations, each
    [check, detail...]; empty when the store is right. One psql call: the
    expectations go into a temporary table, then one query runs every check
    (each limited to `limit` offending rows)."""
    rows = []
    for attempt, msgid, rcpts, outcome in attempts:
        for r in rcpts:
            rows.append("(%s,%s,%s,%s)" % (_q(attempt), _q(msgid), _q(r), _q(outcome)))
    sql = ["CREATE TEMP TABLE att (attempt text, msgid text, rcpt text, outcome text);"]
    for i in range(0, len(rows), 5000):
        sql.append("INSERT INTO att VALUES %s;" % ",".join(rows[i:i + 5000]))
    sql.append("""
CREATE TEMP TABLE got AS
  SELECT btrim(h.value) AS attempt, m.id AS message_id, o.name AS rcpt, p.mailbox_id, p.uid
    FROM message m
    JOIN message_header h ON h.message_id = m.id AND h.name = 'x-attempt'
    LEFT JOIN mailbox_pointer p ON p.message_id = m.id
    LEFT JOIN mailbox b ON b.id = p.mailbox_id
    LEFT JOIN dir_object o ON o.id = b.account_id;
CREATE INDEX ON att (attempt, rcpt); CREATE INDEX ON att (msgid, rcpt);
CREATE INDEX ON got (attempt, rcpt);
ANALYZE att; ANALYZE got;
WITH stored AS (SELECT DISTINCT attempt FROM got),
     ptr AS (SELECT p.mailbox_id, p.uid, p.message_id, p.modseq, m.size
               FROM mailbox_pointer p JOIN message m ON m.id = p.message_id)
(SELECT 'queue not empty', q, n::text FROM (
   SELECT 'gateway_in' AS q, count(*) AS n FROM gateway_in UNION ALL
   SELECT 'submission', count(*) FROM submission UNION ALL
   SELECT 'dead', count(*) FROM dead) s WHERE n > 0)
UNION ALL
(SELECT 'attempt stored more than once', attempt, string_agg(DISTINCT message_id::text, ',')
   FROM got GROUP BY attempt HAVING count(DISTINCT message_id) > 1 ORDER BY 2 LIMIT %(l)d)
UNION ALL
(SELECT 'stored attempt never made', attempt, '' FROM stored
  WHERE attempt NOT IN (SELECT attempt FROM att) ORDER BY 2 LIMIT %(l)d)
UNION ALL
(SELECT 'acknowledged attempt not stored', a.attempt, a.msgid FROM att a
  WHERE a.outcome = 'ok' AND a.attempt NOT IN (SELECT attempt FROM stored)
  ORDER BY 2 LIMIT %(l)d)
UNION ALL
(SELECT 'stored attempt: pointers to a recipient <> 1', a.attempt || ' ' || a.rcpt,
        count(g.uid)::text
   FROM (SELECT DISTINCT attempt, rcpt FROM att WHERE attempt IN (SELECT attempt FROM stored)) a
   LEFT JOIN got g ON g.attempt = a.attempt AND g.rcpt = a.rcpt
  GROUP BY a.attempt, a.rcpt HAVING count(g.uid) <> 1 ORDER BY 2 LIMIT %(l)d)
UNION ALL
(SELECT 'pointer for a non-recipient', g.attempt || ' ' || coalesce(g.rcpt, '?'),
        g.mailbox_id || '/' || g.uid FROM got g
  WHERE g.uid IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM att a WHERE a.attempt = g.attempt AND a.rcpt = g.rcpt)
  ORDER BY 2 LIMIT %(l)d)
UNION ALL
(SELECT 'acknowledged message missing from an INBOX', a.msgid || ' ' || a.rcpt, '' FROM
   (SELECT DISTINCT msgid, rcpt FROM att WHERE outcome = 'ok') a
  WHERE NOT EXISTS (SELECT 1 FROM got g JOIN att a2 ON a2.attempt = g.attempt
                     WHERE a2.msgid = a.msgid AND g.rcpt = a.rcpt AND g.uid IS NOT NULL)
  ORDER BY 2 LIMIT %(l)d)
UNION ALL
(SELECT 'mailbox totals/uidnext wrong', b.id::text,
        format('messages=%%s/%%s bytes=%%s/%%s uidnext=%%s max(uid)=%%s highestmodseq=%%s max(modseq)=%%s',
               b.messages, coalesce(x.n, 0), b.bytes, coalesce(x.s, 0), b.uidnext, x.maxuid,
               b.highestmodseq, x.maxmodseq)
   FROM mailbox b LEFT JOIN (SELECT mailbox_id, count(*) AS n, sum(size) AS s, max(uid) AS maxuid,
                                    max(modseq) AS maxmodseq, count(DISTINCT uid) AS nuid
                               FROM ptr GROUP BY mailbox_id) x ON x.mailbox_id = b.id
  WHERE b.messages <> coalesce(x.n, 0) OR b.bytes <> coalesce(x.s, 0)
     OR b.uidnext <> coalesce(x.maxuid, 0) + 1 OR x.nuid <> x.n
     OR b.highestmodseq < coalesce(x.maxmodseq, 1)
  ORDER BY b.id LIMIT %(l)d)
UNION ALL
(SELECT 'refcount <> pointers', m.id::text, m.refcount || ' vs ' || count(p.uid)
   FROM message m LEFT JOIN mailbox_pointer p ON p.message_id = m.id
  GROUP BY m.id HAVING m.refcount <> count(p.uid) ORDER BY m.id LIMIT %(l)d)
UNION ALL
(SELECT 'message stored but referenced by nothing', m.id::text, coalesce(m.hdr_message_id, '')
   FROM message m WHERE m.refcount = 0
    AND NOT EXISTS (SELECT 1 FROM submission s WHERE s.message_id = m.id)
    AND NOT EXISTS (SELECT 1 FROM gateway_out s WHERE s.message_id = m.id)
  ORDER BY m.id LIMIT %(l)d)
UNION ALL
(SELECT 'DELIVERED billing rows <> pointers', m.id::text,
        coalesce(b.n, 0) || ' vs ' || m.refcount
   FROM message m
   LEFT JOIN (SELECT message_id, count(*) AS n FROM message_billing
               WHERE disposition = 'DELIVERED' GROUP BY message_id) b ON b.message_id = m.id
  WHERE m.refcount <> coalesce(b.n, 0)
  ORDER BY m.id LIMIT %(l)d)
""" % {"l": limit})
    return node.sql("\n".join(sql))


def store_summary(node):
    return node.sql("SELECT (SELECT count(*) FROM message), (SELECT count(*) FROM mailbox_pointer),"
                    " (SELECT count(*) FROM message_billing)")[0]


def daemon_children(guardian_pid):
    """{executable basename + args: pid} of the live children of the Guardian."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if fields[0] == "Z" or int(fields[1]) != guardian_pid:
                continue
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except (OSError, ValueError):
            continue
        key = " ".join([os.path.basename(argv[0])] + [a for a in argv[1:] if a.startswith("instance=")])
        found[key] = int(entry)
    return found


def scan_logs(node, needles=("runtime error", "Sanitizer", "ERROR: AddressSanitizer")):
    """Lines of the node's logs that show a sanitizer report."""
    bad = []
    d = node.home.log_dir
    if not os.path.isdir(d):
        return bad
    for name in sorted(os.listdir(d)):
        try:
            with open(os.path.join(d, name), errors="replace") as f:
                for line in f:
                    if any(n in line for n in needles):
                        bad.append("%s: %s" % (name, line.rstrip()))
        except OSError:
            pass
    return bad[:20]


def run_ofcuto(home, sender, rcpts, data, timeout=60, on_start=None, on_end=None):
    """One ofcuto run; on_start(popen) lets a killer see it. Returns (exit
    status, stderr). A program that cannot be started (a concurrent build
    rewriting it: EACCES, ETXTBSY) is retried: that attempt never ran."""
    for tries in range(100):
        try:
            return _run_ofcuto(home, sender, rcpts, data, timeout, on_start, on_end)
        except (PermissionError, OSError) as e:
            if tries == 99 or e.errno not in (errno.EACCES, errno.ETXTBSY, errno.ENOENT):
                raise
            time.sleep(0.2)


def _run_ofcuto(home, sender, rcpts, data, timeout, on_start, on_end):
    p = subprocess.Popen([os.path.join(ofctest.BIN_DIR, "ofcuto"), "-c", home.config,
                          "-f", sender] + list(rcpts), stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **demote(home))
    if on_start:
        on_start(p)
    try:
        try:
            _, err = p.communicate(data, timeout=timeout)
        except (BrokenPipeError, subprocess.TimeoutExpired):
            p.kill()
            _, err = p.communicate()
    finally:
        if on_end:
            on_end(p)
    return p.returncode, err.decode(errors="replace")
