/*
 * xen_disk.c: disks, the "disk" list of xl.cfg and xm
 * (xl-disk-configuration(5)), read and written
 *
 * A spec is read in three steps: tokenising (flags, "key=value" items and
 * positional words), then the deprecated "[format:]target,vdev[:devtype],
 * access" form or the positional form that fills the key=value slots in
 * order, then one check of the result.  xm knows only the deprecated form.
 * The writer writes the key=value form for xl and the deprecated one for
 * xm.  The spec splitter is in xen_common.c; attaching and detaching a
 * disk at run time is in libxl_device.c, not here.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "xen_common_priv.h"
#include "libxl_conf.h"

#include "viralloc.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"
#include "storage_source_backingstore.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_disk");

/* ---------------------------------------------------------------------
 * disk (xl-disk-configuration(5)); xm knows only the deprecated syntax
 */

static const struct {
    const char *xen;
    virStorageFileFormat format;
} xvXenDiskFormats[] = {
    { "raw", VIR_STORAGE_FILE_RAW },
    { "qcow", VIR_STORAGE_FILE_QCOW },
    { "qcow2", VIR_STORAGE_FILE_QCOW2 },
    { "vhd", VIR_STORAGE_FILE_VPC },
    { "qed", VIR_STORAGE_FILE_QED },
};

static int
xvXenDiskFormatFromString(const char *str)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(xvXenDiskFormats); i++) {
        if (STREQ(str, xvXenDiskFormats[i].xen))
            return xvXenDiskFormats[i].format;
    }
    return -1;
}

static const char *
xvXenDiskFormatToString(int format)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(xvXenDiskFormats); i++) {
        if (xvXenDiskFormats[i].format == format)
            return xvXenDiskFormats[i].xen;
    }
    return NULL;
}

/* hdX and sdX with one or two letters, xvdX with up to three, optionally
 * followed by a partition number (xen-vbd-interface(7)); "d0p0"-style
 * numeric names are not accepted.  The bounds also keep the implicit
 * controllers libvirt adds for a disk's index to a sane number. */
static bool
xvXenIsVdev(const char *vdev)
{
    const char *c = vdev;
    size_t maxLetters = 2;
    size_t n;

    if (STRPREFIX(c, "xvd")) {
        c += 3;
        maxLetters = 3;
    } else if (STRPREFIX(c, "hd") || STRPREFIX(c, "sd")) {
        c += 2;
    } else {
        return false;
    }
    for (n = 0; g_ascii_islower(*c); n++)
        c++;
    if (n == 0 || n > maxLetters)
        return false;
    for (n = 0; g_ascii_isdigit(*c); n++)
        c++;
    return *c == '\0' && n <= 2;
}

/* Deprecated prefixes on the target ("phy:", "tap:aio:", "qcow2:"...):
 * formats are kept, the rest is dropped as xl does.  Returns the rest. */
static const char *
xvXenDiskStripPrefixes(const char *target, int *format, char **driver,
                       bool *hadPrefix)
{
    static const char *ignored[] = {
        "tapdisk:", "tap2:", "tap:", "aio:", "ioemu:", "file:", "phy:",
    };
    bool again = true;

    while (again) {
        size_t i;

        again = false;
        for (i = 0; i < G_N_ELEMENTS(ignored); i++) {
            if (STRPREFIX(target, ignored[i])) {
                if (!*driver) {
                    /* tapdisk: is a spelling of tap:; tap2: (blktap2)
                     * is kept as libvirt's driver name 'tap2'. */
                    if (STRPREFIX(ignored[i], "tap2"))
                        *driver = g_strdup("tap2");
                    else if (STRPREFIX(ignored[i], "tap"))
                        *driver = g_strdup("tap");
                    else
                        *driver = g_strndup(ignored[i], strlen(ignored[i]) - 1);
                }
                target += strlen(ignored[i]);
                *hadPrefix = again = true;
            }
        }
        for (i = 0; i < G_N_ELEMENTS(xvXenDiskFormats); i++) {
            size_t len = strlen(xvXenDiskFormats[i].xen);

            if (STRPREFIX(target, xvXenDiskFormats[i].xen) && target[len] == ':') {
                *format = xvXenDiskFormats[i].format;
                target += len + 1;
                *hadPrefix = again = true;
            }
        }
    }
    return target;
}

/*
 * One disk spec being read.  Tokenising applies the flags and keys as they
 * come and keeps the other bare words in order; one of the two positional
 * forms then fills the four slots the keys did not give.
 */
typedef struct {
    const char *spec;           /* the whole spec, for messages */
    unsigned int line;
    char *target;               /* the slots of the key=value form ... */
    char *format;
    char *vdev;
    char *access;
    bool targetSet, formatSet, vdevSet, accessSet;  /* ... and whether given */
    bool cdrom;
    char *driver;               /* libvirt's name, from backendtype or a prefix */
    char *positional[4];        /* bare words other than flags, in order */
    size_t npositional;
    bool deprecated;            /* "[format:]target,vdev[:devtype],access" */
} xvXenDiskSpec;

static void
xvXenDiskSpecClear(xvXenDiskSpec *s)
{
    size_t i;

    g_free(s->target);
    g_free(s->format);
    g_free(s->vdev);
    g_free(s->access);
    g_free(s->driver);
    for (i = 0; i < s->npositional; i++)
        g_free(s->positional[i]);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(xvXenDiskSpec, xvXenDiskSpecClear);

static void
xvXenDiskSpecFill(char **slot, bool *set, const char *value)
{
    g_free(*slot);
    *slot = g_strdup(value);
    *set = true;
}

/* A bare word: a flag (xl only) or a positional parameter. */
static int
xvXenDiskSpecWord(xvXenParser *p, xvXenDiskSpec *s, virDomainDiskDef *disk,
                  const char *v)
{
    bool xl = p->format == XV_XEN_FORMAT_XL;

    if (STREQ(v, "cdrom") && xl) {
        s->cdrom = true;
    } else if ((STREQ(v, "discard") || STREQ(v, "no-discard")) && xl) {
        disk->discard = STREQ(v, "discard") ? VIR_DOMAIN_DISK_DISCARD_UNMAP
                                            : VIR_DOMAIN_DISK_DISCARD_IGNORE;
    } else if (STREQ(v, "direct-io-safe") && xl) {
        disk->cachemode = VIR_DOMAIN_DISK_CACHE_DISABLE;
    } else if (STREQ(v, "trusted") && xl) {
        /* the default */
    } else if (STREQ(v, "untrusted") || STREQ(v, "colo")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: disk spec '%s': flag '%s' cannot be expressed in a domain XML"),
                       s->line, s->spec, v);
        return -1;
    } else if (s->npositional < G_N_ELEMENTS(s->positional)) {
        s->positional[s->npositional++] = g_strdup(v);
    } else if (!*v) {
        /* An empty item past the four positions says nothing (libvirt's
         * own test data writes '/path,,hdb,,'). */
    } else {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: disk spec '%s': too many positional parameters at '%s'"),
                       s->line, s->spec, v);
        return -1;
    }
    return 0;
}

/* A "key=value" item (xl only). */
static int
xvXenDiskSpecKey(xvXenParser *p, xvXenDiskSpec *s, virDomainDiskDef *disk,
                 const char *k, const char *v)
{
    if (p->format != XV_XEN_FORMAT_XL) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: disk spec '%s': key '%s' is not valid in the xm syntax"),
                       s->line, s->spec, k);
        return -1;
    }
    if (STREQ(k, "target")) {
        xvXenDiskSpecFill(&s->target, &s->targetSet, v);
    } else if (STREQ(k, "format")) {
        xvXenDiskSpecFill(&s->format, &s->formatSet, v);
    } else if (STREQ(k, "vdev")) {
        xvXenDiskSpecFill(&s->vdev, &s->vdevSet, v);
    } else if (STREQ(k, "access")) {
        xvXenDiskSpecFill(&s->access, &s->accessSet, v);
    } else if (STREQ(k, "devtype")) {
        if (STRNEQ(v, "cdrom") && STRNEQ(v, "disk")) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: disk spec '%s': devtype '%s' is not supported"),
                           s->line, s->spec, v);
            return -1;
        }
        s->cdrom = STREQ(v, "cdrom");
    } else if (STREQ(k, "backendtype")) {
        g_clear_pointer(&s->driver, g_free);
        if (STREQ(v, "phy"))
            s->driver = g_strdup("phy");
        else if (STREQ(v, "qdisk"))
            s->driver = g_strdup("qemu");
        else if (STREQ(v, "tap"))
            s->driver = g_strdup("tap");
        else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: disk spec '%s': backendtype '%s' is not supported"),
                           s->line, s->spec, v);
            return -1;
        }
    } else if (STREQ(k, "backend")) {
        g_free(disk->domain_name);
        disk->domain_name = g_strdup(v);
    } else if (STREQ(k, "specification")) {
        if (STREQ(v, "virtio")) {
            disk->bus = VIR_DOMAIN_DISK_BUS_VIRTIO;
        } else if (STRNEQ(v, "xen")) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: disk spec '%s': specification '%s' is not supported"),
                           s->line, s->spec, v);
            return -1;
        }
    } else if (STREQ(k, "script")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: disk spec '%s': a block script ('script=%s') cannot be expressed in a domain XML"),
                       s->line, s->spec, v);
        return -1;
    } else {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: disk spec '%s': unknown key '%s'"),
                       s->line, s->spec, k);
        return -1;
    }
    return 0;
}

/* Tokenising: in xl, "target=" takes the rest of the spec, commas and all. */
static int
xvXenDiskSpecTokenize(xvXenParser *p, xvXenDiskSpec *s, virDomainDiskDef *disk)
{
    g_autoptr(GPtrArray) items = xvXenSpecSplit(s->spec, p->format == XV_XEN_FORMAT_XL);
    size_t i;

    for (i = 0; i < items->len; i++) {
        xvXenSpecItem *item = g_ptr_array_index(items, i);

        if (item->key) {
            if (xvXenDiskSpecKey(p, s, disk, item->key, item->value) < 0)
                return -1;
        } else if (xvXenDiskSpecWord(p, s, disk, item->value) < 0) {
            return -1;
        }
    }
    return 0;
}

/* The deprecated form is told from the positional one by its second word,
 * a vdev; xm knows only the deprecated form. */
static bool
xvXenDiskSpecIsDeprecated(xvXenParser *p, xvXenDiskSpec *s)
{
    const char *second = s->positional[1];

    if (s->npositional < 2)
        return false;
    return p->format == XV_XEN_FORMAT_XM ||
           xvXenIsVdev(second) || STRPREFIX(second, "ioemu:") ||
           strchr(second, ':');
}

/* The deprecated form: "[format:]target,vdev[:devtype][,access]". */
static int
xvXenDiskSpecDeprecated(xvXenDiskSpec *s)
{
    const char *vdev = s->positional[1];
    char *colon;

    if (s->npositional > 3) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: disk spec '%s': too many parameters for the 'target,vdev,access' syntax"),
                       s->line, s->spec);
        return -1;
    }
    if (STRPREFIX(vdev, "ioemu:"))
        vdev += strlen("ioemu:");
    if (!s->targetSet)
        xvXenDiskSpecFill(&s->target, &s->targetSet, s->positional[0]);
    if (!s->vdevSet)
        xvXenDiskSpecFill(&s->vdev, &s->vdevSet, vdev);
    if ((colon = strchr(s->vdev, ':'))) {
        if (STREQ(colon, ":cdrom")) {
            s->cdrom = true;
        } else if (STRNEQ(colon, ":disk")) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: disk spec '%s': device type '%s' is not supported"),
                           s->line, s->spec, colon + 1);
            return -1;
        }
        *colon = '\0';
    }
    if (s->npositional == 3 && !s->accessSet)
        xvXenDiskSpecFill(&s->access, &s->accessSet, s->positional[2]);
    return 0;
}

/* The positional form: the bare words fill the slots no key gave, in the
 * order target, format, vdev, access. */
static int
xvXenDiskSpecPositional(xvXenDiskSpec *s)
{
    char **slot[] = { &s->target, &s->format, &s->vdev, &s->access };
    bool *set[] = { &s->targetSet, &s->formatSet, &s->vdevSet, &s->accessSet };
    size_t i;
    size_t j;

    for (i = 0; i < s->npositional; i++) {
        for (j = 0; j < G_N_ELEMENTS(slot); j++) {
            if (!*set[j])
                break;
        }
        if (j == G_N_ELEMENTS(slot)) {
            virReportError(VIR_ERR_CONF_SYNTAX,
                           _("line %u: disk spec '%s': '%s' repeats a parameter already given"),
                           s->line, s->spec, s->positional[i]);
            return -1;
        }
        xvXenDiskSpecFill(slot[j], set[j], s->positional[i]);
    }
    return 0;
}

/* The target without its deprecated prefixes, and its format. */
static int
xvXenDiskSpecTarget(xvXenParser *p, xvXenDiskSpec *s, const char **target,
                    int *format)
{
    bool hadPrefix = false;

    *target = xvXenDiskStripPrefixes(s->target ? s->target : "", format,
                                     &s->driver, &hadPrefix);
    if (hadPrefix && !s->deprecated && p->format == XV_XEN_FORMAT_XL &&
        s->driver && STRNEQ(s->driver, "tap")) {
        /* "phy:" etc. are ignored by xl (xl-disk-configuration(5)). */
        g_clear_pointer(&s->driver, g_free);
    }
    if (p->format == XV_XEN_FORMAT_XL && s->driver &&
        (STREQ(s->driver, "file") || STREQ(s->driver, "aio") || STREQ(s->driver, "ioemu")))
        g_clear_pointer(&s->driver, g_free);
    if (s->driver && (STREQ(s->driver, "aio") || STREQ(s->driver, "ioemu")))
        g_clear_pointer(&s->driver, g_free);

    if (s->format && *s->format) {
        if ((*format = xvXenDiskFormatFromString(s->format)) < 0) {
            if (STREQ(s->format, "empty")) {
                *format = VIR_STORAGE_FILE_NONE;
                *target = "";
            } else {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: disk spec '%s': unknown format '%s'"),
                               s->line, s->spec, s->format);
                return -1;
            }
        }
    }
    return 0;
}

/* The vdev, and the bus it implies unless the spec named one. */
static int
xvXenDiskSpecVdev(xvXenDiskSpec *s, virDomainDiskDef *disk)
{
    if (!s->vdev || !*s->vdev) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: disk spec '%s': no vdev"), s->line, s->spec);
        return -1;
    }
    if (!xvXenIsVdev(s->vdev)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: disk spec '%s': vdev '%s' is not supported, expected hdX, sdX or xvdX"),
                       s->line, s->spec, s->vdev);
        return -1;
    }
    disk->dst = g_strdup(s->vdev);
    if (disk->bus == VIR_DOMAIN_DISK_BUS_NONE) {
        if (STRPREFIX(s->vdev, "hd"))
            disk->bus = VIR_DOMAIN_DISK_BUS_IDE;
        else if (STRPREFIX(s->vdev, "sd"))
            disk->bus = VIR_DOMAIN_DISK_BUS_SCSI;
        else
            disk->bus = VIR_DOMAIN_DISK_BUS_XEN;
    }
    return 0;
}

/* The device type and the access: a cdrom is read-only. */
static int
xvXenDiskSpecAccess(xvXenParser *p, xvXenDiskSpec *s, virDomainDiskDef *disk)
{
    const char *access = s->access;

    disk->device = s->cdrom ? VIR_DOMAIN_DISK_DEVICE_CDROM : VIR_DOMAIN_DISK_DEVICE_DISK;
    if (!access || !*access) {
        if (s->cdrom)
            disk->src->readonly = true;
        return 0;
    }
    if (STREQ(access, "r") || STREQ(access, "ro")) {
        disk->src->readonly = true;
    } else if (s->cdrom && (STREQ(access, "w") || STREQ(access, "rw") ||
                            STREQ(access, "w!"))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: disk spec '%s': a cdrom cannot be writable"),
                       s->line, s->spec);
        return -1;
    } else if (STREQ(access, "w!") && p->format == XV_XEN_FORMAT_XM) {
        disk->src->shared = true;
    } else if (STRNEQ(access, "w") && STRNEQ(access, "rw")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: disk spec '%s': unknown access '%s', expected 'r', 'ro', 'w' or 'rw'"),
                       s->line, s->spec, access);
        return -1;
    }
    return 0;
}

/* The source: a file or a block device; only a cdrom may be empty. */
static int
xvXenDiskSpecSource(xvXenDiskSpec *s, virDomainDiskDef *disk,
                    const char *target, int format)
{
    if (*target && (g_ascii_isspace(target[0]) ||
                    g_ascii_isspace(target[strlen(target) - 1]))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: disk spec '%s': target '%s' begins or ends with blanks, which a domain XML does not keep"),
                       s->line, s->spec, target);
        return -1;
    }
    if (STRPREFIX(target, "rbd:")) {
        /* A Ceph RBD image, in QEMU's syntax (xl's backslashes escape). */
        g_autofree char *rbd = virStringReplace(target, "\\\\", "\\");

        virDomainDiskSetType(disk, VIR_STORAGE_TYPE_NETWORK);
        disk->src->protocol = VIR_STORAGE_NET_PROTOCOL_RBD;
        if (virStorageSourceParseRBDColonString(rbd, disk->src) < 0)
            return -1;
        if (format != VIR_STORAGE_FILE_NONE)
            virDomainDiskSetFormat(disk, format);
    } else if (*target) {
        virDomainDiskSetSource(disk, target);
        virDomainDiskSetType(disk, STRPREFIX(target, "/dev/") ? VIR_STORAGE_TYPE_BLOCK
                                                              : VIR_STORAGE_TYPE_FILE);
        if (format != VIR_STORAGE_FILE_NONE)
            virDomainDiskSetFormat(disk, format);
    } else if (!s->cdrom) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: disk spec '%s': no target (only a cdrom may be empty)"),
                       s->line, s->spec);
        return -1;
    } else {
        virDomainDiskSetType(disk, VIR_STORAGE_TYPE_FILE);
    }
    return 0;
}

static virDomainDiskDef *
xvXenParseDisk(xvXenParser *p, const char *spec)
{
    g_auto(xvXenDiskSpec) s = { .spec = spec, .line = xvXenLineOf(p, "disk", spec) };
    g_autoptr(virDomainDiskDef) disk = virDomainDiskDefNew(p->xmlopt);
    const char *target = NULL;
    int format = VIR_STORAGE_FILE_NONE;

    if (!disk)
        return NULL;
    if (xvXenDiskSpecTokenize(p, &s, disk) < 0)
        return NULL;
    s.deprecated = xvXenDiskSpecIsDeprecated(p, &s);
    if ((s.deprecated ? xvXenDiskSpecDeprecated(&s) : xvXenDiskSpecPositional(&s)) < 0)
        return NULL;
    if (xvXenDiskSpecTarget(p, &s, &target, &format) < 0 ||
        xvXenDiskSpecVdev(&s, disk) < 0 ||
        xvXenDiskSpecAccess(p, &s, disk) < 0 ||
        xvXenDiskSpecSource(&s, disk, target, format) < 0)
        return NULL;
    if (s.driver)
        virDomainDiskSetDriver(disk, s.driver);
    return g_steal_pointer(&disk);
}

int
xvXenParseDiskList(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) disks = NULL;
    size_t i;
    int rc;

    if ((rc = xvXenGetStringList(p, "disk", false, &disks)) <= 0)
        return rc;
    for (i = 0; disks[i]; i++) {
        virDomainDiskDef *disk = xvXenParseDisk(p, disks[i]);

        if (!disk)
            return -1;
        /* In the order the XML parser keeps, so that a round trip is stable. */
        virDomainDiskInsert(def, disk);
    }
    return 0;
}

/* What a disk of a domain XML may be to be written; *@format is the
 * Xen name of its format, or NULL. */
static int
xvXenFormatDiskCheck(xvXenWriter *w, virDomainDiskDef *disk, const char **format)
{
    const char *driver = virDomainDiskGetDriver(disk);
    int type = virDomainDiskGetType(disk);
    int fmt = virDomainDiskGetFormat(disk);
    bool cdrom = disk->device == VIR_DOMAIN_DISK_DEVICE_CDROM;

    if (disk->device != VIR_DOMAIN_DISK_DEVICE_DISK && !cdrom) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': device '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, virDomainDiskDeviceTypeToString(disk->device));
        return -1;
    }
    if (type == VIR_STORAGE_TYPE_NETWORK && w->format == XV_XEN_FORMAT_XL &&
        disk->src->protocol == VIR_STORAGE_NET_PROTOCOL_RBD &&
        STREQ_NULLABLE(driver, "qemu")) {
        /* written as QEMU's rbd: source string */
    } else if (type != VIR_STORAGE_TYPE_FILE && type != VIR_STORAGE_TYPE_BLOCK) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': source type '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, virStorageTypeToString(type));
        return -1;
    }
    if (!xvXenIsVdev(disk->dst)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk target '%s' cannot be expressed in a Xen configuration, expected hdX, sdX or xvdX"),
                       disk->dst);
        return -1;
    }
    if (fmt != VIR_STORAGE_FILE_NONE && !(*format = xvXenDiskFormatToString(fmt))) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': format '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, virStorageFileFormatTypeToString(fmt));
        return -1;
    }
    if (disk->bus != VIR_DOMAIN_DISK_BUS_XEN && disk->bus != VIR_DOMAIN_DISK_BUS_IDE &&
        disk->bus != VIR_DOMAIN_DISK_BUS_SCSI && disk->bus != VIR_DOMAIN_DISK_BUS_NONE &&
        (disk->bus != VIR_DOMAIN_DISK_BUS_VIRTIO || w->format != XV_XEN_FORMAT_XL)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': bus '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, virDomainDiskBusTypeToString(disk->bus));
        return -1;
    }
    if ((disk->cachemode != VIR_DOMAIN_DISK_CACHE_DEFAULT &&
         disk->cachemode != VIR_DOMAIN_DISK_CACHE_DISABLE) ||
        (disk->discard != VIR_DOMAIN_DISK_DISCARD_DEFAULT && w->format != XV_XEN_FORMAT_XL) ||
        (disk->cachemode != VIR_DOMAIN_DISK_CACHE_DEFAULT && w->format != XV_XEN_FORMAT_XL)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': this cache or discard mode cannot be expressed in a Xen configuration"),
                       disk->dst);
        return -1;
    }
    if (driver && STRNEQ(driver, "phy") && STRNEQ(driver, "qemu") &&
        STRNEQ(driver, "tap") && STRNEQ(driver, "tap2") && STRNEQ(driver, "file")) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': driver '%s' cannot be expressed in a Xen configuration"),
                       disk->dst, driver);
        return -1;
    }
    if (disk->src->shared && w->format == XV_XEN_FORMAT_XL) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("disk '%s': a shareable disk cannot be expressed in the xen-xl format"),
                       disk->dst);
        return -1;
    }
    return 0;
}

/* xm: "[prefix:][format:]target,vdev[:cdrom],access", the deprecated form. */
static int
xvXenFormatDiskXM(virDomainDiskDef *disk, const char *format, virBuffer *buf)
{
    const char *src = virDomainDiskGetSource(disk);
    const char *driver = virDomainDiskGetDriver(disk);
    bool cdrom = disk->device == VIR_DOMAIN_DISK_DEVICE_CDROM;

    if (src) {
        if (driver && (STREQ(driver, "tap") || STREQ(driver, "tap2")))
            virBufferAsprintf(buf, "%s:%s:", driver,
                              format && STRNEQ(format, "raw") ? format : "aio");
        else if (driver && STREQ(driver, "phy"))
            virBufferAddLit(buf, "phy:");
        else if (driver && STREQ(driver, "file"))
            virBufferAddLit(buf, "file:");
        else if (format && STRNEQ(format, "raw"))
            virBufferAsprintf(buf, "%s:", format);
        if (strchr(src, ',')) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("disk '%s': source '%s' has a comma, which the xen-xm format cannot express"),
                           disk->dst, src);
            return -1;
        }
        virBufferAdd(buf, src, -1);
    }
    virBufferAsprintf(buf, ",%s%s,%s", disk->dst, cdrom ? ":cdrom" : "",
                      disk->src->readonly ? "r" : disk->src->shared ? "w!" : "w");
    return 0;
}

static int
xvXenFormatDisk(xvXenWriter *w, virDomainDiskDef *disk, GPtrArray *out)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    const char *src = virDomainDiskGetSource(disk);
    const char *driver = virDomainDiskGetDriver(disk);
    const char *format = NULL;
    bool cdrom = disk->device == VIR_DOMAIN_DISK_DEVICE_CDROM;
    g_autofree char *network = NULL;

    if (xvXenFormatDiskCheck(w, disk, &format) < 0)
        return -1;
    if (virDomainDiskGetType(disk) == VIR_STORAGE_TYPE_NETWORK) {
        g_autofree char *qemu = xvNetworkDiskSource(disk->src);

        if (!qemu)
            return -1;
        network = virStringReplace(qemu, "\\", "\\\\");
        src = network;
    }

    if (w->format == XV_XEN_FORMAT_XM) {
        if (xvXenFormatDiskXM(disk, format, &buf) < 0)
            return -1;
        g_ptr_array_add(out, virBufferContentAndReset(&buf));
        return 0;
    }

    /* xl: the key=value form, "target=" last as it takes the rest. */
    if (format && src)
        virBufferAsprintf(&buf, "format=%s,", format);
    virBufferAsprintf(&buf, "vdev=%s,access=%s", disk->dst,
                      disk->src->readonly ? "ro" : "rw");
    if (cdrom)
        virBufferAddLit(&buf, ",devtype=cdrom");
    if (driver && STREQ(driver, "phy"))
        virBufferAddLit(&buf, ",backendtype=phy");
    else if (driver && STREQ(driver, "qemu"))
        virBufferAddLit(&buf, ",backendtype=qdisk");
    else if (driver && (STREQ(driver, "tap") || STREQ(driver, "tap2")))
        virBufferAddLit(&buf, ",backendtype=tap");
    if (disk->domain_name)
        virBufferAsprintf(&buf, ",backend=%s", disk->domain_name);
    if (disk->bus == VIR_DOMAIN_DISK_BUS_VIRTIO)
        virBufferAddLit(&buf, ",specification=virtio");
    if (disk->discard == VIR_DOMAIN_DISK_DISCARD_UNMAP)
        virBufferAddLit(&buf, ",discard");
    else if (disk->discard == VIR_DOMAIN_DISK_DISCARD_IGNORE)
        virBufferAddLit(&buf, ",no-discard");
    if (disk->cachemode == VIR_DOMAIN_DISK_CACHE_DISABLE)
        virBufferAddLit(&buf, ",direct-io-safe");
    if (src)
        virBufferAsprintf(&buf, ",target=%s", src);
    g_ptr_array_add(out, virBufferContentAndReset(&buf));
    return 0;
}

int
xvXenFormatDiskList(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) disks = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        if (xvXenFormatDisk(w, def->disks[i], disks) < 0)
            return -1;
    }
    return xvXenSetStringList(w, "disk", disks);
}
