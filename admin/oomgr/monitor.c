/*
 * monitor.c - oomgr statements of the Monitor (ofcmon class=5) (being written).
 */
#include <stddef.h>

#include "oomgr.h"

const struct oomgr_stmt_def oomgr_monitor_stmts[] = {
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
