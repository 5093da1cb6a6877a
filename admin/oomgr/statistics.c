/*
 * statistics.c - oomgr statements of the Statistics process (ofcmon class=6) (being written).
 */
#include <stddef.h>

#include "oomgr.h"

const struct oomgr_stmt_def oomgr_statistics_stmts[] = {
    {NULL, NULL, OOMGR_PRIV_NONE, 0, NULL, NULL, NULL, NULL, NULL},
};
