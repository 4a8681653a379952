/*
 * xlite: a small command line over libxlite's domain API
 *
 *   xlite [--state-dir DIR] [--rundir DIR] [--backend sim|xen|auto] COMMAND
 *     list                  domains, one a line
 *     create CONFIG.json    create (the core's JSON config) and unpause
 *     destroy DOMID
 *     shutdown DOMID [SECONDS]
 *                           ask the guest to power off, wait for it, then
 *                           destroy it (on_poweroff "destroy", as xl does)
 *     console DOMID         the pty of console 0
 *     info DOMID
 *     config DOMID          the domain's config (xlite_retrieve_domain_config)
 *
 * destroy and shutdown print the domain's events as they come, one a line:
 *     event shutdown DOMID REASON
 *     event death DOMID
 *
 * The state directory defaults to $XLITE_STATE_DIR, else
 * $XDG_RUNTIME_DIR/xlite (or the temporary directory); the simulated
 * host's run directory to $XLITE_SIM_RUNDIR, else STATE_DIR/xensim.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "xlite.h"

static int
usage(void)
{
    fprintf(stderr, "usage: xlite [--state-dir DIR] [--rundir DIR] "
            "[--backend sim|xen|auto]\n"
            "             list | create CONFIG.json | destroy DOMID | "
            "shutdown DOMID [SECONDS]\n"
            "             | console DOMID | info DOMID | config DOMID\n"
            "             | save DOMID FILE | restore FILE\n");
    return 2;
}

static bool
parse_domid(const char *s, uint32_t *domid_r)
{
    guint64 v;

    if (!s || !g_ascii_string_to_unsigned(s, 10, 1, 0x7fef, &v, NULL))
        return false;
    *domid_r = (uint32_t)v;
    return true;
}

static const char *
state_of(const xlite_dominfo *i)
{
    if (i->dying)
        return "dying";
    if (i->shutdown)
        return "shutdown";
    if (i->paused)
        return "paused";
    if (i->running)
        return "running";
    return i->blocked ? "blocked" : "idle";
}

static void
print_uuid(const uint8_t u[16])
{
    for (int i = 0; i < 16; i++)
        printf("%s%02x", i == 4 || i == 6 || i == 8 || i == 10 ? "-" : "",
               u[i]);
}

static const char *
reason_name(xlite_shutdown_reason r)
{
    static const char *const names[] = {
        "poweroff", "reboot", "suspend", "crash", "watchdog", "soft_reset",
    };

    return (unsigned int)r < G_N_ELEMENTS(names) ? names[r] : "unknown";
}

#define DOMAIN_EVENTS (XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_SHUTDOWN) | \
                       XLITE_EVENTMASK(XLITE_EVENT_DOMAIN_DEATH))

/* Prints the queued domain events until one of type `until` (or, with
 * until 0, until none is queued); waits at most timeout_usec for it. */
static int
print_events(xlite_ctx *ctx, xlite_event_type until, int64_t timeout_usec)
{
    for (;;) {
        xlite_event *ev = NULL;
        xlite_event_type type;
        int rc = until ? xlite_event_wait(ctx, DOMAIN_EVENTS, NULL, NULL,
                                          timeout_usec, &ev)
                       : xlite_event_check(ctx, DOMAIN_EVENTS, NULL, NULL,
                                           &ev);

        if (rc < 0)
            return until ? rc : 0;
        type = ev->type;
        if (type == XLITE_EVENT_DOMAIN_SHUTDOWN)
            printf("event shutdown %u %s\n", ev->domid,
                   reason_name(ev->u.domain_shutdown.reason));
        else
            printf("event death %u\n", ev->domid);
        fflush(stdout);
        xlite_event_free(ev);
        if (until && type == until)
            return 0;
    }
}

static int
cmd_shutdown(xlite_ctx *ctx, uint32_t domid, guint64 secs)
{
    int rc;

    if ((rc = xlite_domain_shutdown(ctx, domid,
                                    XLITE_SHUTDOWN_REQUEST_POWEROFF,
                                    (int64_t)secs * G_USEC_PER_SEC,
                                    NULL)) < 0 ||
        (rc = print_events(ctx, XLITE_EVENT_DOMAIN_SHUTDOWN,
                           5 * G_USEC_PER_SEC)) < 0)
        return rc;
    if ((rc = xlite_domain_destroy(ctx, domid, NULL)) < 0)
        return rc;
    return print_events(ctx, XLITE_EVENT_DOMAIN_DEATH, 5 * G_USEC_PER_SEC);
}

static int
cmd_config(xlite_ctx *ctx, uint32_t domid)
{
    xlite_domain_config cfg;
    char *json = NULL;
    int rc;

    xlite_domain_config_init(&cfg);
    if ((rc = xlite_retrieve_domain_config(ctx, domid, &cfg)) == 0 &&
        (rc = xlite_domain_config_to_json(&cfg, &json)) == 0) {
        printf("%s%s", json, g_str_has_suffix(json, "\n") ? "" : "\n");
        free(json);
    }
    xlite_domain_config_dispose(&cfg);
    return rc;
}

static int
cmd_create(xlite_ctx *ctx, const char *file)
{
    g_autofree char *json = NULL;
    g_autoptr(GError) err = NULL;
    xlite_domain_config cfg;
    uint32_t domid;
    int rc;

    if (!g_file_get_contents(file, &json, NULL, &err)) {
        fprintf(stderr, "xlite: %s\n", err->message);
        return 1;
    }
    xlite_domain_config_init(&cfg);
    if ((rc = xlite_domain_config_from_json(json, &cfg)) < 0 ||
        (rc = xlite_domain_create(ctx, &cfg, &domid, NULL)) < 0 ||
        (rc = xlite_domain_unpause(ctx, domid)) < 0) {
        fprintf(stderr, "xlite: %s\n", xlite_errmsg());
        xlite_domain_config_dispose(&cfg);
        return 1;
    }
    printf("%u\n", domid);
    xlite_domain_config_dispose(&cfg);
    return 0;
}

int
main(int argc, char **argv)
{
    xlite_ctx_options opts = { .backend = XLITE_BACKEND_SIM };
    g_autofree char *state_dir = NULL;
    const char *rundir = g_getenv("XLITE_SIM_RUNDIR");
    xlite_ctx *ctx = NULL;
    xlite_evgen *evgen = NULL;
    uint32_t domid = 0;
    int i = 1;
    int ret = 1;
    int rc;

    if (g_getenv("XLITE_STATE_DIR"))
        state_dir = g_strdup(g_getenv("XLITE_STATE_DIR"));
    for (; i + 1 < argc && g_str_has_prefix(argv[i], "--"); i += 2) {
        if (strcmp(argv[i], "--state-dir") == 0) {
            g_free(state_dir);
            state_dir = g_canonicalize_filename(argv[i + 1], NULL);
        } else if (strcmp(argv[i], "--rundir") == 0) {
            rundir = argv[i + 1];
        } else if (strcmp(argv[i], "--backend") == 0) {
            if (strcmp(argv[i + 1], "xen") == 0)
                opts.backend = XLITE_BACKEND_XEN;
            else if (strcmp(argv[i + 1], "auto") == 0)
                opts.backend = XLITE_BACKEND_AUTO;
            else if (strcmp(argv[i + 1], "sim") != 0)
                return usage();
        } else {
            return usage();
        }
    }
    if (i >= argc)
        return usage();
    if (!state_dir)
        state_dir = g_build_filename(g_get_user_runtime_dir(), "xlite", NULL);
    g_mkdir_with_parents(state_dir, 0700);
    opts.state_dir = state_dir;
    opts.sim_rundir = rundir;
    if ((rc = xlite_ctx_new(&opts, &ctx)) < 0) {
        fprintf(stderr, "xlite: %s\n", xlite_errmsg());
        return 1;
    }

    if (strcmp(argv[i], "list") == 0 && i + 1 == argc) {
        xlite_dominfo *infos = NULL;
        size_t n = 0;

        if ((rc = xlite_domain_list(ctx, &infos, &n)) == 0) {
            printf("%-6s %-20s %-9s %10s %5s  %s\n", "ID", "Name", "State",
                   "Mem(KiB)", "VCPUs", "UUID");
            for (size_t k = 0; k < n; k++) {
                printf("%-6u %-20s %-9s %10" PRIu64 " %5u  ", infos[k].domid,
                       infos[k].name, state_of(&infos[k]), infos[k].cur_memkb,
                       infos[k].online_vcpus);
                print_uuid(infos[k].uuid);
                printf("\n");
            }
            free(infos);
        }
    } else if (strcmp(argv[i], "create") == 0 && i + 2 == argc) {
        ret = cmd_create(ctx, argv[i + 1]);
        goto out;
    } else if (strcmp(argv[i], "restore") == 0 && i + 2 == argc) {
        /* As xl restore: the guest runs again where it stopped. */
        if ((rc = xlite_domain_restore(ctx, argv[i + 1], NULL, &domid,
                                       NULL)) == 0 &&
            (rc = xlite_domain_unpause(ctx, domid)) == 0)
            printf("%u\n", domid);
    } else if (i + 2 <= argc && !parse_domid(argv[i + 1], &domid)) {
        xlite_ctx_free(ctx);
        return usage();
    } else if (strcmp(argv[i], "destroy") == 0 && i + 2 == argc) {
        if ((rc = xlite_evenable_domain(ctx, domid, DOMAIN_EVENTS, 0,
                                        &evgen)) == 0 &&
            (rc = xlite_domain_destroy(ctx, domid, NULL)) == 0)
            rc = print_events(ctx, XLITE_EVENT_DOMAIN_DEATH,
                              5 * G_USEC_PER_SEC);
    } else if (strcmp(argv[i], "save") == 0 && i + 3 == argc) {
        /* As xl save: the image, then the suspended domain destroyed. */
        if ((rc = xlite_domain_save(ctx, domid, argv[i + 2], NULL, 0,
                                    NULL)) == 0)
            rc = xlite_domain_destroy(ctx, domid, NULL);
    } else if (strcmp(argv[i], "config") == 0 && i + 2 == argc) {
        rc = cmd_config(ctx, domid);
    } else if (strcmp(argv[i], "shutdown") == 0 && i + 2 <= argc &&
               i + 3 >= argc) {
        guint64 secs = 60;

        if (i + 3 == argc &&
            !g_ascii_string_to_unsigned(argv[i + 2], 10, 0, 86400, &secs,
                                        NULL)) {
            xlite_ctx_free(ctx);
            return usage();
        }
        if ((rc = xlite_evenable_domain(ctx, domid, DOMAIN_EVENTS, 0,
                                        &evgen)) == 0)
            rc = cmd_shutdown(ctx, domid, secs);
    } else if (strcmp(argv[i], "console") == 0 && i + 2 == argc) {
        char *path = NULL;

        if ((rc = xlite_domain_console_path(ctx, domid, 0, &path)) == 0) {
            printf("%s\n", path);
            free(path);
        }
    } else if (strcmp(argv[i], "info") == 0 && i + 2 == argc) {
        xlite_dominfo info;

        if ((rc = xlite_domain_info(ctx, domid, &info)) == 0) {
            printf("domid:      %u\nname:       %s\nuuid:       ",
                   info.domid, info.name);
            print_uuid(info.uuid);
            printf("\ntype:       %s\nstate:      %s\n",
                   xlite_domain_type_to_string(info.type), state_of(&info));
            printf("memory:     %" PRIu64 " / %" PRIu64 " KiB\n",
                   info.cur_memkb, info.max_memkb);
            printf("vcpus:      %u / %u\ncpu time:   %.3f s\n",
                   info.online_vcpus, info.max_vcpus,
                   info.cpu_time_ns / 1e9);
            printf("sched:      weight %u cap %u\n", info.sched_weight,
                   info.sched_cap);
        }
    } else {
        xlite_ctx_free(ctx);
        return usage();
    }
    if (rc < 0)
        fprintf(stderr, "xlite: %s\n", xlite_errmsg());
    ret = rc < 0 ? 1 : 0;
    if (evgen)
        xlite_evdisable(ctx, evgen);

 out:
    xlite_ctx_free(ctx);
    return ret;
}
