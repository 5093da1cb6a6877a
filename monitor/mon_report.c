/*
 * mon_report.c - the Monitor's report as a mail message.
 *
 * A plain text message any client shows as it is: a summary, then the
 * findings, most severe first, each with what, where and what to do.
 * It is marked Auto-Submitted (RFC 3834) so that auto-replies and
 * auto-forwards of ORAPOST leave it alone.
 */
/* System. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* libofc. */
#include "ofc_mem.h"

/* This program. */
#include "mon.h"

/*
 * Longest text put on one line of the body; RFC 5322 allows 998 octets
 * per line, and the labels take a few.
 */
#define FIELD_MAX 900

/* Appends s on one line, cut at FIELD_MAX octets (at a UTF-8 boundary), without CR or LF. */
static void put_field(struct ofc_strbuf *sb, const char *s)
{
    size_t len = strlen(s);
    bool cut = len > FIELD_MAX;
    if (cut) {
        len = FIELD_MAX;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--; /* do not split a UTF-8 sequence */
    }
    for (size_t i = 0; i < len; i++)
        ofc_strbuf_putc(sb, s[i] == '\r' || s[i] == '\n' ? ' ' : s[i]);
    if (cut)
        ofc_strbuf_puts(sb, " [...]");
}

static void put_line(struct ofc_strbuf *sb, const char *label, const char *value)
{
    ofc_strbuf_puts(sb, label);
    put_field(sb, value);
    ofc_strbuf_puts(sb, "\r\n");
}

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

char *mon_report_compose(const struct mon_report_info *info, const struct mon_findings *f,
                         size_t *len_r)
{
    time_t now = time(NULL);
    struct tm tm;
    char date[64];
    if (gmtime_r(&now, &tm) == NULL ||
        strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm) == 0)
        date[0] = '\0';

    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    ofc_strbuf_printf(&sb, "From: ofcmail Monitor <MAILER-DAEMON@%s>\r\n", info->domain);
    ofc_strbuf_printf(&sb, "To: <%s>\r\n", info->to);
    ofc_strbuf_printf(&sb, "Subject: ofcmail Monitor report: %zu %s on %s\r\n", f->n,
                      plural(f->n, "finding", "findings"), info->node);
    if (date[0] != '\0')
        ofc_strbuf_printf(&sb, "Date: %s\r\n", date);
    ofc_strbuf_printf(&sb, "Message-ID: <monitor.%lld.%lld.%ld@%s>\r\n", info->run_id,
                      (long long)now, (long)getpid(), info->domain);
    ofc_strbuf_puts(&sb, "Auto-Submitted: auto-generated\r\n");
    ofc_strbuf_printf(&sb, "X-Ofcmail-Monitor-Run: %lld\r\n", info->run_id);
    ofc_strbuf_puts(&sb, "MIME-Version: 1.0\r\n"
                         "Content-Type: text/plain; charset=utf-8\r\n"
                         "Content-Transfer-Encoding: 8bit\r\n\r\n");

    ofc_strbuf_printf(&sb, "Monitor report of node %s, run %lld.\r\n\r\n", info->node,
                      info->run_id);
    put_line(&sb, "Started:  ", info->started);
    put_line(&sb, "Run:      ", info->trigger);
    put_line(&sb, "Tests:    ", info->tests);
    ofc_strbuf_printf(&sb, "Findings: %zu %s, %zu %s, %zu info.\r\n\r\n", f->count[MON_ERROR],
                      plural(f->count[MON_ERROR], "error", "errors"), f->count[MON_WARNING],
                      plural(f->count[MON_WARNING], "warning", "warnings"), f->count[MON_INFO]);
    if (f->n == 0)
        ofc_strbuf_puts(&sb, "No test found anything to report.\r\n");

    /* Most severe first; within a severity, in the order the tests ran. */
    size_t k = 0;
    for (int sev = 0; sev < MON_SEVERITIES; sev++) {
        for (size_t i = 0; i < f->n; i++) {
            const struct mon_finding *x = &f->v[i];
            if ((int)x->severity != sev)
                continue;
            ofc_strbuf_printf(&sb, "%zu. %s (test %s)\r\n", ++k, mon_severity_name(x->severity),
                              x->test);
            put_line(&sb, "   What:   ", x->what);
            put_line(&sb, "   Where:  ", x->location);
            put_line(&sb, "   Action: ", x->action);
            ofc_strbuf_puts(&sb, "\r\n");
        }
    }
    ofc_strbuf_puts(&sb, "-- \r\nofcmail Monitor (ofcmon class=5). The findings of the last run: "
                         "oomgr disp monitor;\r\n");
    *len_r = sb.len;
    return ofc_strbuf_detach(&sb);
}
