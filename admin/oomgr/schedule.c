/*
 * schedule.c - the time slices in which an instance may run.
 *
 * An instance without slices may run at any time. Each slice names days
 * of the week and a start and end time in the node's time zone; a slice
 * whose end is not after its start runs past midnight (22:00-06:00), and
 * one from 00:00 to 00:00 covers the whole day. The Guardian starts a
 * started instance only inside one of its slices. In the schema the days
 * are a bit mask: bit 0 is Sunday, bit 6 Saturday.
 */
/* System. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "oomgr.h"

#define ALL_DAYS 127

/* Index = bit number: Sunday first, as the schema counts. */
static const struct {
    const char *abbr;
    const char *full;
} day_names[7] = {
    {"sun", "sunday"},   {"mon", "monday"}, {"tue", "tuesday"},  {"wed", "wednesday"},
    {"thu", "thursday"}, {"fri", "friday"}, {"sat", "saturday"},
};
static const char *const day_display[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static int day_index(const char *s, size_t len)
{
    for (int i = 0; i < 7; i++)
        if ((len == 3 && strncasecmp(s, day_names[i].abbr, 3) == 0) ||
            (len == strlen(day_names[i].full) && strncasecmp(s, day_names[i].full, len) == 0))
            return i;
    return -1;
}

/*
 * "mon-fri", "sat,sun", "fri-mon" (a range may wrap past Saturday), "all".
 * Returns the mask, or -1 with a message.
 */
static int parse_days(const char *text, char **error_r)
{
    int mask = 0;
    if (strcasecmp(text, "all") == 0)
        return ALL_DAYS;
    const char *p = text;
    while (*p != '\0') {
        size_t item = strcspn(p, ",");
        size_t dash = strcspn(p, "-,");
        int from, to;
        if (dash < item) {
            from = day_index(p, dash);
            to = day_index(p + dash + 1, item - dash - 1);
        } else {
            from = to = day_index(p, item);
        }
        if (from < 0 || to < 0) {
            *error_r = ofc_xasprintf("days: '%.*s' is not a day or a range of days (mon-fri, "
                                     "sat,sun, all)",
                                     (int)item, p);
            return -1;
        }
        for (int d = from;; d = (d + 1) % 7) {
            mask |= 1 << d;
            if (d == to)
                break;
        }
        p += item;
        if (*p == ',')
            p++;
    }
    if (mask == 0) {
        *error_r = ofc_xstrdup("days: no day given (mon-fri, sat,sun, all)");
        return -1;
    }
    return mask;
}

/* "Mon-Fri", "Sat,Sun", "Mon,Wed,Fri", "all": Monday first, runs of three or more as ranges. */
static char *format_days(int mask)
{
    static const int order[7] = {1, 2, 3, 4, 5, 6, 0};
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_init(&sb);
    if ((mask & ALL_DAYS) == ALL_DAYS) {
        ofc_strbuf_puts(&sb, "all");
        return ofc_strbuf_detach(&sb);
    }
    for (int i = 0; i < 7;) {
        if (!(mask & (1 << order[i]))) {
            i++;
            continue;
        }
        int j = i;
        while (j + 1 < 7 && (mask & (1 << order[j + 1])))
            j++;
        if (sb.len > 0)
            ofc_strbuf_putc(&sb, ',');
        if (j - i >= 2)
            ofc_strbuf_printf(&sb, "%s-%s", day_display[order[i]], day_display[order[j]]);
        else
            for (int k = i; k <= j; k++)
                ofc_strbuf_printf(&sb, "%s%s", k > i ? "," : "", day_display[order[k]]);
        i = j + 1;
    }
    return ofc_strbuf_detach(&sb);
}

/* "8:00", "08:00", "24:00" -> "HH:MM" in out (6 bytes). Returns 0 or -1 with a message. */
static int parse_time(const char *key, const char *text, char out[6], char **error_r)
{
    const char *p = text;
    int h = 0, m = 0, digits = 0;
    while (*p >= '0' && *p <= '9' && digits < 2) {
        h = h * 10 + (*p++ - '0');
        digits++;
    }
    bool ok = digits > 0 && *p == ':' && p[1] >= '0' && p[1] <= '9' && p[2] >= '0' && p[2] <= '9' &&
              p[3] == '\0';
    if (ok) {
        m = (p[1] - '0') * 10 + (p[2] - '0');
        ok = m <= 59 && (h < 24 || (h == 24 && m == 0));
    }
    if (!ok) {
        *error_r = ofc_xasprintf("%s must be a time of day HH:MM, not '%s'", key, text);
        return -1;
    }
    out[0] = (char)('0' + h / 10);
    out[1] = (char)('0' + h % 10);
    out[2] = ':';
    out[3] = (char)('0' + m / 10);
    out[4] = (char)('0' + m % 10);
    out[5] = '\0';
    return 0;
}

static int schedule_target(struct oomgr_call *call, char **type_r, long long *id_r, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    if (oomgr_process_type(call, oomgr_arg(st, "process"), type_r, NULL, error_r) < 0)
        return -1;
    if (oomgr_process_instance(call, *type_r, oomgr_arg_int(st, "instance", 0), id_r, error_r) <
        0) {
        OFC_FREE(*type_r);
        return -1;
    }
    return 0;
}

static int run_set_schedule(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    const char *days_text = oomgr_arg(st, "days");
    char start[6] = "00:00", end[6] = "00:00";
    char *type = NULL;
    long long id = 0, instance = oomgr_arg_int(st, "instance", 0);
    char idbuf[24], maskbuf[24];
    int mask = ALL_DAYS;

    if (days_text != NULL) {
        call->om->current_line = oomgr_arg_line(st, "days");
        mask = parse_days(days_text, error_r);
        if (mask < 0)
            return -1;
    }
    if (oomgr_arg(st, "start") != NULL) {
        call->om->current_line = oomgr_arg_line(st, "start");
        if (parse_time("start", oomgr_arg(st, "start"), start, error_r) < 0)
            return -1;
    }
    if (oomgr_arg(st, "end") != NULL) {
        call->om->current_line = oomgr_arg_line(st, "end");
        if (parse_time("end", oomgr_arg(st, "end"), end, error_r) < 0)
            return -1;
    }
    call->om->current_line = st->line;
    if (schedule_target(call, &type, &id, error_r) < 0)
        return -1;
    const char *const p[] = {oomgr_lltoa(idbuf, sizeof(idbuf), id),
                             oomgr_lltoa(maskbuf, sizeof(maskbuf), mask), start, end};
    if (ofc_db_exec(call->db,
                    "INSERT INTO process_schedule (process_id, days, start_time, end_time)"
                    " VALUES ($1::integer, $2::smallint, $3::time, $4::time)",
                    4, p) < 0) {
        *error_r = ofc_xasprintf("cannot add the time slice: %s", ofc_db_error(call->db));
        free(type);
        return -1;
    }
    char *days = format_days(mask);
    oomgr_out(call, "Time slice %s %s-%s added to %s instance %lld.", days, start, end, type,
              instance);
    oomgr_log_change(call, "set schedule %s instance %lld: %s %s-%s", type, instance, days, start,
                     end);
    free(days);
    free(type);
    return 0;
}

static int run_clear_schedule(struct oomgr_call *call, char **error_r)
{
    char *type = NULL;
    long long id = 0, instance = oomgr_arg_int(call->st, "instance", 0);
    char idbuf[24];

    if (schedule_target(call, &type, &id, error_r) < 0)
        return -1;
    const char *const p[] = {oomgr_lltoa(idbuf, sizeof(idbuf), id)};
    if (ofc_db_exec(call->db, "DELETE FROM process_schedule WHERE process_id = $1::integer", 1, p) <
        0) {
        *error_r = ofc_xasprintf("cannot clear the schedule: %s", ofc_db_error(call->db));
        free(type);
        return -1;
    }
    oomgr_out(call, "Schedule of %s instance %lld cleared: it may run at any time.", type,
              instance);
    oomgr_log_change(call, "clear schedule %s instance %lld", type, instance);
    free(type);
    return 0;
}

static const struct oomgr_column schedule_columns[] = {
    {"Server Name", OOMGR_LEFT}, {"Instance", OOMGR_RIGHT}, {"Days", OOMGR_LEFT},
    {"Start", OOMGR_LEFT},       {"End", OOMGR_LEFT},
};

static int run_disp_schedule(struct oomgr_call *call, char **error_r)
{
    const struct oomgr_stmt *st = call->st;
    char *type = NULL;
    char node[24];

    if (oomgr_arg(st, "process") != NULL &&
        oomgr_process_type(call, oomgr_arg(st, "process"), &type, NULL, error_r) < 0)
        return -1;
    const char *const p[] = {oomgr_lltoa(node, sizeof(node), call->om->session->node_id), type,
                             oomgr_arg(st, "instance")};
    /* Instances without a slice show once, as running at any time. */
    PGresult *res = ofc_db_query(
        call->db,
        "SELECT t.display_name || COALESCE('.' || upper(d.fqdn), ''), p.instance, s.days,"
        "       to_char(s.start_time, 'HH24:MI'), to_char(s.end_time, 'HH24:MI')"
        "  FROM process p"
        "  JOIN process_type t ON t.name = p.type"
        "  LEFT JOIN domain d ON d.id = p.domain_id"
        "  LEFT JOIN process_schedule s ON s.process_id = p.id"
        " WHERE p.node_id = $1::integer AND ($2::text IS NULL OR p.type = $2)"
        "   AND ($3::integer IS NULL OR p.instance = $3::integer)"
        " ORDER BY min(p.id) OVER (PARTITION BY p.type), p.instance, p.id, s.id",
        3, p);
    free(type);
    if (res == NULL) {
        *error_r = ofc_xasprintf("cannot read the schedules: %s", ofc_db_error(call->db));
        return -1;
    }
    struct oomgr_table *t =
        oomgr_table_new(schedule_columns, sizeof(schedule_columns) / sizeof(*schedule_columns));
    for (int r = 0; r < PQntuples(res); r++) {
        char *days = NULL;
        const char *row[5] = {ofc_db_value(res, r, 0), ofc_db_value(res, r, 1), "any time", "", ""};
        if (ofc_db_value(res, r, 2) != NULL) {
            days = format_days((int)ofc_db_value_ll(res, r, 2, 0));
            row[2] = days;
            row[3] = ofc_db_value(res, r, 3);
            row[4] = ofc_db_value(res, r, 4);
        }
        oomgr_table_add(t, row);
        free(days);
    }
    PQclear(res);
    oomgr_table_print(t, oomgr_stmt_format(st), &call->out);
    oomgr_table_free(&t);
    return 0;
}

#define KEY_END                                                                                    \
    {                                                                                              \
        NULL, 0, 0, 0, NULL, NULL                                                                  \
    }

static const struct oomgr_key set_schedule_keys[] = {
    {"process", OOMGR_KEY_REQUIRED, 0, 0, NULL, "the process type (POSTMAN, ...)"},
    {"instance", OOMGR_KEY_INT | OOMGR_KEY_REQUIRED, 1, 99, NULL, "the instance"},
    {"days", 0, 0, 0, NULL, "mon-fri, sat,sun, fri-mon, all (the default)"},
    {"start", 0, 0, 0, NULL, "HH:MM in the node's time zone (default 00:00)"},
    {"end", 0, 0, 0, NULL, "HH:MM; not after start: runs past midnight (default 00:00)"},
    KEY_END,
};

static const struct oomgr_key clear_schedule_keys[] = {
    {"process", OOMGR_KEY_REQUIRED, 0, 0, NULL, "the process type (POSTMAN, ...)"},
    {"instance", OOMGR_KEY_INT | OOMGR_KEY_REQUIRED, 1, 99, NULL, "the instance"},
    KEY_END,
};

static const struct oomgr_key disp_schedule_keys[] = {
    {"process", 0, 0, 0, NULL, "only this process type"},
    {"instance", OOMGR_KEY_INT, 1, 99, NULL, "only this instance number"},
    OOMGR_KEY_FORMAT,
    KEY_END,
};

const struct oomgr_stmt_def oomgr_schedule_stmts[] = {
    {"set", "schedule", OOMGR_PRIV_NODE, OOMGR_STMT_TX, set_schedule_keys, run_set_schedule, NULL,
     "set schedule process=TYPE instance=N [days=DAYS] [start=HH:MM] [end=HH:MM];",
     "Adds a time slice: the instance then runs only inside its slices."},
    {"clear", "schedule", OOMGR_PRIV_NODE, OOMGR_STMT_TX, clear_schedule_keys, run_clear_schedule,
     NULL, "clear schedule process=TYPE instance=N;",
     "Removes every time slice of an instance: it may run at any time."},
    {"disp", "schedule", OOMGR_PRIV_DOMAIN, OOMGR_STMT_TX, disp_schedule_keys, run_disp_schedule,
     NULL, "disp schedule [process=TYPE] [instance=N] [format=table|csv];",
     "Shows the time slices of the node's processes."},
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
