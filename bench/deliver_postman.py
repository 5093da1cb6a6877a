#!/usr/bin/env python3
"""Postman throughput: messages/s delivered by one ofcomd.

Loads N messages of 4 KiB, each to one random user of 1,000, onto the
submission queue of a node in a private PostgreSQL cluster restarted with
durable settings (fsync=on, synchronous_commit=on, full_page_writes=on, as
BASELINES.md measured the ceiling), then starts one ofcomd and times it
until the queue is empty. Repeated for each BatchSize given.

    OFC_BUILD_DIR=build-release python3 bench/deliver_postman.py \\
        [--messages 10000] [--users 1000] [--batch 1,50,200]

Prints one line per BatchSize: wall-clock msg/s (ofcomd start to empty
queue, includes start-up) and server-side msg/s (first to last billing
row).
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
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--batch", default="1,50,200")
    args = ap.parse_args()

    node = Node()
    flowcheck.restart_durable(node)
    flowcheck.add_users(node, args.users)
    pid = node.value("SELECT id FROM process WHERE type = 'POSTMAN' AND instance = 1")
    exe = os.path.join(ofctest.BIN_DIR, "ofcomd")
    print("ofcomd %s, %d messages of 4 KiB to random users of %d, durable commits"
          % (exe, args.messages, args.users))
    for batch in [int(b) for b in args.batch.split(",")]:
        node.sql("DELETE FROM process_parameter WHERE process_id = :'p1'::int;"
                 " INSERT INTO process_parameter (process_id, type, name, value)"
                 " VALUES (:'p1'::int, 'POSTMAN', 'BatchSize', :'p2');"
                 " TRUNCATE message_billing", pid, str(batch))
        # 4 KiB: a header and a body of 80-column lines.
        node.sql("""
            WITH m AS (INSERT INTO message (size, raw)
                       SELECT octet_length(b), b FROM (
                         SELECT convert_to('From: <bench@far.org>' || E'\\r\\n' ||
                                'Subject: bench ' || g || E'\\r\\n\\r\\n' ||
                                repeat(repeat('x', 78) || E'\\r\\n', 50), 'UTF8') AS b, g
                           FROM generate_series(1, %d) g) s RETURNING id)
            INSERT INTO submission (message_id, sender, recipients)
            SELECT id, 'bench@far.org', ARRAY['user' || (1 + floor(random() * %d))::int || '@com']
              FROM m
        """ % (args.messages, args.users))
        node.sql("VACUUM ANALYZE")
        with tempfile.TemporaryFile() as err:
            t0 = time.monotonic()
            p = subprocess.Popen([exe, "-c", node.home.config, "instance=1", "-f"],
                                 stdout=subprocess.DEVNULL, stderr=err)
            while node.value("SELECT count(*) FROM submission") != "0":
                time.sleep(0.05)
            wall = time.monotonic() - t0
            p.terminate()
            p.wait(30)
        n, span = node.sql("SELECT count(*), extract(epoch FROM max(disposed_at) - min(disposed_at))"
                           " FROM message_billing")[0]
        print("BatchSize=%-4d  wall %7.0f msg/s   server-side %7.0f msg/s   (%s delivered)"
              % (batch, args.messages / wall, int(n) / max(float(span), 1e-6), n))
    node.close()


if __name__ == "__main__":
    main()
