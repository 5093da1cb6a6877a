/*
 * caps.c - binding ports below 1024 without staying privileged.
 *
 * Two ways in: root starts iolistener by hand (it becomes the run user at
 * once, keeping only CAP_NET_BIND_SERVICE), or the binary carries the file
 * capability cap_net_bind_service and the Guardian starts it as the run
 * user. Either way every capability goes once the ports are bound.
 * capget/capset through syscall(2): libcap is not worth a dependency for
 * two calls.
 */
/* System. */
#include <errno.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* libofc. */
#include "ofc_config.h"
#include "ofc_mem.h"
#include "ofc_privs.h"

/* This program. */
#include "lsnr.h"

static int cap_get(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    memset(data, 0, 2 * sizeof(*data));
    return (int)syscall(SYS_capget, &hdr, data);
}

static int cap_set(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    return (int)syscall(SYS_capset, &hdr, data);
}

int lsnr_caps_become_run_user(const struct ofc_config *cfg, char **error_r)
{
    /* Without KEEPCAPS the change of uid empties the permitted set. */
    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0) {
        *error_r = ofc_xasprintf("cannot keep capabilities across setuid: %s", strerror(errno));
        return -1;
    }
    if (ofc_privs_become_run_user(cfg, error_r) != 0)
        return -1;
    (void)prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
    /* Permitted still holds everything root had: keep the one we need. */
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof(data));
    data[0].permitted = 1U << CAP_NET_BIND_SERVICE;
    data[0].effective = 1U << CAP_NET_BIND_SERVICE;
    if (cap_set(data) != 0) {
        *error_r = ofc_xasprintf("cannot keep cap_net_bind_service: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int lsnr_caps_drop_all(bool *had_r, char **error_r)
{
    struct __user_cap_data_struct data[2];
    *had_r = false;
    if (cap_get(data) != 0) {
        *error_r = ofc_xasprintf("cannot read the capabilities: %s", strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++)
        if (data[i].permitted != 0 || data[i].effective != 0 || data[i].inheritable != 0)
            *had_r = true;
    /* Ambient capabilities would pass to anything we exec; kernels before 4.3 have none. */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) != 0 && errno != EINVAL) {
        *error_r = ofc_xasprintf("cannot clear the ambient capabilities: %s", strerror(errno));
        return -1;
    }
    if (!*had_r)
        return 0;
    memset(data, 0, sizeof(data));
    if (cap_set(data) != 0) {
        *error_r = ofc_xasprintf("cannot drop the capabilities: %s", strerror(errno));
        return -1;
    }
    if (cap_get(data) != 0 || data[0].permitted != 0 || data[1].permitted != 0 ||
        data[0].effective != 0 || data[1].effective != 0) {
        *error_r = ofc_xasprintf("dropping the capabilities did not stick");
        return -1;
    }
    return 0;
}
