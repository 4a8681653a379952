/*
 * guest.c: the simulated guest kernels.
 *
 * (First increment: the kernel thread boots, idles and obeys pause and
 * stop; its xenstore behaviour follows.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hv_internal.h"

struct _XsimGuest {
    XsimHv *hv;
    uint32_t domid;
    XsimGuestScript script;
    GThread *thread;

    GMutex lock;
    GCond cond;
    bool paused;
    bool stop;
};

/* ---- the kernel file ---- */

#define XSIM_GUEST_MAGIC "#!xensim-guest"
#define XSIM_GUEST_SCRIPT_MAX (64 * 1024)

static bool
xsim_guest_parse_seconds(const char *arg,
                         int *val_r)
{
    guint64 val;

    if (!arg || !g_ascii_string_to_unsigned(arg, 10, 0, 86400, &val, NULL))
        return false;
    *val_r = val;
    return true;
}

bool
xsim_guest_parse_script(const char *path,
                        XsimGuestScript *script,
                        GError **error)
{
    g_autofree char *head = NULL;
    g_auto(GStrv) lines = NULL;
    ssize_t n;
    int fd;

    *script = (XsimGuestScript) { .crash_after = -1 };
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        int err = errno;

        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot read kernel '%s': %s", path, g_strerror(err));
        return false;
    }
    head = g_malloc0(XSIM_GUEST_SCRIPT_MAX + 1);
    n = read(fd, head, XSIM_GUEST_SCRIPT_MAX);
    close(fd);
    if (n < 0) {
        int err = errno;

        /* A directory opens but does not read: not a kernel either. */
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(err),
                    "cannot read kernel '%s': %s", path, g_strerror(err));
        return false;
    }
    /* Any other file is a kernel that boots the default guest. */
    if (!g_str_has_prefix(head, XSIM_GUEST_MAGIC "\n") &&
        g_strcmp0(head, XSIM_GUEST_MAGIC) != 0)
        return true;

    lines = g_strsplit(head, "\n", -1);
    for (guint i = 1; lines[i]; i++) {
        g_auto(GStrv) words = NULL;
        char *line = g_strstrip(lines[i]);
        const char *verb;
        const char *arg;
        bool ok = true;

        if (!*line || *line == '#')
            continue;
        words = g_strsplit_set(line, " \t", 3);
        verb = words[0];
        arg = words[1];
        if (arg && words[2]) {
            ok = false;
        } else if (g_str_equal(verb, "ignore-shutdown") && !arg) {
            script->ignore_shutdown = true;
        } else if (g_str_equal(verb, "crash-after")) {
            ok = xsim_guest_parse_seconds(arg, &script->crash_after);
        } else if (g_str_equal(verb, "no-balloon") && !arg) {
            script->no_balloon = true;
        } else if (g_str_equal(verb, "console-flood") && !arg) {
            script->console_flood = true;
        } else if (g_str_equal(verb, "garbage") && !arg) {
            script->garbage = true;
        } else if (g_str_equal(verb, "hang") && !arg) {
            script->hang = true;
        } else if (g_str_equal(verb, "boot-delay")) {
            ok = xsim_guest_parse_seconds(arg, &script->boot_delay);
        } else {
            ok = false;
        }
        if (!ok) {
            g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                        "guest script '%s', line %u: bad directive '%s'",
                        path, i + 1, line);
            return false;
        }
    }
    return true;
}

/* ---- the thread ---- */

static gpointer
xsim_guest_main(gpointer opaque)
{
    XsimGuest *guest = opaque;

    g_mutex_lock(&guest->lock);
    while (!guest->stop)
        g_cond_wait(&guest->cond, &guest->lock);
    g_mutex_unlock(&guest->lock);
    xsim_hv_post_guest_exited(guest->hv, guest->domid);
    return NULL;
}

XsimGuest *
xsim_guest_start(XsimHvDomain *dom)
{
    XsimGuest *guest = g_new0(XsimGuest, 1);
    g_autoptr(GError) error = NULL;
    g_autofree char *name = g_strdup_printf("guest-%u", dom->domid);

    guest->hv = dom->hv;
    guest->domid = dom->domid;
    guest->script = dom->script;
    g_mutex_init(&guest->lock);
    g_cond_init(&guest->cond);
    guest->thread = g_thread_try_new(name, xsim_guest_main, guest, &error);
    if (!guest->thread) {
        g_warning("domain %u: %s", dom->domid, error->message);
        g_mutex_clear(&guest->lock);
        g_cond_clear(&guest->cond);
        g_free(guest);
        return NULL;
    }
    return guest;
}

void
xsim_guest_set_paused(XsimGuest *guest,
                      bool paused)
{
    g_mutex_lock(&guest->lock);
    guest->paused = paused;
    g_cond_broadcast(&guest->cond);
    g_mutex_unlock(&guest->lock);
}

void
xsim_guest_fault(XsimGuest *guest,
                 const char *kind)
{
}

void
xsim_guest_stop(XsimGuest *guest)
{
    g_mutex_lock(&guest->lock);
    guest->stop = true;
    g_cond_broadcast(&guest->cond);
    g_mutex_unlock(&guest->lock);
}

void
xsim_guest_join(XsimGuest *guest)
{
    g_thread_join(guest->thread);
    g_mutex_clear(&guest->lock);
    g_cond_clear(&guest->cond);
    g_free(guest);
}
