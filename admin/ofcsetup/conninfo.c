/*
 * conninfo.c - a connect string fit to show, log and store.
 *
 * The node row records how other nodes reach this one (node.conninfo),
 * and the summary shows how to connect; neither may carry the password
 * the administrator typed. libpq parses the string (key=value or URI), so
 * what we rebuild is exactly what libpq understood, minus the password.
 */
/* System. */
#include <stdlib.h>
#include <string.h>

/* Libraries. */
#include <libpq-fe.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_db.h"
#include "ofc_mem.h"

/* This program. */
#include "ofcsetup.h"

int conninfo_without_password(const char *conninfo, char **public_r, char **error_r)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    if (opts == NULL) {
        if (errmsg != NULL) {
            /* libpq's message ends in a newline. */
            size_t len = strlen(errmsg);
            while (len > 0 && (errmsg[len - 1] == '\n' || errmsg[len - 1] == '\r'))
                len--;
            *error_r = ofc_xstrndup(errmsg, len);
            PQfreemem(errmsg);
        } else {
            *error_r = ofc_xstrdup("out of memory parsing the connect string");
        }
        return -1;
    }
    struct ofc_strbuf sb = OFC_STRBUF_INIT;
    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL || strcmp(o->keyword, "password") == 0)
            continue;
        if (sb.len > 0)
            ofc_strbuf_putc(&sb, ' ');
        ofc_strbuf_printf(&sb, "%s=", o->keyword);
        ofc_conninfo_append_value(&sb, o->val);
    }
    PQconninfoFree(opts);
    *public_r = ofc_strbuf_detach(&sb);
    return 0;
}
