/*
 * backend.c: dom0's backends: blkback (vbd), netback (vif) and
 * xenconsoled (console), in one thread of xensimd.
 *
 * Like the real drivers, they watch /local/domain/0/backend and run the
 * backend side of the XenbusState handshake for every
 * backend/<kind>/<domid>/<devid> the toolstack writes, reading the
 * frontend's state through its watch.  The thread has its own GLib main
 * context and a privileged xenstore connection (xsim_xsc.c); it never
 * touches the domain table except for the two reads hv_internal.h allows
 * under hv->lock.
 *
 * Every node read here may have been written by a guest (frontend state,
 * and a toolstack may copy guest input into params): values are parsed
 * strictly, paths are only stat()ed, open()ed and linked to (a simulated
 * loop device), nothing reaches a shell or a format string.
 *
 * Per device (struct XsimBackDev), one step function reads the two states
 * and moves the backend on:
 *
 *   toolstack: state 1 --> setup (checks, nodes, pty) --> InitWait (2)
 *                              \--> failure: error nodes, Closing (5)
 *   frontend Initialised/Connected --> Connected (4)
 *   frontend Closing --> Closing (5); frontend Closed --> Closed (6)
 *   frontend gone --> the driver lets the device go ("unbound"): Closed
 *       if the toolstack wrote Closing before (xenbus_dev_remove), else
 *       it stays where it was.  An unbound device answers nothing more.
 *       (Linux's netback also closes itself on its way out, in a
 *       transaction that never recreates a removed node; without
 *       transactions here that write could land after a toolstack removed
 *       the directory, so the simulated netback acts as blkback does.)
 *
 * As on Linux, the toolstack's own Closing (or online 0) moves nothing
 * by itself: the frontend sees it and closes, and the backend follows.
 * With a paused or dead guest nobody answers, which is why toolstacks
 * remove by force (libxl): the frontend goes in the transaction that
 * writes Closing, and the unbind that follows writes Closed.  A frontend
 * removed before Closing is written leaves a blkback Connected for good.
 *
 * The primary console (devid 0, frontend .../console) has no handshake at
 * all, as with xenconsoled: its backend's state stays Initialising, and
 * the pty's path in the frontend's tty says it is served.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include "hv_internal.h"
#include "xsim_fdsource.h"
#include "xsim_xsc.h"

#define XSIM_BACKEND_ROOT "/local/domain/0/backend"

enum {
    XSIM_XB_INITIALISING = 1,
    XSIM_XB_INITWAIT = 2,
    XSIM_XB_INITIALISED = 3,
    XSIM_XB_CONNECTED = 4,
    XSIM_XB_CLOSING = 5,
    XSIM_XB_CLOSED = 6,
};

typedef struct {
    XsimBackends *be;
    char *kind;
    uint32_t domid;
    uint32_t devid;
    char *key;              /* "kind/domid/devid" */
    char *path;             /* backend/<kind>/<domid>/<devid> */
    char *front;            /* the frontend's path, once read */
    char *front_state;      /* <front>/state, watched */
    int state;              /* what we last wrote, 0 before anything */
    bool set_up;
    bool front_seen;        /* the frontend's state was there once */
    bool unbound;           /* the driver let it go: answers nothing */
    bool failed;            /* setup failed: Closing until the frontend closes */
    bool dead;              /* kill-backend: answers nothing any more */
    gint64 delay_until;     /* delay-backend: monotonic us */
    GSource *delay;

    /* console */
    int pty;                /* master */
    int pty_slave;          /* held open so the master never sees EIO/HUP */
    XsimRing *ring;         /* the primary console's: the guest's hvc0 */
    GSource *pty_source;

    /* Where blkback keeps its counters, in the simulated host's sysfs
     * (RUNDIR/sys), or NULL; its values, in the order of
     * xsim_vbd_counters. */
    char *stats_dir;
    guint64 counters[7];

    /* vif: its interface in dom0's network (xsim_net.c), or NULL, and
     * the bridge it is on, or NULL. */
    char *ifname;
    char *bridge;

    /* vbd of a file: the simulated loop device the block script attached
     * it to (RUNDIR/dev/loopN, a link to the file), or NULL. */
    char *loop;
} XsimBackDev;

struct _XsimBackends {
    XsimHv *hv;
    GThread *thread;
    GMainContext *ctx;
    XsimXsc *xsc;
    GSource *xsc_source;
    GHashTable *devs;       /* key -> XsimBackDev */
    /* Indexes of devs, so that no event looks at every device there is:
     * a domain's devices, and those watching a frontend's state node. */
    GHashTable *by_domid;   /* domid -> GHashTable of XsimBackDev (a set) */
    GHashTable *by_front;   /* front_state -> GPtrArray of XsimBackDev */

    /*
     * Shared with the main thread.  Faults are a table rather than
     * messages so that one injected before the toolstack writes the
     * device is found when the device appears, whatever the order in
     * which this thread learns of the two.
     */
    GMutex lock;
    bool stop;
    GHashTable *faults;     /* key -> XsimBackFault, not yet applied */
    bool faults_pending;
    GPtrArray *kicked;      /* XsimRing refs: console output to copy */
};

typedef struct {
    uint32_t domid;
    bool kill;
    int delay;
} XsimBackFault;

static void xsim_backdev_step(XsimBackDev *dev);
static void xsim_backdev_stats_create(XsimBackDev *dev);

static void
xsim_source_drop(GSource **source)
{
    if (*source) {
        g_source_destroy(*source);
        g_source_unref(*source);
        *source = NULL;
    }
}

static char *
xsim_backdev_node(XsimBackDev *dev,
                  const char *node)
{
    return g_strdup_printf("%s/%s", dev->path, node);
}

static int
xsim_backdev_read(XsimBackDev *dev,
                  const char *node,
                  char **value_r)
{
    g_autofree char *path = xsim_backdev_node(dev, node);

    return xsim_xsc_read(dev->be->xsc, path, value_r);
}

/*
 * Write a node for the device (@path: one of its own, or its frontend's)
 * only while the device is there, as Linux's xenbus_switch_state does: in
 * one transaction with a read of the backend's state node.  The toolstack
 * removes a dead domain's backend directory without waiting for us, and a
 * plain write after that would create the directory again, left behind for
 * ever (seen as a leftover backend node in the domain tests, under
 * AddressSanitizer's slower timing).
 */
static void
xsim_backdev_write_str(XsimBackDev *dev,
                       const char *path,
                       const char *value)
{
    XsimXsc *xsc = dev->be->xsc;
    g_autofree char *state_path = xsim_backdev_node(dev, "state");
    int rc;

    do {
        g_autofree char *cur = NULL;

        if (xsim_xsc_transaction_start(xsc) != 0)
            return;
        if (xsim_xsc_read(xsc, state_path, &cur) != 0 ||
            xsim_xsc_write_str(xsc, path, value) != 0) {
            /* Gone (or unwritable): nothing to do. */
            xsim_xsc_transaction_end(xsc, false);
            return;
        }
        rc = xsim_xsc_transaction_end(xsc, true);
    } while (rc == EAGAIN);
}

static void G_GNUC_PRINTF(3, 4)
xsim_backdev_write(XsimBackDev *dev,
                   const char *node,
                   const char *fmt,
                   ...)
{
    g_autofree char *path = xsim_backdev_node(dev, node);
    g_autofree char *value = NULL;
    va_list ap;

    va_start(ap, fmt);
    value = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    xsim_backdev_write_str(dev, path, value);
}

static void
xsim_backdev_set_state(XsimBackDev *dev,
                       int state)
{
    if (dev->state == state)
        return;
    dev->state = state;
    xsim_backdev_write(dev, "state", "%d", state);
}

/* A state node: a small decimal, anything else counts as absent (0). */
static int
xsim_read_state(XsimXsc *xsc,
                const char *path)
{
    g_autofree char *val = NULL;
    guint64 state;

    if (xsim_xsc_read(xsc, path, &val) != 0 ||
        !g_ascii_string_to_unsigned(val, 10, 0, 6, &state, NULL))
        return 0;
    return state;
}

/* ---- the console: xenconsoled's part ---- */

static void
xsim_console_close(XsimBackDev *dev)
{
    xsim_source_drop(&dev->pty_source);
    if (dev->ring) {
        xsim_ring_attach_back(dev->ring, NULL, NULL);
        g_clear_pointer(&dev->ring, xsim_ring_unref);
    }
    if (dev->pty >= 0)
        close(dev->pty);
    if (dev->pty_slave >= 0)
        close(dev->pty_slave);
    dev->pty = dev->pty_slave = -1;
}

/*
 * The guest wrote to its console ring (its thread, the ring locked): the
 * output is copied to the pty in ours, xsim_backends_console_output().
 */
static void
xsim_console_kick(XsimRing *ring,
                  gpointer opaque)
{
    XsimBackDev *dev = opaque;
    XsimBackends *be = dev->be;

    g_mutex_lock(&be->lock);
    g_ptr_array_add(be->kicked, xsim_ring_ref(ring));
    g_mutex_unlock(&be->lock);
    g_main_context_wakeup(be->ctx);
}

/*
 * Copy the kicked rings' output to their ptys, never blocking: with
 * nobody reading the pty, output is dropped as xenconsoled drops it once
 * its buffer is full.
 */
static void
xsim_backends_console_output(XsimBackends *be)
{
    g_autoptr(GPtrArray) kicked = NULL;

    g_mutex_lock(&be->lock);
    if (be->kicked->len > 0) {
        kicked = be->kicked;
        be->kicked = g_ptr_array_new_with_free_func(
            (GDestroyNotify)xsim_ring_unref);
    }
    g_mutex_unlock(&be->lock);
    if (!kicked)
        return;
    for (guint i = 0; i < kicked->len; i++) {
        XsimRing *ring = g_ptr_array_index(kicked, i);
        /* Detached (its console closed) since the kick: no one to copy to. */
        XsimBackDev *dev = xsim_ring_back(ring);
        char buf[4096];
        gsize n;

        while ((n = xsim_ring_back_read(ring, buf, sizeof(buf))) > 0) {
            if (dev && dev->pty >= 0 && write(dev->pty, buf, n) < 0) {
                /* Full (EAGAIN) or gone: dropped, like a full console ring. */
            }
        }
    }
}

/* Console input: into the guest's ring, what does not fit is dropped. */
static void
xsim_console_pty_ready(int fd,
                       GIOCondition revents,
                       gpointer opaque)
{
    XsimBackDev *dev = opaque;
    char buf[4096];
    ssize_t n;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (dev->ring)
            xsim_ring_back_write(dev->ring, buf, n);
    }
    if (revents & (G_IO_HUP | G_IO_ERR))
        xsim_source_drop(&dev->pty_source);
}

static bool
xsim_console_setup(XsimBackDev *dev,
                   char **err_r)
{
    XsimHv *hv = dev->be->hv;
    char name[128];
    struct termios tio;
    g_autofree char *fe_tty = NULL;

    dev->pty = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (dev->pty < 0 || grantpt(dev->pty) < 0 || unlockpt(dev->pty) < 0 ||
        ptsname_r(dev->pty, name, sizeof(name)) != 0) {
        *err_r = g_strdup_printf("cannot allocate a pty: %s", g_strerror(errno));
        return false;
    }
    dev->pty_slave = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (dev->pty_slave < 0) {
        *err_r = g_strdup_printf("cannot open '%s': %s", name, g_strerror(errno));
        return false;
    }
    /* Raw, as xenconsoled makes it: bytes pass untouched both ways. */
    if (tcgetattr(dev->pty_slave, &tio) == 0) {
        cfmakeraw(&tio);
        tcsetattr(dev->pty_slave, TCSANOW, &tio);
    }

    /* Only the primary console is the guest's hvc0 ring. */
    if (dev->devid == 0) {
        g_mutex_lock(&hv->lock);
        dev->ring = xsim_hv_console_ring(hv, dev->domid);
        g_mutex_unlock(&hv->lock);
    }
    dev->pty_source = xsim_fd_source_new(dev->pty, G_IO_IN,
                                         xsim_console_pty_ready, dev);
    if (dev->ring)
        xsim_ring_attach_back(dev->ring, xsim_console_kick, dev);

    /* Like xenconsoled (and QEMU), only into the frontend, where the
     * toolstack made tty a node of dom0's. */
    fe_tty = g_strdup_printf("%s/tty", dev->front);
    xsim_backdev_write_str(dev, fe_tty, name);
    return true;
}

/* ---- Xen's block hotplug script ---- */

/* Linux's loop devices: block major 7, minors up to 1 << 20; the
 * simulated host stops at a number no test reaches. */
#define XSIM_LOOP_MAJOR 7
#define XSIM_LOOP_MAX 4096

/*
 * What /etc/xen/scripts/block leaves for blkback (a vbd; a QEMU-served
 * qdisk has no script): the device's hex major:minor in physical-device
 * and its path in physical-device-path; for a file, the loop device it
 * attached the file to, also in node (which the script's remove detaches).
 * The simulated host's loop devices live in its own /dev, RUNDIR/dev:
 * loopN is a link to the file, N the lowest free, as `losetup -f` picks.
 */
static bool
xsim_vbd_hotplug(XsimBackDev *dev,
                 const char *params,
                 const struct stat *st,
                 char **err_r)
{
    g_autofree char *devdir = NULL;
    unsigned int n;

    if (S_ISBLK(st->st_mode)) {
        xsim_backdev_write(dev, "physical-device", "%x:%x",
                           major(st->st_rdev), minor(st->st_rdev));
        xsim_backdev_write(dev, "physical-device-path", "%s", params);
        return true;
    }
    devdir = g_build_filename(dev->be->hv->rundir, "dev", NULL);
    if (g_mkdir_with_parents(devdir, 0755) < 0) {
        *err_r = g_strdup_printf("%d cannot make %s: %s", errno, devdir,
                                 g_strerror(errno));
        return false;
    }
    for (n = 0; n < XSIM_LOOP_MAX; n++) {
        g_autofree char *loop = g_strdup_printf("%s/loop%u", devdir, n);

        if (symlink(params, loop) == 0) {
            dev->loop = g_steal_pointer(&loop);
            break;
        }
        if (errno != EEXIST)
            break;
    }
    if (!dev->loop) {
        *err_r = g_strdup_printf("%d no free loop device: %s", errno,
                                 g_strerror(errno));
        return false;
    }
    xsim_backdev_write(dev, "node", "%s", dev->loop);
    xsim_backdev_write(dev, "physical-device", "%x:%x", XSIM_LOOP_MAJOR, n);
    xsim_backdev_write(dev, "physical-device-path", "%s", dev->loop);
    return true;
}

static void
xsim_vbd_unplug(XsimBackDev *dev)
{
    if (dev->loop) {
        unlink(dev->loop);
        g_clear_pointer(&dev->loop, g_free);
    }
}

/* ---- blkback ---- */

/*
 * Whether the backing store takes discards, and in what unit: a file
 * (behind a loop device on Xen) does, by its filesystem's block; a block
 * device says so in its queue's limits in sysfs.
 */
static bool
xsim_vbd_discard(const struct stat *st,
                 guint64 *granularity_r)
{
    g_autofree char *max_path = NULL;
    g_autofree char *gran_path = NULL;
    g_autofree char *max = NULL;
    g_autofree char *gran = NULL;

    if (S_ISREG(st->st_mode)) {
        *granularity_r = st->st_blksize;
        return true;
    }
    max_path = g_strdup_printf("/sys/dev/block/%u:%u/queue/discard_max_bytes",
                               major(st->st_rdev), minor(st->st_rdev));
    gran_path = g_strdup_printf("/sys/dev/block/%u:%u/queue/"
                                "discard_granularity",
                                major(st->st_rdev), minor(st->st_rdev));
    if (!g_file_get_contents(max_path, &max, NULL, NULL) ||
        !g_file_get_contents(gran_path, &gran, NULL, NULL))
        return false;
    *granularity_r = g_ascii_strtoull(gran, NULL, 10);
    return g_ascii_strtoull(max, NULL, 10) > 0;
}

static bool
xsim_vbd_setup(XsimBackDev *dev,
               char **err_r)
{
    g_autofree char *params = NULL;
    g_autofree char *mode = NULL;
    g_autofree char *devtype = NULL;
    guint64 bytes = 0, granularity = 0;
    bool discard = false;
    struct stat st;
    bool ro, cdrom;
    int fd;

    if (xsim_backdev_read(dev, "mode", &mode) != 0)
        mode = g_strdup("w");
    if (xsim_backdev_read(dev, "device-type", &devtype) != 0)
        devtype = g_strdup("disk");
    ro = !g_str_equal(mode, "w");
    cdrom = g_str_equal(devtype, "cdrom");
    /* Only a CD-ROM drive may be empty. */
    if (xsim_backdev_read(dev, "params", &params) != 0 ||
        (!*params && !cdrom)) {
        *err_r = g_strdup("no params");
        return false;
    }

    /* What blkback offers at probe (xen-blkback/xenbus.c): indirect
     * descriptors, a queue per dom0 vcpu, rings of up to 16 pages. */
    xsim_backdev_write(dev, "feature-max-indirect-segments", "%d", 256);
    xsim_backdev_write(dev, "multi-queue-max-queues", "%u", XSIM_DOM0_VCPUS);
    xsim_backdev_write(dev, "max-ring-page-order", "%d", 4);

    /* A cdrom with no medium is a valid empty drive. */
    if (!(cdrom && !*params)) {
        fd = open(params, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOCTTY |
                  O_NONBLOCK);
        if (fd < 0) {
            *err_r = g_strdup_printf("%d opening %s: %s", errno, params,
                                     g_strerror(errno));
            return false;
        }
        if (fstat(fd, &st) == 0 && S_ISBLK(st.st_mode)) {
            if (ioctl(fd, BLKGETSIZE64, &bytes) < 0)
                bytes = 0;
        } else if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            bytes = st.st_size;
        } else {
            close(fd);
            *err_r = g_strdup_printf("%s is neither a file nor a block device",
                                     params);
            return false;
        }
        close(fd);
        if (g_str_equal(dev->kind, "vbd") &&
            !xsim_vbd_hotplug(dev, params, &st, err_r))
            return false;
        discard = xsim_vbd_discard(&st, &granularity);
    }

    /* And once connected. */
    xsim_backdev_write(dev, "feature-flush-cache", "%d", 1);
    if (discard) {
        xsim_backdev_write(dev, "discard-granularity", "%" G_GUINT64_FORMAT,
                           granularity);
        xsim_backdev_write(dev, "discard-alignment", "%d", 0);
        xsim_backdev_write(dev, "discard-secure", "%d", 0);
    }
    xsim_backdev_write(dev, "feature-discard", "%d", discard ? 1 : 0);
    xsim_backdev_write(dev, "feature-barrier", "%d", 1);
    xsim_backdev_write(dev, "feature-persistent", "%d", 1);
    xsim_backdev_write(dev, "sectors", "%" G_GUINT64_FORMAT, bytes / 512);
    xsim_backdev_write(dev, "sector-size", "%d", 512);
    xsim_backdev_write(dev, "physical-sector-size", "%d", 512);
    /* VDISK_CDROM 1, VDISK_READONLY 4 (xen/io/blkif.h) */
    xsim_backdev_write(dev, "info", "%d", (cdrom ? 1 : 0) | (ro ? 4 : 0));
    xsim_backdev_stats_create(dev);
    return true;
}

/* ---- netback ---- */

static bool
xsim_mac_valid(const char *mac)
{
    if (strlen(mac) != 17)
        return false;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2 ? mac[i] != ':' : !g_ascii_isxdigit(mac[i]))
            return false;
    }
    return true;
}

static bool
xsim_vif_setup(XsimBackDev *dev,
               char **err_r)
{
    g_autofree char *mac = NULL;
    g_autofree char *vifname = NULL;
    g_autofree char *bridge = NULL;
    int err;

    if (xsim_backdev_read(dev, "mac", &mac) == 0 && !xsim_mac_valid(mac)) {
        *err_r = g_strdup("invalid mac");
        return false;
    }
    /* What Linux's netback advertises at probe (xen-netback/xenbus.c). */
    xsim_backdev_write(dev, "feature-sg", "%d", 1);
    xsim_backdev_write(dev, "feature-gso-tcpv4", "%d", 1);
    xsim_backdev_write(dev, "feature-gso-tcpv6", "%d", 1);
    xsim_backdev_write(dev, "feature-ipv6-csum-offload", "%d", 1);
    xsim_backdev_write(dev, "feature-rx-copy", "%d", 1);
    xsim_backdev_write(dev, "feature-rx-flip", "%d", 0);
    xsim_backdev_write(dev, "feature-multicast-control", "%d", 1);
    xsim_backdev_write(dev, "feature-dynamic-multicast-control", "%d", 1);
    xsim_backdev_write(dev, "feature-split-event-channels", "%d", 1);
    xsim_backdev_write(dev, "multi-queue-max-queues", "%u",
                       XSIM_DOM0_VCPUS);
    xsim_backdev_write(dev, "feature-ctrl-ring", "%d", 1);
    xsim_backdev_write(dev, "feature-xdp-headroom", "%d", 1);

    /*
     * The interface netback makes, named as the toolstack chose (netback
     * never writes vifname), else the kernel's vif<domid>.<devid>, and
     * what vif-bridge does with it: onto the bridge named, up.  Without
     * dom0's network namespace there is no interface, and no failure.
     */
    if (xsim_backdev_read(dev, "vifname", &vifname) != 0)
        vifname = g_strdup_printf("vif%u.%u", dev->domid, dev->devid);
    /* An Open vSwitch bridge's ":TRUNK..." says which VLANs pass, not
     * which bridge: the simulated bridge carries them all. */
    if (xsim_backdev_read(dev, "bridge", &bridge) == 0)
        bridge[strcspn(bridge, ":")] = '\0';
    if (bridge && !bridge[0])
        g_clear_pointer(&bridge, g_free);
    err = xsim_net_vif_add(dev->be->hv->net, vifname, bridge);
    if (err == ENETDOWN)
        return true;
    if (err != 0) {
        *err_r = g_strdup_printf("interface %s%s%s: %s", vifname,
                                 bridge ? " on bridge " : "",
                                 bridge ? bridge : "", g_strerror(err));
        return false;
    }
    dev->ifname = g_steal_pointer(&vifname);
    dev->bridge = g_steal_pointer(&bridge);
    return true;
}

static void
xsim_vif_remove(XsimBackDev *dev)
{
    if (!dev->ifname)
        return;
    xsim_net_vif_remove(dev->be->hv->net, dev->ifname, dev->bridge);
    g_clear_pointer(&dev->ifname, g_free);
    g_clear_pointer(&dev->bridge, g_free);
}

/* ---- counters in the simulated sysfs ---- */

/*
 * Linux keeps a blkback's request counters in
 * /sys/bus/xen-backend/devices/vbd-D-N/statistics, one decimal number per
 * file; the simulated host keeps the same files under RUNDIR/sys, so
 * that a toolstack reads them the same way on both.  They count the
 * requests the simulated guest makes (docs/xensim-host.md).  A vif's
 * counters are its interface's own, kept by the kernel (xsim_net.c).
 */
static const char *const xsim_vbd_counters[] = {
    "rd_req", "rd_sect", "wr_req", "wr_sect", "f_req", "ds_req", "oo_req",
};

static void
xsim_backdev_stats_create(XsimBackDev *dev)
{
    g_autofree char *dir = NULL;

    /* A qdisk has no blkback (a QEMU serves it on Xen): no counters. */
    if (!g_str_equal(dev->kind, "vbd"))
        return;
    dir = g_strdup_printf("%s/sys/bus/xen-backend/devices/vbd-%u-%u/"
                          "statistics", dev->be->hv->rundir, dev->domid,
                          dev->devid);
    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_warning("backend %s: cannot make %s: %s", dev->key, dir,
                  g_strerror(errno));
        return;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(xsim_vbd_counters); i++) {
        g_autofree char *path = g_build_filename(dir, xsim_vbd_counters[i],
                                                 NULL);

        if (!g_file_set_contents(path, "0\n", -1, NULL))
            g_warning("backend %s: cannot write %s", dev->key, path);
    }
    dev->stats_dir = g_steal_pointer(&dir);
}

/* The device is gone: so are its counters. */
static void
xsim_backdev_stats_remove(XsimBackDev *dev)
{
    g_autofree char *parent = NULL;
    g_autoptr(GDir) d = NULL;
    const char *name;

    if (!dev->stats_dir)
        return;
    if ((d = g_dir_open(dev->stats_dir, 0, NULL))) {
        while ((name = g_dir_read_name(d))) {
            g_autofree char *path = g_build_filename(dev->stats_dir, name,
                                                     NULL);

            unlink(path);
        }
    }
    rmdir(dev->stats_dir);
    parent = g_path_get_dirname(dev->stats_dir);
    rmdir(parent);
    g_clear_pointer(&dev->stats_dir, g_free);
}

/* ---- the device state machine ---- */

/*
 * What xenbus_dev_fatal() and a failed hotplug script leave behind: the
 * error under dom0's error/ directory, hotplug-error and hotplug-status
 * for the toolstack, and the backend Closing.
 */
static void
xsim_backdev_fail(XsimBackDev *dev,
                  const char *message)
{
    g_autofree char *err_path = g_strdup_printf("/local/domain/0/error/backend/"
                                                "%s/%u/%u/error", dev->kind,
                                                dev->domid, dev->devid);

    g_message("backend %s: %s", dev->key, message);
    dev->failed = true;
    xsim_xsc_write_str(dev->be->xsc, err_path, message);
    xsim_backdev_write(dev, "hotplug-error", "%s", message);
    xsim_backdev_write(dev, "hotplug-status", "%s", "error");
    xsim_backdev_set_state(dev, XSIM_XB_CLOSING);
}

static bool
xsim_backdev_setup(XsimBackDev *dev)
{
    g_autofree char *err = NULL;
    bool ok;

    dev->set_up = true;
    g_mutex_lock(&dev->be->hv->lock);
    ok = !xsim_hv_take_hotplug_fault(dev->be->hv, dev->domid);
    g_mutex_unlock(&dev->be->hv->lock);
    if (!ok) {
        xsim_backdev_fail(dev, "hotplug script failed (injected fault)");
        return false;
    }

    /* A qdisk (a QEMU serving the disk in real Xen) is set up like blkback
     * here: the simulated host checks and serves the file itself. */
    if (g_str_equal(dev->kind, "vbd") || g_str_equal(dev->kind, "qdisk"))
        ok = xsim_vbd_setup(dev, &err);
    else if (g_str_equal(dev->kind, "vif"))
        ok = xsim_vif_setup(dev, &err);
    else
        ok = xsim_console_setup(dev, &err);
    if (!ok) {
        xsim_backdev_fail(dev, err);
        return false;
    }
    /* What the hotplug script says once it did its work (Xen's block and
     * vif-bridge; a console or a QEMU-served disk has none). */
    if (g_str_equal(dev->kind, "vbd") || g_str_equal(dev->kind, "vif"))
        xsim_backdev_write(dev, "hotplug-status", "%s", "connected");
    return true;
}

static bool
xsim_backdev_primary_console(XsimBackDev *dev)
{
    return g_str_equal(dev->kind, "console") && dev->devid == 0;
}

static gboolean
xsim_backdev_delay_done(gpointer opaque)
{
    XsimBackDev *dev = opaque;

    /* Unref here: the source is being dispatched, GLib holds its own ref. */
    g_clear_pointer(&dev->delay, g_source_unref);
    dev->delay_until = 0;
    xsim_backdev_step(dev);
    return G_SOURCE_REMOVE;
}

/* ---- the indexes of devs ---- */

static void
xsim_backdev_index_front(XsimBackDev *dev)
{
    GPtrArray *devs = g_hash_table_lookup(dev->be->by_front, dev->front_state);

    if (!devs) {
        devs = g_ptr_array_new();
        g_hash_table_insert(dev->be->by_front, g_strdup(dev->front_state),
                            devs);
    }
    g_ptr_array_add(devs, dev);
}

static void
xsim_backdev_index_add(XsimBackDev *dev)
{
    GHashTable *devs = g_hash_table_lookup(dev->be->by_domid,
                                           GUINT_TO_POINTER(dev->domid));

    if (!devs) {
        devs = g_hash_table_new(g_direct_hash, g_direct_equal);
        g_hash_table_insert(dev->be->by_domid, GUINT_TO_POINTER(dev->domid),
                            devs);
    }
    g_hash_table_add(devs, dev);
}

static void
xsim_backdev_index_remove(XsimBackDev *dev)
{
    XsimBackends *be = dev->be;
    GHashTable *devs = g_hash_table_lookup(be->by_domid,
                                           GUINT_TO_POINTER(dev->domid));
    GPtrArray *fdevs;

    if (devs && g_hash_table_remove(devs, dev) &&
        g_hash_table_size(devs) == 0)
        g_hash_table_remove(be->by_domid, GUINT_TO_POINTER(dev->domid));
    if (dev->front_state &&
        (fdevs = g_hash_table_lookup(be->by_front, dev->front_state)) &&
        g_ptr_array_remove(fdevs, dev) && fdevs->len == 0)
        g_hash_table_remove(be->by_front, dev->front_state);
}

/* The keys of @domid's devices of @kind (all kinds if NULL), added. */
static void
xsim_backdev_domain_keys(XsimBackends *be,
                         uint32_t domid,
                         const char *kind,
                         GPtrArray *keys)
{
    GHashTable *devs = g_hash_table_lookup(be->by_domid,
                                           GUINT_TO_POINTER(domid));
    GHashTableIter iter;
    gpointer key;

    if (!devs)
        return;
    g_hash_table_iter_init(&iter, devs);
    while (g_hash_table_iter_next(&iter, &key, NULL)) {
        XsimBackDev *dev = key;

        if (!kind || g_str_equal(dev->kind, kind))
            g_ptr_array_add(keys, g_strdup(dev->key));
    }
}

static void
xsim_backdev_free(XsimBackDev *dev)
{
    if (!dev)
        return;
    xsim_backdev_index_remove(dev);
    if (dev->front_state && dev->be->xsc)
        xsim_xsc_unwatch(dev->be->xsc, dev->front_state, "front");
    xsim_source_drop(&dev->delay);
    xsim_console_close(dev);
    xsim_backdev_stats_remove(dev);
    xsim_vif_remove(dev);
    xsim_vbd_unplug(dev);
    g_free(dev->kind);
    g_free(dev->key);
    g_free(dev->path);
    g_free(dev->front);
    g_free(dev->front_state);
    g_free(dev);
}

static void
xsim_backdev_kill(XsimBackDev *dev)
{
    dev->dead = true;
    xsim_console_close(dev);
    xsim_backdev_set_state(dev, XSIM_XB_CLOSED);
    g_message("backend %s killed", dev->key);
}

static void
xsim_backdev_apply_fault(XsimBackDev *dev,
                         const XsimBackFault *fault)
{
    if (fault->kill) {
        xsim_backdev_kill(dev);
    } else {
        xsim_source_drop(&dev->delay);
        dev->delay_until = g_get_monotonic_time() +
                           (gint64)fault->delay * G_USEC_PER_SEC;
        g_message("backend %s delayed by %d s", dev->key, fault->delay);
    }
}

/* Faults for devices we know; the others wait in the table. */
static void
xsim_backends_apply_faults(XsimBackends *be)
{
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) faults = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer key, value;

    g_mutex_lock(&be->lock);
    if (be->faults_pending) {
        be->faults_pending = false;
        g_hash_table_iter_init(&iter, be->faults);
        while (g_hash_table_iter_next(&iter, &key, &value)) {
            if (!g_hash_table_contains(be->devs, key))
                continue;
            g_hash_table_iter_steal(&iter);
            g_ptr_array_add(keys, key);
            g_ptr_array_add(faults, value);
        }
    }
    g_mutex_unlock(&be->lock);

    for (guint i = 0; i < keys->len; i++) {
        XsimBackDev *dev = g_hash_table_lookup(be->devs, keys->pdata[i]);

        if (dev) {
            xsim_backdev_apply_fault(dev, faults->pdata[i]);
            xsim_backdev_step(dev);
        }
    }
}

/*
 * One step of a backend's XenbusState machine, from what xenstore says
 * now.  Long because the whole machine (removal, frontend leaving,
 * set-up, connection) is read top to bottom in one place, as Linux's
 * xenbus backends are.
 */
static void
xsim_backdev_step(XsimBackDev *dev)
{
    XsimXsc *xsc = dev->be->xsc;
    g_autofree char *online = NULL;
    int bstate, fstate;

    if (dev->dead || dev->delay)
        return;
    if (dev->delay_until) {
        gint64 ms = (dev->delay_until - g_get_monotonic_time()) / 1000;

        if (ms > 0) {
            /* A stalled hotplug script: the handshake waits. */
            dev->delay = g_timeout_source_new(ms);
            g_source_set_callback(dev->delay, xsim_backdev_delay_done, dev, NULL);
            g_source_attach(dev->delay, dev->be->ctx);
            return;
        }
        dev->delay_until = 0;
    }

    {
        g_autofree char *state_path = xsim_backdev_node(dev, "state");
        g_autofree char *dir = NULL;

        bstate = xsim_read_state(xsc, state_path);
        if (bstate == 0) {
            /* Removed by the toolstack: forget it.  Else still being written. */
            if (xsim_xsc_read(xsc, dev->path, &dir) == ENOENT)
                g_hash_table_remove(dev->be->devs, dev->key);
            return;
        }
    }
    if (!dev->front) {
        g_autofree char *front = NULL;

        if (xsim_backdev_read(dev, "frontend", &front) != 0 || front[0] != '/')
            return;     /* the toolstack has not written it yet */
        dev->front = g_steal_pointer(&front);
        dev->front_state = g_strdup_printf("%s/state", dev->front);
        xsim_backdev_index_front(dev);
        /* Its initial event steps us again: nothing more to do now. */
        xsim_xsc_watch(xsc, dev->front_state, "front");
        return;
    }
    if (dev->unbound)
        return;
    fstate = xsim_read_state(xsc, dev->front_state);
    if (xsim_backdev_read(dev, "online", &online) != 0)
        online = g_strdup("1");

    if (fstate != 0) {
        dev->front_seen = true;
    } else if (dev->front_seen) {
        /*
         * The frontend is gone (or unreadable: Linux's XenbusStateUnknown)
         * and the driver unbinds.  Real Xen's xenconsoled stops serving
         * the PV console but never takes its backend to Closed (seen under
         * tools/xen-testhost): toolstacks must not wait for it.
         */
        dev->unbound = true;
        dev->state = bstate;
        xsim_console_close(dev);
        /* The toolstack waits for this Closed: its directory stays. */
        if (!xsim_backdev_primary_console(dev) && bstate == XSIM_XB_CLOSING)
            xsim_backdev_set_state(dev, XSIM_XB_CLOSED);
        return;
    }

    /* The frontend leaving (it saw our Closing, or the guest's own). */
    if (fstate == XSIM_XB_CLOSING || (fstate == XSIM_XB_CLOSED && dev->set_up)) {
        if (bstate != XSIM_XB_CLOSED) {
            dev->state = bstate;
            if (xsim_backdev_primary_console(dev)) {
                xsim_console_close(dev);
            } else if (fstate == XSIM_XB_CLOSED) {
                xsim_console_close(dev);
                xsim_backdev_set_state(dev, XSIM_XB_CLOSED);
            } else if (!dev->failed) {
                xsim_backdev_set_state(dev, XSIM_XB_CLOSING);
            }
        }
        /* Closed and offline: the driver lets the device go. */
        if (fstate == XSIM_XB_CLOSED && !g_str_equal(online, "1"))
            dev->unbound = true;
        return;
    }
    /* Told to go (Closing, online 0): it is the frontend that answers. */
    if (bstate == XSIM_XB_CLOSING || bstate == XSIM_XB_CLOSED ||
        !g_str_equal(online, "1"))
        return;

    if (!dev->set_up) {
        /* Only from Initialising: a state we find elsewhere is not ours. */
        if (bstate != XSIM_XB_INITIALISING)
            return;
        dev->state = bstate;
        if (!xsim_backdev_setup(dev))
            return;
        /* xenconsoled runs no handshake: the primary console's backend
         * stays Initialising (seen on real Xen under tools/xen-testhost);
         * the pty in the frontend's tty is what says it is ready. */
        if (!xsim_backdev_primary_console(dev))
            xsim_backdev_set_state(dev, XSIM_XB_INITWAIT);
        return;
    }
    if (dev->state == XSIM_XB_INITWAIT &&
        (fstate == XSIM_XB_INITIALISED || fstate == XSIM_XB_CONNECTED))
        xsim_backdev_set_state(dev, XSIM_XB_CONNECTED);
}

/* Parse "/local/domain/0/backend/<kind>/<domid>/<devid>[/...]". */
static bool
xsim_backend_path_parse(const char *path,
                        char **kind_r,
                        uint32_t *domid_r,
                        uint32_t *devid_r)
{
    g_auto(GStrv) parts = NULL;
    guint64 domid, devid;

    if (!g_str_has_prefix(path, XSIM_BACKEND_ROOT "/"))
        return false;
    parts = g_strsplit(path + strlen(XSIM_BACKEND_ROOT "/"), "/", 4);
    if (g_strv_length(parts) < 3 ||
        (!g_str_equal(parts[0], "vbd") && !g_str_equal(parts[0], "qdisk") &&
         !g_str_equal(parts[0], "vif") && !g_str_equal(parts[0], "console")) ||
        !g_ascii_string_to_unsigned(parts[1], 10, 1, 0x7fef, &domid, NULL) ||
        !g_ascii_string_to_unsigned(parts[2], 10, 0, G_MAXINT32, &devid, NULL))
        return false;
    *kind_r = g_strdup(parts[0]);
    *domid_r = domid;
    *devid_r = devid;
    return true;
}

static XsimBackDev *
xsim_backdev_get(XsimBackends *be,
                 const char *kind,
                 uint32_t domid,
                 uint32_t devid)
{
    g_autofree char *key = g_strdup_printf("%s/%u/%u", kind, domid, devid);
    XsimBackDev *dev = g_hash_table_lookup(be->devs, key);
    XsimBackFault *fault = NULL;
    gpointer fkey;

    if (dev)
        return dev;
    dev = g_new0(XsimBackDev, 1);
    dev->be = be;
    dev->kind = g_strdup(kind);
    dev->domid = domid;
    dev->devid = devid;
    dev->key = g_steal_pointer(&key);
    dev->path = g_strdup_printf(XSIM_BACKEND_ROOT "/%s", dev->key);
    dev->pty = dev->pty_slave = -1;
    g_hash_table_insert(be->devs, dev->key, dev);
    xsim_backdev_index_add(dev);

    g_mutex_lock(&be->lock);
    if (g_hash_table_steal_extended(be->faults, dev->key, &fkey,
                                    (gpointer *)&fault))
        g_free(fkey);
    g_mutex_unlock(&be->lock);
    if (fault) {
        xsim_backdev_apply_fault(dev, fault);
        g_free(fault);
    }
    return dev;
}

/* Steps the devices of these keys ("kind/domid/devid"), if they parse. */
static void
xsim_backends_step_keys(XsimBackends *be,
                        GPtrArray *keys)
{
    for (guint i = 0; i < keys->len; i++) {
        g_autofree char *path = g_strdup_printf(XSIM_BACKEND_ROOT "/%s",
                                                (char *)keys->pdata[i]);
        g_autofree char *kind = NULL;
        uint32_t domid, devid;

        if (xsim_backend_path_parse(path, &kind, &domid, &devid))
            xsim_backdev_step(xsim_backdev_get(be, kind, domid, devid));
    }
}

/* Parse "/local/domain/0/backend/<kind>/<domid>" exactly. */
static bool
xsim_backend_domain_path_parse(const char *path,
                               char **kind_r,
                               uint32_t *domid_r)
{
    g_auto(GStrv) parts = NULL;
    guint64 domid;

    if (!g_str_has_prefix(path, XSIM_BACKEND_ROOT "/"))
        return false;
    parts = g_strsplit(path + strlen(XSIM_BACKEND_ROOT "/"), "/", 3);
    if (g_strv_length(parts) != 2 ||
        !g_ascii_string_to_unsigned(parts[1], 10, 1, 0x7fef, &domid, NULL))
        return false;
    *kind_r = g_strdup(parts[0]);
    *domid_r = domid;
    return true;
}

/*
 * An event on one domain's directory of one kind (the toolstack removes
 * backend/<kind>/<domid> as a whole when the domain goes): look at the
 * devices there and those of it we know, not at every device of the host.
 */
static void
xsim_backends_rescan_domain(XsimBackends *be,
                            const char *kind,
                            uint32_t domid)
{
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *ddir = g_strdup_printf(XSIM_BACKEND_ROOT "/%s/%u", kind,
                                            domid);
    g_auto(GStrv) devids = NULL;

    xsim_backdev_domain_keys(be, domid, kind, keys);
    if (xsim_xsc_directory(be->xsc, ddir, &devids) == 0) {
        for (guint i = 0; devids[i]; i++)
            g_ptr_array_add(keys, g_strdup_printf("%s/%u/%s", kind, domid,
                                                  devids[i]));
    }
    xsim_backends_step_keys(be, keys);
}

/*
 * An event above that: the watch's initial event (devices written before
 * our watch existed), or a whole kind's subtree removed.  Look at every
 * device there is and every one we know.
 */
static void
xsim_backends_rescan(XsimBackends *be)
{
    static const char *const kinds[] = { "vbd", "qdisk", "vif", "console" };
    g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
    GHashTableIter iter;
    gpointer key;

    g_hash_table_iter_init(&iter, be->devs);
    while (g_hash_table_iter_next(&iter, &key, NULL))
        g_ptr_array_add(keys, g_strdup(key));
    for (guint k = 0; k < G_N_ELEMENTS(kinds); k++) {
        g_autofree char *kdir = g_strdup_printf(XSIM_BACKEND_ROOT "/%s", kinds[k]);
        g_auto(GStrv) domids = NULL;

        if (xsim_xsc_directory(be->xsc, kdir, &domids) != 0)
            continue;
        for (guint d = 0; domids[d]; d++) {
            g_autofree char *ddir = g_strdup_printf("%s/%s", kdir, domids[d]);
            g_auto(GStrv) devids = NULL;

            if (xsim_xsc_directory(be->xsc, ddir, &devids) != 0)
                continue;
            for (guint i = 0; devids[i]; i++)
                g_ptr_array_add(keys, g_strdup_printf("%s/%s/%s", kinds[k],
                                                      domids[d], devids[i]));
        }
    }
    xsim_backends_step_keys(be, keys);
}

static void
xsim_backends_events(XsimBackends *be)
{
    char *path, *token;

    while (be->xsc && xsim_xsc_next_event(be->xsc, &path, &token)) {
        g_autofree char *p = path;
        g_autofree char *t = token;

        if (g_str_equal(t, "backend")) {
            g_autofree char *kind = NULL;
            uint32_t domid, devid;
            g_autofree char *key = NULL;

            if (!xsim_backend_path_parse(p, &kind, &domid, &devid)) {
                if (xsim_backend_domain_path_parse(p, &kind, &domid))
                    xsim_backends_rescan_domain(be, kind, domid);
                else if (g_str_equal(p, XSIM_BACKEND_ROOT) ||
                         g_str_has_prefix(p, XSIM_BACKEND_ROOT "/"))
                    xsim_backends_rescan(be);
                continue;
            }
            key = g_strdup_printf("%s/%u/%u", kind, domid, devid);
            /* A removal event for a device we never knew: nothing to do. */
            if (!g_hash_table_contains(be->devs, key)) {
                g_autofree char *val = NULL;
                g_autofree char *dpath = g_strdup_printf(XSIM_BACKEND_ROOT "/%s",
                                                         key);

                if (xsim_xsc_read(be->xsc, dpath, &val) != 0)
                    continue;
            }
            xsim_backdev_step(xsim_backdev_get(be, kind, domid, devid));
        } else if (g_str_equal(t, "front")) {
            GPtrArray *devs = g_hash_table_lookup(be->by_front, p);
            g_autoptr(GPtrArray) hits = g_ptr_array_new();

            for (guint i = 0; devs && i < devs->len; i++) {
                XsimBackDev *dev = g_ptr_array_index(devs, i);

                g_ptr_array_add(hits, g_strdup(dev->key));
            }
            /* By key: a step may free the device. */
            for (guint i = 0; i < hits->len; i++) {
                XsimBackDev *dev = g_hash_table_lookup(be->devs, hits->pdata[i]);

                if (dev)
                    xsim_backdev_step(dev);
                g_free(hits->pdata[i]);
            }
        }
    }
}

static void
xsim_backends_xsc_ready(int fd,
                        GIOCondition revents,
                        gpointer opaque)
{
    XsimBackends *be = opaque;

    if (xsim_xsc_pump(be->xsc) != 0) {
        bool stopping;

        g_mutex_lock(&be->lock);
        stopping = be->stop;
        g_mutex_unlock(&be->lock);
        if (!stopping)
            g_warning("dom0 backends lost their xenstore connection");
        xsim_source_drop(&be->xsc_source);
    }
}

static gpointer
xsim_backends_main(gpointer opaque)
{
    XsimBackends *be = opaque;

    g_main_context_push_thread_default(be->ctx);
    /* A pty per console of every guest. */
    xsim_fd_sources_many(be->ctx);
    be->xsc_source = xsim_fd_source_new(xsim_xsc_fd(be->xsc), G_IO_IN,
                                        xsim_backends_xsc_ready, be);
    /*
     * Sent from this thread: xenstored serves it once the main loop runs.
     * Its initial event makes us look at whatever is already there.
     */
    if (xsim_xsc_watch(be->xsc, XSIM_BACKEND_ROOT, "backend") != 0)
        g_warning("dom0 backends cannot watch " XSIM_BACKEND_ROOT);
    for (;;) {
        bool stop;

        g_mutex_lock(&be->lock);
        stop = be->stop;
        g_mutex_unlock(&be->lock);
        if (stop)
            break;
        xsim_backends_apply_faults(be);
        xsim_backends_events(be);
        /* Whatever a kick brought since: the wakeup it made is pending. */
        xsim_backends_console_output(be);
        g_main_context_iteration(be->ctx, TRUE);
    }
    g_hash_table_remove_all(be->devs);
    xsim_source_drop(&be->xsc_source);
    g_main_context_pop_thread_default(be->ctx);
    return NULL;
}

/*
 * Called from the main thread before its loop runs: connecting a unix
 * socket needs no help from the server (the kernel queues it until
 * accept), so this cannot wait for ourselves.
 */
XsimBackends *
xsim_backends_start(XsimHv *hv)
{
    g_autofree char *path = g_build_filename(hv->rundir, "xenstored", "socket",
                                             NULL);
    XsimBackends *be;
    int err = 0;
    XsimXsc *xsc;

    if (!(xsc = xsim_xsc_connect(path, &err))) {
        g_warning("backends: cannot connect to '%s': %s", path, g_strerror(err));
        return NULL;
    }
    be = g_new0(XsimBackends, 1);
    be->hv = hv;
    be->xsc = xsc;
    be->ctx = g_main_context_new();
    be->devs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify)xsim_backdev_free);
    be->by_domid = g_hash_table_new_full(g_direct_hash, g_direct_equal, NULL,
                                         (GDestroyNotify)g_hash_table_unref);
    be->by_front = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                         (GDestroyNotify)g_ptr_array_unref);
    be->faults = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    be->kicked = g_ptr_array_new_with_free_func(
        (GDestroyNotify)xsim_ring_unref);
    g_mutex_init(&be->lock);
    be->thread = g_thread_new("dom0-backends", xsim_backends_main, be);
    return be;
}

void
xsim_backends_stop(XsimBackends *be)
{
    if (!be)
        return;
    g_mutex_lock(&be->lock);
    be->stop = true;
    g_mutex_unlock(&be->lock);
    /* It may be waiting for xenstored, which no longer runs: cut it off. */
    xsim_xsc_shutdown(be->xsc);
    g_main_context_wakeup(be->ctx);
    g_thread_join(be->thread);
    g_hash_table_unref(be->devs);
    g_hash_table_unref(be->by_domid);
    g_hash_table_unref(be->by_front);
    g_hash_table_unref(be->faults);
    g_ptr_array_unref(be->kicked);
    xsim_xsc_free(be->xsc);
    g_main_context_unref(be->ctx);
    g_mutex_clear(&be->lock);
    g_free(be);
}

/* ---- messages from the main thread ---- */

/* A message to the backends' thread: a domain is gone, or a request of
 * a guest's blkfront (io). */
typedef struct {
    XsimBackends *be;
    uint32_t domid;
    bool io;
    bool write;
    uint32_t devid;
    guint64 sector;
    guint nsect;
    guint8 *data;
} XsimBackMsg;

static void
xsim_back_msg_free(gpointer opaque)
{
    XsimBackMsg *msg = opaque;

    g_free(msg->data);
    g_free(msg);
}

/* blkback serves one request on the disk's file and counts it. */
static void
xsim_vbd_serve(XsimBackends *be,
               XsimBackMsg *msg)
{
    g_autofree char *key = g_strdup_printf("vbd/%u/%u", msg->domid,
                                           msg->devid);
    XsimBackDev *dev = g_hash_table_lookup(be->devs, key);
    g_autofree char *params = NULL;
    g_autofree guint8 *buf = NULL;
    size_t len = (size_t)msg->nsect * 512;
    ssize_t done = -1;
    int fd;

    /* Counters in xsim_vbd_counters' order. */
    enum { RD_REQ, RD_SECT, WR_REQ, WR_SECT, F_REQ, DS_REQ, OO_REQ };

    if (!dev || dev->state != XSIM_XB_CONNECTED || dev->unbound ||
        dev->dead || xsim_backdev_read(dev, "params", &params) != 0)
        return;     /* no ring to carry it: the request is lost */
    fd = open(params, (msg->write ? O_WRONLY : O_RDONLY) | O_CLOEXEC |
              O_NOCTTY);
    if (fd >= 0) {
        if (msg->write) {
            done = pwrite(fd, msg->data, len, msg->sector * 512);
        } else {
            buf = g_malloc(len);
            done = pread(fd, buf, len, msg->sector * 512);
        }
        close(fd);
    }
    if (done < 0) {
        g_message("backend %s: request at sector %" G_GUINT64_FORMAT
                  " failed: %s", dev->key, msg->sector, g_strerror(errno));
        return;
    }
    dev->counters[msg->write ? WR_REQ : RD_REQ]++;
    dev->counters[msg->write ? WR_SECT : RD_SECT] += msg->nsect;
    if (dev->stats_dir) {
        for (guint i = 0; i < G_N_ELEMENTS(xsim_vbd_counters); i++) {
            g_autofree char *path = g_build_filename(dev->stats_dir,
                                                     xsim_vbd_counters[i],
                                                     NULL);
            g_autofree char *text = g_strdup_printf(
                "%" G_GUINT64_FORMAT "\n", dev->counters[i]);

            g_file_set_contents(path, text, -1, NULL);
        }
    }
}


static gboolean
xsim_back_msg_dispatch(gpointer opaque)
{
    XsimBackMsg *msg = opaque;
    XsimBackends *be = msg->be;

    if (msg->io) {
        xsim_vbd_serve(be, msg);
        return G_SOURCE_REMOVE;
    }
    {
        /* The domain is gone: its devices hold nothing any more. */
        g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func(g_free);
        GHashTableIter iter;
        gpointer value;

        xsim_backdev_domain_keys(be, msg->domid, NULL, keys);
        for (guint i = 0; i < keys->len; i++)
            g_hash_table_remove(be->devs, keys->pdata[i]);
        g_mutex_lock(&be->lock);
        g_hash_table_iter_init(&iter, be->faults);
        while (g_hash_table_iter_next(&iter, NULL, &value)) {
            XsimBackFault *fault = value;

            if (fault->domid == msg->domid)
                g_hash_table_iter_remove(&iter);
        }
        g_mutex_unlock(&be->lock);
    }
    return G_SOURCE_REMOVE;
}

/* Not g_main_context_invoke(): it may run the function in our thread. */
static void
xsim_backends_post(XsimBackends *be,
                   XsimBackMsg *msg)
{
    GSource *source = g_idle_source_new();

    msg->be = be;
    g_source_set_callback(source, xsim_back_msg_dispatch, msg,
                          xsim_back_msg_free);
    g_source_attach(source, be->ctx);
    g_source_unref(source);
}

int
xsim_backends_fault(XsimBackends *be,
                    uint32_t domid,
                    const char *kind,
                    const char *device,
                    int seconds)
{
    g_auto(GStrv) parts = g_strsplit(device, "/", 0);
    g_autofree char *dkind = NULL;
    g_autofree char *path = NULL;
    uint32_t d, devid;
    XsimBackFault *fault;

    /* "KIND/DEVID": checked by the same parser as the real paths. */
    if (g_strv_length(parts) != 2)
        return EINVAL;
    path = g_strdup_printf(XSIM_BACKEND_ROOT "/%s/%u/%s", parts[0], domid,
                           parts[1]);
    if (!xsim_backend_path_parse(path, &dkind, &d, &devid))
        return EINVAL;
    fault = g_new0(XsimBackFault, 1);
    fault->domid = domid;
    fault->kill = g_str_equal(kind, "kill-backend");
    fault->delay = seconds;
    g_mutex_lock(&be->lock);
    g_hash_table_replace(be->faults,
                         g_strdup_printf("%s/%u/%u", dkind, domid, devid), fault);
    be->faults_pending = true;
    g_mutex_unlock(&be->lock);
    g_main_context_wakeup(be->ctx);
    return 0;
}

void
xsim_backends_domain_gone(XsimBackends *be,
                          uint32_t domid)
{
    XsimBackMsg *msg = g_new0(XsimBackMsg, 1);

    msg->domid = domid;
    xsim_backends_post(be, msg);
}

void
xsim_backends_guest_io(XsimBackends *be,
                       uint32_t domid,
                       uint32_t devid,
                       bool write,
                       guint64 sector,
                       guint nsect,
                       const void *data)
{
    XsimBackMsg *msg = g_new0(XsimBackMsg, 1);

    msg->io = true;
    msg->domid = domid;
    msg->devid = devid;
    msg->write = write;
    msg->sector = sector;
    msg->nsect = nsect;
    if (write)
        msg->data = g_memdup2(data, (gsize)nsect * 512);
    xsim_backends_post(be, msg);
}
