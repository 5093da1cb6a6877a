/*
 * mon_config.c - configuration tests: processes, accounts, domains,
 * gateways.
 *
 * Some of what the planning guide lists here is also guarded by the
 * schema: an account's home node and a domain's configuration node are
 * NOT NULL foreign keys. Those checks stay, because they cost one
 * anti-join and catch what a restore or a replica-mode load let through,
 * and they say in the report what the schema promises.
 */
/* This program. */
#include "mon.h"

/* "Postman 1", "SMTP.ACME.COM 1": how disp process names an instance. */
#define PROCESS_NAME "t.display_name || COALESCE('.' || upper(d.fqdn), '') || ' ' || p.instance"

/* The statement that starts it again, for the suggested actions. */
#define STARTUP "'startup process ' || lower(p.type) || ' instance=' || p.instance || ';'"

/* $1 the node. */
static const char processes_sql[] =
    "WITH x AS ("
    " SELECT " PROCESS_NAME " AS pname, p.type, p.instance, COALESCE(s.state, 'STOPPED') AS state,"
    "        s.last_exit, s.retry_at, s.last_wakeup,"
    "        (SELECT e.value FROM process_parameter_effective e"
    "          WHERE e.process_id = p.id AND e.name = 'HeartbeatTimeout') AS hb_timeout,"
    "        " STARTUP " AS startup"
    "   FROM process p JOIN process_type t ON t.name = p.type"
    "   LEFT JOIN domain d ON d.id = p.domain_id"
    "   LEFT JOIN process_status s ON s.process_id = p.id"
    "  WHERE p.node_id = $1::integer AND t.managed AND p.desired_state = 'RUNNING'),"
    " g AS (SELECT n.name,"
    "              g.pid IS NOT NULL AND g.last_wakeup > now() - interval '60 seconds' AS alive,"
    "              g.last_wakeup"
    "         FROM node n LEFT JOIN guardian_status g ON g.node_id = n.id"
    "        WHERE n.id = $1::integer)"
    " SELECT 'ERROR',"
    "        format('the Guardian of %s is not running (last heartbeat: %s), so nothing "
    "starts or restarts the %s process%s wanted running', g.name,"
    "               COALESCE(date_trunc('second', now() - g.last_wakeup) || ' ago', 'never'),"
    "               (SELECT count(*) FROM x), CASE WHEN (SELECT count(*) FROM x) = 1 THEN ''"
    "               ELSE 'es' END),"
    "        'Guardian of ' || g.name,"
    "        'Start it: ofcguard start; then disp process; shows what it started.'"
    "   FROM g WHERE NOT g.alive AND EXISTS (SELECT 1 FROM x)"
    " UNION ALL"
    " SELECT CASE WHEN x.state IN ('BACKOFF') THEN 'WARNING' ELSE 'ERROR' END,"
    "        CASE x.state"
    "        WHEN 'FAILED' THEN format('%s is wanted running but FAILED: it could not be "
    "started (%s)', x.pname, COALESCE(x.last_exit, 'no reason recorded'))"
    "        WHEN 'THROTTLED' THEN format('%s is wanted running but THROTTLED after exiting "
    "again and again (last exit: %s); next try %s', x.pname,"
    "             COALESCE(x.last_exit, 'unknown'),"
    "             COALESCE('in ' || date_trunc('second', x.retry_at - now()), 'not planned'))"
    "        WHEN 'BACKOFF' THEN format('%s exited (%s) and is started again in %s', x.pname,"
    "             COALESCE(x.last_exit, 'unknown'),"
    "             COALESCE(date_trunc('second', x.retry_at - now())::text, 'a moment'))"
    "        WHEN 'RUNNING' THEN format('%s is RUNNING but silent: no heartbeat for %s "
    "(HeartbeatTimeout %s s)', x.pname, date_trunc('second', now() - x.last_wakeup),"
    "             x.hb_timeout)"
    "        ELSE format('%s is wanted running but %s%s', x.pname, x.state,"
    "             COALESCE(' (last exit: ' || x.last_exit || ')', '')) END,"
    "        'process ' || x.pname,"
    "        CASE x.state"
    "        WHEN 'FAILED' THEN 'Read the reason in the Guardian''s log, fix it, then shutdown "
    "and startup the instance: ' || x.startup"
    "        WHEN 'THROTTLED' THEN 'Read the process''s log for why it exits; the Guardian "
    "tries again after ThrottleCooldown, or at once after shutdown and ' || x.startup"
    "        WHEN 'BACKOFF' THEN 'Read the process''s log for why it exited; the Guardian "
    "restarts it.'"
    "        WHEN 'RUNNING' THEN 'It may hang: read its log; the Guardian restarts it after "
    "HeartbeatTimeout.'"
    "        ELSE 'Read the Guardian''s log for why it did not start it; ' || x.startup"
    "             || ' asks again.' END"
    "   FROM x, g"
    "  WHERE g.alive AND (x.state IN ('STOPPED', 'FAILED', 'THROTTLED', 'BACKOFF')"
    "        OR (x.state = 'RUNNING' AND x.last_wakeup < now()"
    "            - COALESCE(x.hb_timeout, '120')::bigint * interval '1 second'))";

/* Up to ten addresses of a group of accounts, and how many more. */
#define SOME_ADDRESSES                                                                             \
    "array_to_string((array_agg(x.name || '@' || x.fqdn ORDER BY x.fqdn, x.name_key))[1:10],"      \
    " ', ') || CASE WHEN count(*) > 10 THEN format(' and %s more', count(*) - 10) ELSE '' END"

/* $1 the node. */
static const char accounts_sql[] =
    "SELECT 'ERROR',"
    "       format('%s account%s home node id %s, which is no known node: %s', count(*),"
    "              CASE WHEN count(*) = 1 THEN ' has' ELSE 's have' END, a.home_node_id, "
    /**/ SOME_ADDRESSES "),"
    "       format('home node id %s', a.home_node_id),"
    "       'Give the accounts an existing home node: modify person NAME uanode=NODE;'"
    "  FROM account a JOIN dir_address x ON x.object_id = a.object_id"
    " WHERE NOT EXISTS (SELECT 1 FROM node n WHERE n.id = a.home_node_id)"
    " GROUP BY a.home_node_id"
    " UNION ALL"
    " SELECT 'ERROR',"
    "        format('%s account%s home on node %s, and %s has no route to it: mail for them "
    "cannot leave this node: %s', count(*), CASE WHEN count(*) = 1 THEN ' has its' ELSE "
    "'s have their' END, n.name, l.name, " SOME_ADDRESSES "),"
    "        format('route %s -> %s', l.name, n.name),"
    "        format('Add a route from %s to %s (table route), or give the accounts a home on "
    "a node that is reachable: modify person NAME uanode=NODE;', l.name, n.name)"
    "   FROM account a JOIN dir_address x ON x.object_id = a.object_id"
    "   JOIN node n ON n.id = a.home_node_id"
    "   JOIN node l ON l.id = $1::integer"
    "  WHERE a.home_node_id <> $1::integer"
    "    AND NOT EXISTS (SELECT 1 FROM route r WHERE r.source_node_id = $1::integer"
    "                       AND r.destination_node_id = a.home_node_id)"
    "  GROUP BY n.name, l.name";

static const char domains_sql[] =
    "SELECT 'ERROR',"
    "       format('domain %s has configuration node id %s, which is no known node',"
    "              upper(d.fqdn), d.confignode_id),"
    "       'domain ' || upper(d.fqdn),"
    "       'Give the domain an existing configuration node (domain.confignode_id): the node "
    "that owns its directory.'"
    "  FROM domain d WHERE NOT EXISTS (SELECT 1 FROM node n WHERE n.id = d.confignode_id)";

/* $1 the node. */
static const char gateways_sql[] =
    "SELECT 'WARNING',"
    "       format('gateway %s has no route: no mail leaves through it', g.name),"
    "       'gateway ' || g.name,"
    "       'Give it a route (gateway_route: a domain, *.domain, or * for everything else), or "
    "delete the gateway.'"
    "  FROM gateway g"
    " WHERE g.node_id = $1::integer AND g.type = 'SMTP'"
    "   AND NOT EXISTS (SELECT 1 FROM gateway_route r WHERE r.gateway_id = g.id)"
    " UNION ALL"
    " SELECT CASE WHEN p.desired_state = 'RUNNING' THEN 'ERROR' ELSE 'WARNING' END,"
    "        CASE WHEN d.id IS NULL"
    "             THEN format('SMTP process %s serves no domain, so it has no gateway to send for',"
    "                         p.instance)"
    "             ELSE format('%s is registered, but %s has no SMTP gateway for %s: the "
    "process has nothing to send', " PROCESS_NAME ", l.name, upper(d.fqdn)) END,"
    "        'process ' || " PROCESS_NAME ","
    "        'Create the gateway of the domain with its route (gateway_smtp_default(node, "
    "domain) makes the default one), or deregister the process.'"
    "   FROM process p JOIN process_type t ON t.name = p.type"
    "   JOIN node l ON l.id = p.node_id"
    "   LEFT JOIN domain d ON d.id = p.domain_id"
    "  WHERE p.node_id = $1::integer AND p.type = 'SMTP'"
    "    AND (d.id IS NULL OR NOT EXISTS (SELECT 1 FROM gateway g WHERE g.node_id = p.node_id"
    "                                        AND g.type = 'SMTP' AND g.domain_id = d.id))";

const struct mon_test mon_config_tests[] = {
    {"processes", processes_sql, 1, {MON_P_NODE}},
    {"accounts", accounts_sql, 1, {MON_P_NODE}},
    {"domains", domains_sql, 0, {MON_P_NODE}},
    {"gateways", gateways_sql, 1, {MON_P_NODE}},
    {NULL, NULL, 0, {MON_P_NODE}},
};
