"""Crash test: kill -9 at random moments loses no message and delivers none twice.

A node with 1,000 users (made with SQL), the Guardian running the inbound
gateway (SMTP_IN, ofcgwind) and two Postmen (ofcomd 1 and 2) with quick
heartbeats and no crash-loop throttling. OFC_CRASH_MESSAGES messages
(default 10,000), each to 1-3 random users, are injected through ofcuto
processes, several in flight at once, while a killer thread sends SIGKILL
to ofcuto runs, to the gateway and to the Postmen at random moments; the
Guardian restarts the daemons. The randomness is seeded (OFC_CRASH_SEED,
printed) so a failure can be replayed.

What "exactly once" means here. The injector behaves like sendmail: an
ofcuto run that exits 75 or is killed is retried, and a message counts as
injected only when a run exits 0. A run can be killed after its COMMIT and
before it exits: the retry then stores the message a second time. That is
sendmail's at-least-once contract, not an ofcmail bug, so the test tells
the copies apart: every message carries a unique Message-ID, every run
(attempt) a unique X-Attempt header, and the check (one SQL query, see
flowcheck.check_store) demands:
  - every attempt whose ofcuto exited 0 is stored, and so every Message-ID
    is in each of its recipients' INBOX at least once;
  - every stored attempt (an X-Attempt in the store) is one message row and
    exactly one INBOX pointer per recipient, none for anyone else: the
    gateway and the Postmen, killed mid-batch, neither lost nor doubled it;
  - the queues (gateway_in, submission, dead) are empty; UIDs unique per
    mailbox, uidnext = max(uid) + 1, mailbox message/byte totals and message
    refcounts equal to the pointers, one DELIVERED billing row per pointer,
    no stored message left unreferenced.
"""
import os
import random
import signal
import sys
import threading
import time
import unittest

import flowcheck
from ofctest import Guardian, Node, TestCase, wait_until

MESSAGES = int(os.environ.get("OFC_CRASH_MESSAGES", "10000"))
USERS = 1000
INJECTORS = int(os.environ.get("OFC_CRASH_INJECTORS", "6"))
DAEMON_KILLS = int(os.environ.get("OFC_CRASH_DAEMON_KILLS", "4"))  # per daemon: backoff doubles


class CrashTest(TestCase):
    def setUp(self):
        self.seed = int(os.environ.get("OFC_CRASH_SEED") or random.SystemRandom().randrange(1 << 32))
        print("\ncrash test: OFC_CRASH_SEED=%d, %d messages, %d injectors"
              % (self.seed, MESSAGES, INJECTORS), file=sys.stderr, flush=True)
        self.node = n = Node()
        flowcheck.add_users(n, USERS)
        self.daemons = {}
        for type_, inst, key in (("SMTP_IN", 1, "ofcgwind instance=1"), ("POSTMAN", 1, "ofcomd instance=1"),
                                 ("POSTMAN", 2, "ofcomd instance=2")):
            pid = flowcheck.ensure_process(n, type_, inst)
            flowcheck.set_params(n, pid, **flowcheck.STRESS_PARAMS)
            self.daemons[key] = pid
        n.sql("UPDATE process SET desired_state = 'RUNNING' WHERE id IN (%s)"
              % ",".join(str(p) for p in self.daemons.values()))
        self.guardian = Guardian(n)
        r = self.guardian.start()
        self.assertOk(r, "ofcguard start")
        wait_until(lambda: len([k for k in flowcheck.daemon_children(self.guardian.pid())
                                if k in self.daemons]) == 3, 30, what="the three daemons running")

    def tearDown(self):
        self.guardian._cleanup()
        self.node.close()

    def test_kill9_everything(self):
        n = self.node
        rng = random.Random(self.seed)
        # Message plans drawn up front so the injectors' order does not change them.
        plans = [("m%d-%d" % (self.seed % 100000, i),
                  ["user%d" % u for u in rng.sample(range(1, USERS + 1), rng.randint(1, 3))])
                 for i in range(MESSAGES)]
        attempts = []          # (attempt, msgid, rcpts, outcome)
        lock = threading.Lock()
        inflight = set()
        unexpected = []
        stop = threading.Event()
        kills = {"ofcuto": 0}
        next_plan = iter(range(MESSAGES))

        def on_start(p):
            with lock:
                inflight.add(p)

        def on_end(p):
            with lock:
                inflight.discard(p)

        def injector(k):
            try:
                inject(k)
            except Exception as e:  # a dead injector must fail the test
                with lock:
                    unexpected.append(("injector %d" % k, "died", repr(e)))

        def inject(k):
            counter = 0
            while True:
                with lock:
                    i = next(next_plan, None)
                if i is None:
                    return
                msgid, rcpts = plans[i]
                for tries in range(1000):
                    counter += 1
                    attempt = "a%d-%d" % (k, counter)
                    data = flowcheck.message(msgid, attempt, rcpts)
                    rc, err = flowcheck.run_ofcuto(n.home, "sender@example.org",
                                                   ["%s@com" % r for r in rcpts], data,
                                                   on_start=on_start, on_end=on_end)
                    outcome = "ok" if rc == 0 else "killed" if rc == -signal.SIGKILL else \
                        "temp" if rc == 75 else "other"
                    with lock:
                        attempts.append((attempt, msgid, rcpts, outcome))
                        if outcome == "other":
                            unexpected.append((msgid, rc, err.strip()))
                    if outcome in ("ok", "other"):
                        break
                    if outcome == "temp":
                        time.sleep(0.05)
                else:
                    with lock:
                        unexpected.append((msgid, "gave up", ""))

        def killer():
            krng = random.Random(self.seed ^ 0x5eed)
            gpid = self.guardian.pid()
            due = {}      # daemon key -> (pid, time to kill it)
            kills.update({k: 0 for k in self.daemons})
            while not stop.is_set():
                time.sleep(krng.expovariate(1 / 0.08))
                with lock:
                    victims = sorted(inflight, key=lambda p: p.pid)
                if victims and krng.random() < 0.7:
                    try:
                        krng.choice(victims).send_signal(signal.SIGKILL)
                        kills["ofcuto"] += 1
                    except OSError:
                        pass
                children = flowcheck.daemon_children(gpid)
                now = time.monotonic()
                for key in self.daemons:
                    pid = children.get(key)
                    if pid is None or kills[key] >= DAEMON_KILLS:
                        continue
                    if key not in due or due[key][0] != pid:
                        due[key] = (pid, now + krng.uniform(0.3, 5.0))
                    elif now >= due[key][1]:
                        try:
                            os.kill(pid, signal.SIGKILL)
                            kills[key] += 1
                        except OSError:
                            pass

        t0 = time.monotonic()
        kt = threading.Thread(target=killer, daemon=True)
        kt.start()
        threads = [threading.Thread(target=injector, args=(k,)) for k in range(INJECTORS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        injected = time.monotonic() - t0
        # Keep killing daemons while the queues drain, until each has had its share.
        wait_until(lambda: all(kills[k] >= DAEMON_KILLS for k in self.daemons)
                   or n.value("SELECT count(*) FROM gateway_in") == "0"
                   and n.value("SELECT count(*) FROM submission") == "0", 120, interval=0.5,
                   what="the daemon kills")
        stop.set()
        kt.join()
        wait_until(lambda: n.value("SELECT (SELECT count(*) FROM gateway_in)"
                                   " + (SELECT count(*) FROM submission)") == "0",
                   300, interval=0.5, what="gateway_in and submission to drain")
        drained = time.monotonic() - t0
        t1 = time.monotonic()
        problems = flowcheck.check_store(n, attempts)
        checked = time.monotonic() - t1
        outcomes = {}
        for a in attempts:
            outcomes[a[3]] = outcomes.get(a[3], 0) + 1
        msgs, ptrs, bills = flowcheck.store_summary(n)
        print("crash test: seed %d: %d messages, %d attempts %s; kills %s; injected in %.1f s,"
              " drained at %.1f s, checked in %.1f s; store: %s messages, %s pointers,"
              " %s billing rows" % (self.seed, MESSAGES, len(attempts), outcomes, kills, injected,
                                    drained, checked, msgs, ptrs, bills),
              file=sys.stderr, flush=True)
        self.assertEqual(unexpected[:5], [], "ofcuto runs with unexpected exits (first 5)")
        acked = {a[1] for a in attempts if a[3] == "ok"}
        self.assertEqual([p[0] for p in plans if p[0] not in acked][:5], [],
                         "messages never injected (first 5)")
        self.assertEqual(problems, [], "seed %d: store violations (first rows of each check)"
                         % self.seed)
        self.assertGreater(kills["ofcuto"], 0)
        restarts = n.sql("SELECT p.type, p.instance, s.restarts FROM process_status s"
                         " JOIN process p ON p.id = s.process_id WHERE p.id IN (%s)"
                         " ORDER BY 1, 2" % ",".join(str(p) for p in self.daemons.values()))
        # Each killed daemon is back (after the Guardian's backoff: 1, 2, 4, ... s).
        wait_until(lambda: all(k in flowcheck.daemon_children(self.guardian.pid())
                               for k in self.daemons), 90, interval=0.5,
                   what="the Guardian to restart every killed daemon (%s)" % restarts)
        self.assertEqual(flowcheck.scan_logs(n), [])


if __name__ == "__main__":
    unittest.main()
