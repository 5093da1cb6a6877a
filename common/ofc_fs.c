/*
 * ofc_fs.c - file system helpers.
 */
/* System. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* libofc. */
#include "ofc_fs.h"
#include "ofc_mem.h"

static int make_one(const char *path, mode_t mode, char **error_r)
{
    if (mkdir(path, mode) == 0) {
        if (chmod(path, mode) < 0) {
            *error_r = ofc_xasprintf("cannot set mode of %s: %s", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != EEXIST) {
        *error_r = ofc_xasprintf("cannot create directory %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int ofc_mkdir_p(const char *dir, mode_t mode, mode_t parent_mode, char **error_r)
{
    if (dir[0] == '\0') {
        *error_r = ofc_xstrdup("empty directory name");
        return -1;
    }
    char *path = ofc_xstrdup(dir);
    int ret = 0;
    for (char *p = path + 1; *p != '\0' && ret == 0; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        ret = make_one(path, parent_mode, error_r);
        *p = '/';
    }
    free(path);
    if (ret < 0 || make_one(dir, mode, error_r) < 0)
        return -1;
    struct stat st;
    if (stat(dir, &st) < 0) {
        *error_r = ofc_xasprintf("cannot stat directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        *error_r = ofc_xasprintf("%s is not a directory", dir);
        return -1;
    }
    return 0;
}
