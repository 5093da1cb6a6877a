#!/usr/bin/env python3
"""Inbound gateway throughput: messages/s one ofcgwind moves from gateway_in.

Loads N messages of 4 KiB (CRLF, as LMTP stores them), each to one random
user of 1,000, onto gateway_in of a node in a private PostgreSQL cluster
restarted with durable settings (as deliver_postman.py does), then starts
one ofcgwind (SMTP_IN) and times it until gateway_in is empty: every
message analysed (GMime), stored once with its cached IMAP fields and put
on submission. Repeated for each BatchSize given.

    OFC_BUILD_DIR=build-release python3 bench/deliver_gateway.py \\
        [--messages 5000] [--users 1000] [--batch 1,50,200] [--perf FILE]

--perf records the gateway and its database backend with perf(1) during
the last run.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import flowcheck  # noqa: E402
import ofctest  # noqa: E402
from ofctest import Node  # noqa: E402



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--batch", default="1,50,200")
    ap.add_argument("--perf", help="perf.data file for the last run")
    args = ap.parse_args()

    node = Node()
    flowcheck.restart_durable(node)
    flowcheck.add_users(node, args.users)
    # A node in service holds many messages; on an empty table the planner
    # caches sequential scans for the foreign key checks of the first
    # sessions (until autovacuum's statistics replace those plans), which
    # would measure a node's first minute, not its steady state.
    node.sql("""
        INSERT INTO message (size, raw)
        SELECT 4096, convert_to(repeat('x', 4096), 'UTF8') FROM generate_series(1, 20000);
        ANALYZE message""")
    pid = node.value("SELECT id FROM process WHERE type = 'SMTP_IN' ORDER BY id LIMIT 1")
    exe = os.path.join(ofctest.BIN_DIR, "ofcgwind")
    print("ofcgwind %s, %d messages of 4 KiB to random users of %d, durable commits"
          % (exe, args.messages, args.users))
    batches = [int(b) for b in args.batch.split(",")]
    for i, batch in enumerate(batches):
        node.sql("DELETE FROM process_parameter WHERE process_id = :'p1'::int;"
                 " INSERT INTO process_parameter (process_id, type, name, value)"
                 " VALUES (:'p1'::int, 'SMTP_IN', 'BatchSize', :'p2');"
                 " TRUNCATE submission", pid, str(batch))
        node.sql("""
            INSERT INTO gateway_in (source, client, sender, recipients, raw)
            SELECT 'LMTP', 'bench', 'bench@far.org',
                   ARRAY['user' || (1 + floor(random() * %d))::int || '@com'],
                   convert_to('From: Bench <bench@far.org>' || E'\\r\\n' ||
                              'To: someone@com' || E'\\r\\n' ||
                              'Subject: bench ' || g || E'\\r\\n' ||
                              'Date: Tue, 25 Nov 2025 20:37:23 +0000' || E'\\r\\n' ||
                              'Message-ID: <' || g || '@bench>' || E'\\r\\n\\r\\n' ||
                              repeat(repeat('x', 78) || E'\\r\\n', 50), 'UTF8')
              FROM generate_series(1, %d) g
        """ % (args.users, args.messages))
        node.sql("VACUUM ANALYZE")
        with tempfile.TemporaryFile() as err:
            t0 = time.monotonic()
            p = subprocess.Popen([exe, "-c", node.home.config, "-f"],
                                 stdout=subprocess.DEVNULL, stderr=err)
            perf = None
            if args.perf and i == len(batches) - 1:
                time.sleep(0.5)
                backend = node.value("SELECT pid FROM pg_stat_activity"
                                     " WHERE application_name LIKE 'ofcgwind%'")
                perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", args.perf,
                                         "-p", "%d,%s" % (p.pid, backend)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while node.value("SELECT count(*) FROM gateway_in") != "0":
                time.sleep(0.05)
            wall = time.monotonic() - t0
            if perf is not None:
                perf.send_signal(2)
                perf.wait(30)
            p.terminate()
            p.wait(30)
        n = node.value("SELECT count(*) FROM submission")
        print("BatchSize=%-4d  %7.0f msg/s   (%s submitted)" % (batch, args.messages / wall, n))
    node.close()


if __name__ == "__main__":
    main()
