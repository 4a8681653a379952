/*
 * hv.c: the domain table and a domain's life, as Xen itself keeps them.
 *
 * A domain is created paused, built, unpaused (the first unpause starts
 * its guest kernel, guest.c), may shut down (with a reason, the kernel
 * having stopped), and is destroyed: it is then dying until its kernel
 * thread has ended and no other domain maps its grants, and then gone.
 * Every step notifies the subscribed control clients (VIRQ_DOM_EXC), and
 * shutdown and death fire @releaseDomain in xenstored.
 *
 * See hv_internal.h for the threading rules.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "hv_internal.h"

/* Xen's DOMID_FIRST_RESERVED: ids from here up are not domains. */
#define XSIM_HV_DOMID_LIMIT 0x7ff0u

static const char *const xsim_shutdown_names[] = {
    [XSIM_SHUTDOWN_POWEROFF] = "poweroff",
    [XSIM_SHUTDOWN_REBOOT] = "reboot",
    [XSIM_SHUTDOWN_SUSPEND] = "suspend",
    [XSIM_SHUTDOWN_CRASH] = "crash",
    [XSIM_SHUTDOWN_WATCHDOG] = "watchdog",
    [XSIM_SHUTDOWN_SOFT_RESET] = "soft_reset",
};

const char *
xsim_shutdown_reason_name(XsimShutdownReason reason)
{
    if (reason < 0 || reason >= (int)G_N_ELEMENTS(xsim_shutdown_names))
        return NULL;
    return xsim_shutdown_names[reason];
}

XsimShutdownReason
xsim_shutdown_reason_parse(const char *name)
{
    for (guint i = 0; i < G_N_ELEMENTS(xsim_shutdown_names); i++) {
        if (g_str_equal(name, xsim_shutdown_names[i]))
            return i;
    }
    return XSIM_SHUTDOWN_NONE;
}

static void
xsim_grant_free(XsimGrant *grant)
{
    if (!grant)
        return;
    shm_unlink(grant->shm);
    g_free(grant->shm);
    g_free(grant);
}

XsimHvDomain *
xsim_hv_lookup(XsimHv *hv,
               uint32_t domid)
{
    return g_hash_table_lookup(hv->domains, GUINT_TO_POINTER(domid));
}

static XsimHvDomain *
xsim_hv_domain_new(XsimHv *hv,
                   uint32_t domid)
{
    XsimHvDomain *dom = g_new0(XsimHvDomain, 1);

    dom->hv = hv;
    dom->domid = domid;
    dom->reason = XSIM_SHUTDOWN_NONE;
    dom->weight = 256;
    dom->script.crash_after = -1;
    dom->evtchns = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                         NULL, g_free);
    dom->next_port = 1;
    dom->grants = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                        NULL, (GDestroyNotify)xsim_grant_free);
    dom->next_gref = 8;     /* Linux reserves the first 8 entries */
    dom->mapped = g_ptr_array_new_with_free_func(g_free);
    return dom;
}

static void
xsim_hv_domain_free(XsimHvDomain *dom)
{
    if (!dom)
        return;
    g_assert(!dom->guest);
    g_clear_pointer(&dom->suspended, xsim_guest_image_free);
    g_clear_pointer(&dom->resume, xsim_guest_image_free);
    g_hash_table_unref(dom->evtchns);
    g_hash_table_unref(dom->grants);
    g_ptr_array_unref(dom->mapped);
    xsim_ring_unref(dom->xenstore);
    xsim_ring_unref(dom->console);
    g_free(dom->uuid);
    g_free(dom->kernel);
    g_free(dom->ramdisk);
    g_free(dom->cmdline);
    g_free(dom->vcpu_ns);
    g_free(dom->vcpu_cpu);
    g_free(dom->vcpu_moved_ns);
    g_free(dom);
}

static void
xsim_hv_vcpus_init(XsimHvDomain *dom)
{
    dom->vcpu_ns = g_new0(gint64, dom->max_vcpus);
    dom->vcpu_moved_ns = g_new0(gint64, dom->max_vcpus);
    dom->vcpu_cpu = g_new0(guint, dom->max_vcpus);
    for (guint i = 0; i < dom->max_vcpus; i++)
        dom->vcpu_cpu[i] = (dom->domid + i) % XSIM_HOST_CPUS;
}

XsimHv *
xsim_hv_new(XsimServer *xs,
            const char *rundir,
            guint64 total_kib,
            guint64 dom0_kib)
{
    XsimHv *hv = g_new0(XsimHv, 1);
    XsimHvDomain *dom0;

    hv->xs = xs;
    hv->rundir = g_strdup(rundir);
    hv->listen_fd = -1;
    g_mutex_init(&hv->lock);
    hv->domains = g_hash_table_new(g_direct_hash, g_direct_equal);
    hv->live_uuids = g_hash_table_new(g_str_hash, g_str_equal);
    hv->next_domid = 1;
    hv->total_kib = total_kib;
    hv->dom0_kib = dom0_kib;

    /* dom0 always runs: it is us. */
    dom0 = xsim_hv_domain_new(hv, 0);
    dom0->uuid = g_strdup("00000000-0000-0000-0000-000000000000");
    dom0->type = XSIM_DOM_PV;
    dom0->booted = true;
    dom0->built = true;
    dom0->cur_memkb = dom0->max_memkb = dom0_kib;
    hv->held_kib = dom0_kib;
    dom0->online_vcpus = dom0->max_vcpus = XSIM_DOM0_VCPUS;
    xsim_hv_vcpus_init(dom0);
    hv->started = dom0->run_since = g_get_monotonic_time();
    g_hash_table_insert(hv->domains, GUINT_TO_POINTER(0), dom0);
    return hv;
}

void
xsim_hv_share_network(XsimHv *hv)
{
    hv->shared_netns = true;
}

bool
xsim_hv_start(XsimHv *hv,
              GError **error)
{
    /* Before the backends' thread, and the guests', which inherit it;
     * and before the control socket, whose clients may look at it. */
    hv->net = xsim_net_new(hv->rundir, hv->shared_netns);
    if (!xsim_hv_control_listen(hv, error))
        return false;
    hv->backends = xsim_backends_start(hv);
    if (!hv->backends) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                    "cannot start dom0's backends");
        return false;
    }
    return true;
}

void
xsim_hv_set_stop_func(XsimHv *hv,
                      XsimHvStopFunc cb,
                      gpointer opaque)
{
    hv->stop_cb = cb;
    hv->stop_opaque = opaque;
}

/*
 * Xen reads its featureset from the boot cpu's CPUID, and so do we, from
 * this machine's: the simulated host has the processor it runs on.  Two
 * bits are the OS's state rather than the processor's (OSXSAVE, OSPKE:
 * set once a kernel enables XSAVE or protection keys, which Linux has
 * done here); Xen's words leave them clear (those of the real-Xen test
 * host show no osxsave), and so do ours.
 */
#define XSIM_CPUID1_ECX_OSXSAVE (1u << 27)
#define XSIM_CPUID7_ECX_OSPKE (1u << 4)

void
xsim_hv_featureset(uint32_t words[8])
{
    memset(words, 0, 8 * sizeof(words[0]));
#if defined(__x86_64__) || defined(__i386__)
    {
        unsigned int max = __get_cpuid_max(0, NULL);
        unsigned int max_ext = __get_cpuid_max(0x80000000, NULL);
        unsigned int a, b, c, d;

        if (max >= 1) {
            __cpuid_count(1, 0, a, b, c, d);
            words[0] = d;
            words[1] = c & ~XSIM_CPUID1_ECX_OSXSAVE;
        }
        if (max_ext >= 0x80000001) {
            __cpuid_count(0x80000001, 0, a, b, c, d);
            words[2] = d;
            words[3] = c;
        }
        if (max >= 0xd) {
            __cpuid_count(0xd, 1, a, b, c, d);
            words[4] = a;
        }
        if (max >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            words[5] = b;
            words[6] = c & ~XSIM_CPUID7_ECX_OSPKE;
        }
        if (max_ext >= 0x80000007) {
            __cpuid_count(0x80000007, 0, a, b, c, d);
            words[7] = d;
        }
    }
#endif
}

/* Kept as a sum (hv->held_kib), so that a create on a full host costs
 * what it costs on an empty one. */
guint64
xsim_hv_free_kib(XsimHv *hv)
{
    return hv->held_kib >= hv->total_kib ? 0 : hv->total_kib - hv->held_kib;
}

/*
 * Simulated cpu time (XSIM_VCPU_*_NS_PER_US): each online vcpu's counter
 * grows at its rate while the domain runs (unpaused, not shut down), and
 * stops when it is paused.  Deterministic: a test knows what to expect.
 */
bool
xsim_hv_vcpu_busy(XsimHvDomain *dom,
                  guint vcpu)
{
    return vcpu < 64 && (dom->script.busy_vcpus & (G_GUINT64_CONSTANT(1) << vcpu));
}

guint
xsim_hv_vcpu_cpu(XsimHvDomain *dom,
                 guint vcpu)
{
    return vcpu < dom->max_vcpus ? dom->vcpu_cpu[vcpu] : 0;
}

gint64
xsim_hv_vcpu_ns_at(XsimHvDomain *dom,
                   guint vcpu,
                   gint64 now)
{
    gint64 ns;

    if (vcpu >= dom->max_vcpus)
        return 0;
    ns = dom->vcpu_ns[vcpu];
    if (dom->run_since && vcpu < dom->online_vcpus)
        ns += (now - dom->run_since) *
              (xsim_hv_vcpu_busy(dom, vcpu) ? XSIM_VCPU_BUSY_NS_PER_US
                                            : XSIM_VCPU_IDLE_NS_PER_US);
    return ns;
}

gint64
xsim_hv_vcpu_ns(XsimHvDomain *dom,
                guint vcpu)
{
    return xsim_hv_vcpu_ns_at(dom, vcpu, g_get_monotonic_time());
}

gint64
xsim_hv_domain_cpu_ns(XsimHvDomain *dom)
{
    gint64 now = g_get_monotonic_time();
    gint64 ns = 0;

    for (guint i = 0; i < dom->max_vcpus; i++)
        ns += xsim_hv_vcpu_ns_at(dom, i, now);
    return ns;
}

void
xsim_hv_domain_fold_cpu(XsimHvDomain *dom)
{
    gint64 now = g_get_monotonic_time();

    if (!dom->run_since)
        return;
    for (guint i = 0; i < dom->max_vcpus; i++)
        dom->vcpu_ns[i] = xsim_hv_vcpu_ns_at(dom, i, now);
    dom->run_since = now;
}

gint64
xsim_hv_pcpu_guest_ns(XsimHv *hv,
                      guint cpu,
                      gint64 now)
{
    GHashTableIter iter;
    gpointer value;
    gint64 ns;

    if (cpu >= XSIM_HOST_CPUS)
        return 0;
    ns = hv->settled_ns[cpu];
    g_hash_table_iter_init(&iter, hv->domains);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        XsimHvDomain *dom = value;

        for (guint i = 0; i < dom->max_vcpus; i++)
            if (dom->vcpu_cpu[i] == cpu)
                ns += xsim_hv_vcpu_ns_at(dom, i, now) - dom->vcpu_moved_ns[i];
    }
    return ns;
}

void
xsim_hv_vcpu_set_affinity(XsimHvDomain *dom,
                          guint vcpu,
                          guint64 cpus)
{
    guint old = dom->vcpu_cpu[vcpu];
    gint64 t;

    if (!cpus || (cpus & (G_GUINT64_CONSTANT(1) << old)))
        return;
    /* What it ran on its old cpu stays there. */
    t = xsim_hv_vcpu_ns(dom, vcpu);
    dom->hv->settled_ns[old] += t - dom->vcpu_moved_ns[vcpu];
    dom->vcpu_moved_ns[vcpu] = t;
    dom->vcpu_cpu[vcpu] = g_bit_nth_lsf(cpus, -1);
}

static void
xsim_hv_domain_update_running(XsimHvDomain *dom)
{
    bool running = dom->booted && !dom->paused && !dom->shutdown &&
                   !dom->dying;

    if (running && !dom->run_since) {
        dom->run_since = g_get_monotonic_time();
    } else if (!running && dom->run_since) {
        xsim_hv_domain_fold_cpu(dom);
        dom->run_since = 0;
    }
}

void
xsim_hv_notify(XsimHv *hv,
               uint32_t domid)
{
    xsim_hv_client_notify_all(hv, domid);
}

/* ---- creation ---- */

int
xsim_hv_domain_create(XsimHv *hv,
                      const char *uuid,
                      XsimDomType type,
                      guint max_vcpus,
                      guint64 max_memkb,
                      uint32_t *domid_r)
{
    g_autofree char *luuid = g_ascii_strdown(uuid, -1);
    XsimHvDomain *dom;
    uint32_t domid;

    /* A dying domain with the same uuid is the one being replaced: only
     * those not dying are in the index. */
    if (g_hash_table_contains(hv->live_uuids, luuid))
        return EEXIST;
    if (max_memkb > xsim_hv_free_kib(hv))
        return ENOMEM;

    /* Increasing ids, wrapping below the reserved ones, skipping live ones. */
    for (guint tries = 0; ; tries++) {
        if (tries >= XSIM_HV_DOMID_LIMIT)
            return ENOMEM;
        domid = hv->next_domid;
        hv->next_domid = domid + 1 >= XSIM_HV_DOMID_LIMIT ? 1 : domid + 1;
        if (!xsim_hv_lookup(hv, domid))
            break;
    }

dom = xsim_hv_domain_new(hv, domid);
    dom->uuid = g_steal_pointer(&luuid);
    dom->type = type;
    dom->paused = true;
    dom->max_vcpus = max_vcpus;
    dom->online_vcpus = max_vcpus;
    xsim_hv_vcpus_init(dom);
    /* The builder populates the whole allocation; the balloon gives back. */
    dom->max_memkb = dom->cur_memkb = max_memkb;
    dom->xenstore = xsim_ring_new(XSIM_XS_RING_REQ, XSIM_XS_RING_RSP);
    dom->console = xsim_ring_new(XSIM_CONS_RING_OUT, XSIM_CONS_RING_IN);

    g_mutex_lock(&hv->lock);
    g_hash_table_insert(hv->domains, GUINT_TO_POINTER(domid), dom);
    g_mutex_unlock(&hv->lock);
    g_hash_table_insert(hv->live_uuids, dom->uuid, dom);
    hv->held_kib += dom->cur_memkb;

    g_message("domain %u created (%s, %u vcpus, %" G_GUINT64_FORMAT " KiB)",
              domid, dom->uuid, max_vcpus, max_memkb);
    /* Its xenstore page, for INTRODUCE to name (xs_domain.c). */
    xsim_server_domain_built(hv->xs, domid, dom->xenstore);
    xsim_hv_notify(hv, domid);
    *domid_r = domid;
    return 0;
}

/* ---- the guest kernel ---- */

int
xsim_hv_domain_unpause(XsimHvDomain *dom)
{
    if (dom->dying || dom->shutdown)
        return EINVAL;
    if (!dom->paused)
        return 0;
    dom->paused = false;
    if (!dom->booted) {
        dom->booted = true;
        dom->guest = xsim_guest_start(dom);
        if (!dom->guest) {
            /* The vcpu "triple faults" at once. */
            g_warning("domain %u: cannot start its kernel", dom->domid);
            xsim_hv_domain_set_shutdown(dom, XSIM_SHUTDOWN_CRASH);
            return 0;
        }
    } else if (dom->guest) {
        xsim_guest_set_paused(dom->guest, false);
    }
    xsim_hv_domain_update_running(dom);
    xsim_hv_notify(dom->hv, dom->domid);
    return 0;
}

int
xsim_hv_domain_pause(XsimHvDomain *dom)
{
    if (dom->dying)
        return EINVAL;
    if (dom->paused)
        return 0;
    dom->paused = true;
    if (dom->guest)
        xsim_guest_set_paused(dom->guest, true);
    xsim_hv_domain_update_running(dom);
    xsim_hv_notify(dom->hv, dom->domid);
    return 0;
}

/*
 * SCHEDOP_shutdown: the vcpus stop for good.  The kernel thread is asked to
 * end; it reports back (xsim_hv_post_guest_exited) when it has.
 */
void
xsim_hv_domain_set_shutdown(XsimHvDomain *dom,
                            XsimShutdownReason reason)
{
    if (dom->shutdown || dom->dying || dom->domid == 0)
        return;
    dom->shutdown = true;
    dom->reason = reason;
    xsim_hv_domain_update_running(dom);
    if (dom->guest)
        xsim_guest_stop(dom->guest);
    g_message("domain %u shut down (%s)", dom->domid,
              xsim_shutdown_reason_name(reason));
    xsim_server_domain_shutdown(dom->hv->xs, dom->domid);
    xsim_hv_notify(dom->hv, dom->domid);
}

/* ---- death ---- */

static void
xsim_hv_domain_unmap(XsimHv *hv,
                     uint32_t granter,
                     uint32_t gref);

/* The last step: nothing refers to the domain any more. */
static void
xsim_hv_domain_gone(XsimHvDomain *dom)
{
    XsimHv *hv = dom->hv;
    uint32_t domid = dom->domid;

    g_mutex_lock(&hv->lock);
    g_hash_table_remove(hv->domains, GUINT_TO_POINTER(domid));
    g_mutex_unlock(&hv->lock);
    hv->held_kib -= dom->cur_memkb;
    /* The host's per-cpu busy time keeps what the domain ran. */
    for (guint i = 0; i < dom->max_vcpus; i++)
        hv->settled_ns[dom->vcpu_cpu[i]] += xsim_hv_vcpu_ns(dom, i) -
                                            dom->vcpu_moved_ns[i];
    if (hv->backends)
        xsim_backends_domain_gone(hv->backends, domid);
    xsim_hv_domain_free(dom);
    g_message("domain %u gone", domid);
    xsim_hv_notify(hv, domid);
}

static bool
xsim_hv_domain_grants_mapped(XsimHvDomain *dom)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, dom->grants);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        XsimGrant *grant = value;

        if (grant->maps > 0)
            return true;
    }
    return false;
}

/* A dying domain goes once its kernel has ended and its pages are free. */
static void
xsim_hv_domain_try_reap(XsimHvDomain *dom)
{
    if (dom->dying && !dom->guest && !xsim_hv_domain_grants_mapped(dom))
        xsim_hv_domain_gone(dom);
}

static void
xsim_hv_evtchn_close_port(XsimHv *hv,
                          XsimHvDomain *dom,
                          uint32_t port);

int
xsim_hv_domain_destroy(XsimHvDomain *dom)
{
    XsimHv *hv = dom->hv;
    g_autoptr(GList) ports = NULL;

    if (dom->domid == 0)
        return EINVAL;
    if (dom->dying)
        return 0;
    dom->dying = true;
    g_hash_table_remove(hv->live_uuids, dom->uuid);
    xsim_hv_domain_update_running(dom);
    g_message("domain %u dying", dom->domid);

    /*
     * Cut the kernel's xenstore link first: its thread may be waiting for
     * a reply, and must see its ring close rather than a hang (whether or
     * not xenstored was serving it: INTRODUCE may never have come).
     */
    xsim_server_domain_destroyed(hv->xs, dom->domid);
    xsim_ring_close(dom->xenstore);
    if (dom->guest)
        xsim_guest_stop(dom->guest);

    /* Xen tears down the dying domain's own mappings and ports at once. */
    while (dom->mapped->len > 0) {
        XsimHvMapping *m = g_ptr_array_index(dom->mapped, dom->mapped->len - 1);
        uint32_t granter = m->granter, gref = m->gref;

        g_ptr_array_remove_index(dom->mapped, dom->mapped->len - 1);
        xsim_hv_domain_unmap(hv, granter, gref);
    }
    ports = g_hash_table_get_keys(dom->evtchns);
    for (GList *l = ports; l; l = l->next)
        xsim_hv_evtchn_close_port(hv, dom, GPOINTER_TO_UINT(l->data));

    xsim_hv_notify(hv, dom->domid);
    xsim_hv_domain_try_reap(dom);
    return 0;
}

/* From the guest thread's last message: join it, and maybe finish dying. */
static void
xsim_hv_guest_exited(XsimHv *hv,
                     uint32_t domid)
{
    XsimHvDomain *dom = xsim_hv_lookup(hv, domid);

    if (!dom || !dom->guest)
        return;
    xsim_guest_join(dom->guest);
    dom->guest = NULL;
    /* A kernel that ended without SCHEDOP_shutdown crashed. */
    if (!dom->shutdown && !dom->dying)
        xsim_hv_domain_set_shutdown(dom, XSIM_SHUTDOWN_CRASH);
    xsim_hv_domain_try_reap(dom);
}

/* ---- messages from guest threads ---- */

typedef enum {
    XSIM_HV_MSG_SHUTDOWN,
    XSIM_HV_MSG_MEMKB,
    XSIM_HV_MSG_EXITED,
    XSIM_HV_MSG_SUSPENDED,
    XSIM_HV_MSG_HCALL,
    XSIM_HV_MSG_NOTIFY,
} XsimHvMsgType;

typedef struct {
    XsimHv *hv;
    XsimHvMsgType type;
    uint32_t domid;
    XsimShutdownReason reason;
    guint64 memkb;
    XsimGuestImage *image;  /* SUSPENDED: owned by the message */
    XsimHcall *hcall;       /* HCALL: the guest's, answered here */
    uint32_t port;          /* NOTIFY */
} XsimHvMsg;

static void
xsim_hv_hcall_run(XsimHvDomain *dom,
                  XsimHcall *hc)
{
    XsimHvDomain *remote;
    const char *shm = NULL;
    uint32_t value = 0;

    if (!dom || dom->dying || !dom->guest) {
        hc->rc = ESRCH;
        return;
    }
    switch (hc->op) {
    case XSIM_HCALL_GRANT_MAP:
        if (!(remote = xsim_hv_lookup(dom->hv, hc->remote)))
            hc->rc = ESRCH;
        else if ((hc->rc = xsim_hv_grant_map(dom, remote, hc->arg, &shm)) == 0)
            hc->shm = g_strdup(shm);
        break;
    case XSIM_HCALL_GRANT_UNMAP:
        hc->rc = xsim_hv_grant_unmap(dom, hc->remote, hc->arg);
        break;
    case XSIM_HCALL_GRANT_SHARE:
        if ((hc->rc = xsim_hv_grant_share(dom, hc->remote, hc->arg, &value,
                                          &shm)) == 0)
            hc->shm = g_strdup(shm);
        break;
    case XSIM_HCALL_EVTCHN_BIND:
        if (!(remote = xsim_hv_lookup(dom->hv, hc->remote)))
            hc->rc = ESRCH;
        else
            hc->rc = xsim_hv_evtchn_bind(dom, remote, hc->arg, &value);
        break;
    case XSIM_HCALL_EVTCHN_CLOSE:
        hc->rc = xsim_hv_evtchn_close(dom, hc->arg);
        break;
    default:
        hc->rc = ENOSYS;
        break;
    }
    hc->value = value;
}

static void
xsim_hv_msg_free(gpointer opaque)
{
    XsimHvMsg *msg = opaque;

    xsim_guest_image_free(msg->image);
    g_free(msg);
}

static gboolean
xsim_hv_msg_dispatch(gpointer opaque)
{
    XsimHvMsg *msg = opaque;
    XsimHvDomain *dom = xsim_hv_lookup(msg->hv, msg->domid);

    switch (msg->type) {
    case XSIM_HV_MSG_SHUTDOWN:
        if (dom)
            xsim_hv_domain_set_shutdown(dom, msg->reason);
        break;
    case XSIM_HV_MSG_MEMKB:
        /* The balloon never holds more than the domain may. */
        if (dom && !dom->dying && !dom->shutdown) {
            guint64 kb = MIN(msg->memkb, dom->max_memkb);

            if (kb != dom->cur_memkb) {
                msg->hv->held_kib = msg->hv->held_kib - dom->cur_memkb + kb;
                dom->cur_memkb = kb;
                g_message("domain %u: balloon at %" G_GUINT64_FORMAT " KiB",
                          dom->domid, kb);
            }
        }
        break;
    case XSIM_HV_MSG_EXITED:
        xsim_hv_guest_exited(msg->hv, msg->domid);
        break;
    case XSIM_HV_MSG_HCALL:
        /* The kernel's exit is queued after this: dom->guest is its own. */
        xsim_hv_hcall_run(dom, msg->hcall);
        if (dom && dom->guest)
            xsim_guest_hcall_done(dom->guest, msg->hcall);
        break;
    case XSIM_HV_MSG_NOTIFY:
        if (dom && !dom->dying)
            xsim_hv_evtchn_notify(dom, msg->port);
        break;
    case XSIM_HV_MSG_SUSPENDED:
        /* Its shutdown comes next, in order: the state is there first. */
        if (dom && !dom->dying && !dom->shutdown) {
            g_clear_pointer(&dom->suspended, xsim_guest_image_free);
            dom->suspended = g_steal_pointer(&msg->image);
            dom->suspended->memkb = dom->cur_memkb;
        }
        break;
    }
    return G_SOURCE_REMOVE;
}

/*
 * Any thread: queue @msg for the main thread, which owns the table.  Not
 * g_main_context_invoke(): when the main loop is not running (teardown)
 * it would run the handler right here, in the guest's thread.
 */
static void
xsim_hv_post(XsimHv *hv,
             XsimHvMsg msg)
{
    XsimHvMsg *copy = g_memdup2(&msg, sizeof(msg));
    GSource *source = g_idle_source_new();

    copy->hv = hv;
    g_source_set_priority(source, G_PRIORITY_DEFAULT);
    g_source_set_callback(source, xsim_hv_msg_dispatch, copy,
                          xsim_hv_msg_free);
    g_source_attach(source, g_main_context_default());
    g_source_unref(source);
}

void
xsim_hv_post_shutdown(XsimHv *hv,
                      uint32_t domid,
                      XsimShutdownReason reason)
{
    xsim_hv_post(hv, (XsimHvMsg) { .type = XSIM_HV_MSG_SHUTDOWN,
                                   .domid = domid, .reason = reason });
}

void
xsim_hv_post_suspended(XsimHv *hv,
                       uint32_t domid,
                       XsimGuestImage *image)
{
    xsim_hv_post(hv, (XsimHvMsg) { .type = XSIM_HV_MSG_SUSPENDED,
                                   .domid = domid, .image = image });
}

void
xsim_hv_post_memkb(XsimHv *hv,
                   uint32_t domid,
                   guint64 memkb)
{
    xsim_hv_post(hv, (XsimHvMsg) { .type = XSIM_HV_MSG_MEMKB,
                                   .domid = domid, .memkb = memkb });
}

void
xsim_hv_post_hcall(XsimHv *hv,
                   uint32_t domid,
                   XsimHcall *hc)
{
    xsim_hv_post(hv, (XsimHvMsg) { .type = XSIM_HV_MSG_HCALL,
                                   .domid = domid, .hcall = hc });
}

void
xsim_hv_post_notify(XsimHv *hv,
                    uint32_t domid,
                    uint32_t port)
{
    xsim_hv_post(hv, (XsimHvMsg) { .type = XSIM_HV_MSG_NOTIFY,
                                   .domid = domid, .port = port });
}

void
xsim_hv_post_guest_exited(XsimHv *hv,
                          uint32_t domid)
{
    xsim_hv_post(hv, (XsimHvMsg) { .type = XSIM_HV_MSG_EXITED,
                                   .domid = domid });
}

/* ---- event channels ---- */

int
xsim_hv_evtchn_alloc_unbound(XsimHvDomain *dom,
                             uint32_t remote,
                             uint32_t *port_r)
{
    XsimEvtchn *chn;

    if (dom->dying)
        return EINVAL;
    if (g_hash_table_size(dom->evtchns) >= 4096)
        return ENOSPC;
    chn = g_new0(XsimEvtchn, 1);
    chn->state = XSIM_EVTCHN_UNBOUND;
    chn->remote = remote;
    *port_r = dom->next_port++;
    g_hash_table_insert(dom->evtchns, GUINT_TO_POINTER(*port_r), chn);
    return 0;
}

int
xsim_hv_evtchn_bind(XsimHvDomain *dom,
                    XsimHvDomain *remote,
                    uint32_t remote_port,
                    uint32_t *port_r)
{
    XsimEvtchn *rchn = g_hash_table_lookup(remote->evtchns,
                                           GUINT_TO_POINTER(remote_port));
    XsimEvtchn *chn;

    if (dom->dying || remote->dying)
        return ESRCH;
    /* Only a port left unbound for us may be bound (EVTCHNOP_bind_interdomain). */
    if (!rchn || rchn->state != XSIM_EVTCHN_UNBOUND ||
        rchn->remote != dom->domid)
        return EINVAL;
    if (g_hash_table_size(dom->evtchns) >= 4096)
        return ENOSPC;
    chn = g_new0(XsimEvtchn, 1);
    chn->state = XSIM_EVTCHN_INTERDOMAIN;
    chn->remote = remote->domid;
    chn->remote_port = remote_port;
    *port_r = dom->next_port++;
    g_hash_table_insert(dom->evtchns, GUINT_TO_POINTER(*port_r), chn);
    rchn->state = XSIM_EVTCHN_INTERDOMAIN;
    rchn->remote_port = *port_r;
    return 0;
}

int
xsim_hv_evtchn_notify(XsimHvDomain *dom,
                      uint32_t port)
{
    XsimEvtchn *chn = g_hash_table_lookup(dom->evtchns, GUINT_TO_POINTER(port));
    XsimHvDomain *remote;
    XsimEvtchn *rchn;

    if (!chn)
        return EINVAL;
    /* Notifying an unbound port is allowed and does nothing, as in Xen. */
    if (chn->state != XSIM_EVTCHN_INTERDOMAIN)
        return 0;
    remote = xsim_hv_lookup(dom->hv, chn->remote);
    if (!remote || remote->dying ||
        !(rchn = g_hash_table_lookup(remote->evtchns,
                                     GUINT_TO_POINTER(chn->remote_port))))
        return 0;
    rchn->pending++;
    /* Delivered: to the toolstack watching the port (one event until it
     * unmasks), or to the remote's kernel. */
    if (rchn->watcher && !rchn->masked) {
        rchn->masked = true;
        xsim_hv_client_evtchn_event(rchn->watcher, remote->domid,
                                    chn->remote_port);
    }
    if (remote->guest)
        xsim_guest_evtchn_kick(remote->guest, chn->remote_port);
    return 0;
}

/* ---- a toolstack's port watches (evtchn_watch, evtchn_unmask) ---- */

int
xsim_hv_evtchn_watch(XsimHvDomain *dom,
                     uint32_t port,
                     XsimHvClient *client)
{
    XsimEvtchn *chn = g_hash_table_lookup(dom->evtchns, GUINT_TO_POINTER(port));

    if (!chn)
        return EINVAL;
    if (chn->watcher && chn->watcher != client)
        return EBUSY;
    chn->watcher = client;
    chn->masked = false;
    return 0;
}

int
xsim_hv_evtchn_unmask(XsimHvDomain *dom,
                      uint32_t port,
                      XsimHvClient *client)
{
    XsimEvtchn *chn = g_hash_table_lookup(dom->evtchns, GUINT_TO_POINTER(port));

    if (!chn || chn->watcher != client)
        return EINVAL;
    chn->masked = false;
    return 0;
}

void
xsim_hv_evtchn_unwatch_client(XsimHv *hv,
                              XsimHvClient *client,
                              uint32_t domid,
                              uint32_t port)
{
    XsimHvDomain *dom = xsim_hv_lookup(hv, domid);
    XsimEvtchn *chn;

    if (dom && (chn = g_hash_table_lookup(dom->evtchns,
                                          GUINT_TO_POINTER(port))) &&
        chn->watcher == client)
        chn->watcher = NULL;
}

static void
xsim_hv_evtchn_close_port(XsimHv *hv,
                          XsimHvDomain *dom,
                          uint32_t port)
{
    XsimEvtchn *chn = g_hash_table_lookup(dom->evtchns, GUINT_TO_POINTER(port));
    XsimHvDomain *remote;
    XsimEvtchn *rchn;

    if (!chn)
        return;
    /* The peer's end falls back to unbound, waiting for us (Xen does so). */
    if (chn->state == XSIM_EVTCHN_INTERDOMAIN &&
        (remote = xsim_hv_lookup(hv, chn->remote)) &&
        (rchn = g_hash_table_lookup(remote->evtchns,
                                    GUINT_TO_POINTER(chn->remote_port)))) {
        rchn->state = XSIM_EVTCHN_UNBOUND;
        rchn->remote_port = 0;
    }
    g_hash_table_remove(dom->evtchns, GUINT_TO_POINTER(port));
}

int
xsim_hv_evtchn_close(XsimHvDomain *dom,
                     uint32_t port)
{
    if (!g_hash_table_contains(dom->evtchns, GUINT_TO_POINTER(port)))
        return EINVAL;
    xsim_hv_evtchn_close_port(dom->hv, dom, port);
    return 0;
}

/* ---- grants ---- */

int
xsim_hv_grant_share(XsimHvDomain *dom,
                    uint32_t peer,
                    guint pages,
                    uint32_t *gref_r,
                    const char **shm_r)
{
    g_autofree char *name = NULL;
    XsimGrant *grant;
    int fd;

    if (dom->dying)
        return EINVAL;
    if (pages == 0 || pages > 256)
        return EINVAL;
    /* Grant pages come out of the domain's own memory. */
    if (g_hash_table_size(dom->grants) >= 1024 ||
        (guint64)pages * (XSIM_PAGE_SIZE / 1024) > dom->max_memkb)
        return ENOMEM;

    name = g_strdup_printf("/xensim-%d-%u-%u", (int)getpid(), dom->domid,
                           dom->next_gref);
    fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return errno == EEXIST ? EBUSY : errno;
    if (ftruncate(fd, (off_t)pages * XSIM_PAGE_SIZE) < 0) {
        int err = errno;

        close(fd);
        shm_unlink(name);
        return err;
    }
    close(fd);

    grant = g_new0(XsimGrant, 1);
    grant->gref = dom->next_gref++;
    grant->peer = peer;
    grant->pages = pages;
    grant->shm = g_steal_pointer(&name);
    g_hash_table_insert(dom->grants, GUINT_TO_POINTER(grant->gref), grant);
    *gref_r = grant->gref;
    *shm_r = grant->shm;
    return 0;
}

int
xsim_hv_grant_map(XsimHvDomain *dom,
                  XsimHvDomain *granter,
                  uint32_t gref,
                  const char **shm_r)
{
    XsimGrant *grant = g_hash_table_lookup(granter->grants,
                                           GUINT_TO_POINTER(gref));
    XsimHvMapping *m;

    if (!grant)
        return ENOENT;
    if (grant->peer != dom->domid)
        return EACCES;
    if (dom->dying)
        return ESRCH;
    grant->maps++;
    m = g_new0(XsimHvMapping, 1);
    m->granter = granter->domid;
    m->gref = gref;
    g_ptr_array_add(dom->mapped, m);
    *shm_r = grant->shm;
    return 0;
}

int
xsim_hv_grant_end(XsimHvDomain *dom,
                  uint32_t gref)
{
    if (!g_hash_table_remove(dom->grants, GUINT_TO_POINTER(gref)))
        return ENOENT;
    return 0;
}

static void
xsim_hv_domain_unmap(XsimHv *hv,
                     uint32_t granter,
                     uint32_t gref)
{
    XsimHvDomain *gdom = xsim_hv_lookup(hv, granter);
    XsimGrant *grant;

    if (!gdom ||
        !(grant = g_hash_table_lookup(gdom->grants, GUINT_TO_POINTER(gref))) ||
        grant->maps == 0)
        return;
    grant->maps--;
    /* The last mapping of a zombie's page: it may go now. */
    xsim_hv_domain_try_reap(gdom);
}

int
xsim_hv_grant_unmap(XsimHvDomain *dom,
                    uint32_t granter,
                    uint32_t gref)
{
    for (guint i = 0; i < dom->mapped->len; i++) {
        XsimHvMapping *m = g_ptr_array_index(dom->mapped, i);

        if (m->granter == granter && m->gref == gref) {
            g_ptr_array_remove_index(dom->mapped, i);
            xsim_hv_domain_unmap(dom->hv, granter, gref);
            return 0;
        }
    }
    return ENOENT;
}

/* ---- for backend.c, under hv->lock ---- */

XsimRing *
xsim_hv_console_ring(XsimHv *hv,
                     uint32_t domid)
{
    XsimHvDomain *dom = g_hash_table_lookup(hv->domains,
                                            GUINT_TO_POINTER(domid));

    if (!dom || dom->dying)
        return NULL;
    return xsim_ring_ref(dom->console);
}

bool
xsim_hv_take_hotplug_fault(XsimHv *hv,
                           uint32_t domid)
{
    XsimHvDomain *dom = g_hash_table_lookup(hv->domains,
                                            GUINT_TO_POINTER(domid));
    bool fail = dom && dom->fail_next_hotplug;

    if (fail)
        dom->fail_next_hotplug = false;
    return fail;
}

/* ---- teardown ---- */

void
xsim_hv_stop_requested(XsimHv *hv)
{
    if (hv->stopping)
        return;
    hv->stopping = true;
    g_message("stop requested");
    if (hv->stop_cb)
        hv->stop_cb(hv->stop_opaque);
}

void
xsim_hv_free(XsimHv *hv)
{
    g_autoptr(GList) domids = NULL;

    if (!hv)
        return;
    xsim_hv_clients_free(hv);

    /*
     * Every guest, as destroy would, but synchronously: the main loop no
     * longer runs to deliver the kernels' last messages.  Each kernel's
     * xenstore link is cut before we wait for it, so none can block.
     */
    domids = g_hash_table_get_keys(hv->domains);
    for (GList *l = domids; l; l = l->next) {
        XsimHvDomain *dom = xsim_hv_lookup(hv, GPOINTER_TO_UINT(l->data));

        if (dom->domid == 0)
            continue;
        xsim_server_domain_destroyed(hv->xs, dom->domid);
        xsim_ring_close(dom->xenstore);
        if (dom->guest) {
            xsim_guest_stop(dom->guest);
            xsim_guest_join(dom->guest);
            dom->guest = NULL;
        }
    }
    if (hv->backends)
        xsim_backends_stop(hv->backends);
    g_clear_pointer(&hv->net, xsim_net_free);

    g_mutex_lock(&hv->lock);
    {
        GHashTableIter iter;
        gpointer value;

        g_hash_table_iter_init(&iter, hv->domains);
        while (g_hash_table_iter_next(&iter, NULL, &value))
            xsim_hv_domain_free(value);
        g_hash_table_remove_all(hv->domains);
    }
    g_mutex_unlock(&hv->lock);
    g_hash_table_unref(hv->domains);
    g_hash_table_unref(hv->live_uuids);
    g_mutex_clear(&hv->lock);
    g_free(hv->rundir);
    g_free(hv);
}
