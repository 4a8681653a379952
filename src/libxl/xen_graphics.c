/*
 * xen_graphics.c: graphics and video: "vfb" specs (PV, PVH) or the
 * top-level graphics keys (HVM), and the HVM "vga", "stdvga" and
 * "videoram", read and written
 *
 * The vfb spec and the HVM keys take the same names, so one parser reads a
 * "key -> value" lookup of either and one writer writes a spec or keys.
 * Input devices and USB are in xen_sound_usb.c.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "xen_common_priv.h"

#include "viralloc.h"
#include "virerror.h"
#include "virlog.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.xen_graphics");

/* ---------------------------------------------------------------------
 * Graphics: vfb specs (PV, PVH) or top-level keys (HVM); both take the
 * same names, so one parser reads a "key -> value" lookup of either.
 */

typedef const char *(*xvXenLookup)(void *opaque, const char *key);

typedef struct {
    xvXenParser *p;
    GPtrArray *items;       /* of a vfb spec, or NULL for top-level keys */
    const char *spec;
    unsigned int line;
    bool failed;
} xvXenGfxSource;

static const char *
xvXenGfxGet(xvXenGfxSource *src, const char *key)
{
    size_t i;

    if (src->items) {
        const char *found = NULL;

        for (i = 0; i < src->items->len; i++) {
            xvXenSpecItem *item = g_ptr_array_index(src->items, i);

            if (item->key && STREQ(item->key, key))
                found = item->value;
        }
        return found && *found ? found : NULL;
    } else {
        virConfValue *val = virConfGetValue(src->p->conf, key);
        static __thread char num[32];

        if (!val)
            return NULL;
        g_hash_table_add(src->p->used, g_strdup(key));
        if (val->type == VIR_CONF_STRING) {
            if (xvXenCheckText(src->p, key, val->str) < 0) {
                src->failed = true;
                return NULL;
            }
            return *val->str ? val->str : NULL;
        }
        if (val->type == VIR_CONF_ULLONG) {
            g_snprintf(num, sizeof(num), "%lld", val->l);
            return num;
        }
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: the value of '%s' must be a string or a number"),
                       xvXenLine(src->p, key), key);
        src->failed = true;
        return NULL;
    }
}

static int
xvXenGfxBool(xvXenGfxSource *src, const char *key, int *value)
{
    const char *v = xvXenGfxGet(src, key);

    if (src->failed)
        return -1;
    if (!v)
        return 0;
    if (STRNEQ(v, "0") && STRNEQ(v, "1")) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: '%s' must be 0 or 1, not '%s'"),
                       src->items ? src->line : xvXenLine(src->p, key), key, v);
        return -1;
    }
    *value = STREQ(v, "1");
    return 1;
}

static int
xvXenGfxUInt(xvXenGfxSource *src, const char *key, unsigned int max,
             unsigned int *value)
{
    const char *v = xvXenGfxGet(src, key);

    if (src->failed)
        return -1;
    if (!v)
        return 0;
    if (virStrToLong_uip(v, NULL, 10, value) < 0 || *value > max) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: '%s' must be a number up to %u, not '%s'"),
                       src->items ? src->line : xvXenLine(src->p, key), key, max, v);
        return -1;
    }
    return 1;
}

/* A listen address: libvirt writes it into an attribute unescaped. */
static const char *
xvXenGfxListen(xvXenGfxSource *src, const char *key)
{
    const char *v = xvXenGfxGet(src, key);

    if (v && strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.:-_%") != strlen(v)) {
        virReportError(VIR_ERR_CONF_SYNTAX,
                       _("line %u: '%s' value '%s' is not a host name or address"),
                       src->items ? src->line : xvXenLine(src->p, key), key, v);
        src->failed = true;
        return NULL;
    }
    return v;
}

/* vnc, vncdisplay, vncunused, vnclisten, vncpasswd, keymap */
static int
xvXenParseVNC(xvXenGfxSource *src, virDomainDef *def)
{
    g_autoptr(virDomainGraphicsDef) gfx = virDomainGraphicsDefNew(src->p->xmlopt);
    unsigned int display = 0;
    int unused = -1;
    int rc;
    const char *v;

    if (!gfx)
        return -1;
    gfx->type = VIR_DOMAIN_GRAPHICS_TYPE_VNC;
    if ((rc = xvXenGfxUInt(src, "vncdisplay", 65535 - 5900, &display)) < 0 ||
        xvXenGfxBool(src, "vncunused", &unused) < 0)
        return -1;
    if (unused == 1 || (unused == -1 && rc == 0)) {
        gfx->data.vnc.autoport = true;
        gfx->data.vnc.port = -1;
    } else {
        gfx->data.vnc.port = 5900 + display;
    }
    /* Like the XML parser: a listen element even without address. */
    v = xvXenGfxListen(src, "vnclisten");
    if (src->failed || virDomainGraphicsListenAppendAddress(gfx, v) < 0)
        return -1;
    if ((v = xvXenGfxGet(src, "vncpasswd")) && *v)
        gfx->data.vnc.auth.passwd = g_strdup(v);
    if ((v = xvXenGfxGet(src, "keymap")))
        gfx->data.vnc.keymap = g_strdup(v);
    if (src->failed)
        return -1;
    VIR_APPEND_ELEMENT(def->graphics, def->ngraphics, gfx);
    return 0;
}

/* sdl, display, xauthority, opengl */
static int
xvXenParseSDL(xvXenGfxSource *src, virDomainDef *def)
{
    g_autoptr(virDomainGraphicsDef) gfx = virDomainGraphicsDefNew(src->p->xmlopt);
    int gl = -1;
    const char *v;

    if (!gfx)
        return -1;
    gfx->type = VIR_DOMAIN_GRAPHICS_TYPE_SDL;
    if ((v = xvXenGfxGet(src, "display")))
        gfx->data.sdl.display = g_strdup(v);
    if ((v = xvXenGfxGet(src, "xauthority")))
        gfx->data.sdl.xauth = g_strdup(v);
    if (xvXenGfxBool(src, "opengl", &gl) < 0)
        return -1;
    if (gl != -1)
        gfx->data.sdl.gl = gl ? VIR_TRISTATE_BOOL_YES : VIR_TRISTATE_BOOL_NO;
    if (src->failed)
        return -1;
    VIR_APPEND_ELEMENT(def->graphics, def->ngraphics, gfx);
    return 0;
}

/* spice and its keys (HVM, xl only): a password or no ticketing */
static int
xvXenParseSpice(xvXenGfxSource *src, virDomainDef *def)
{
    xvXenParser *p = src->p;
    g_autoptr(virDomainGraphicsDef) gfx = virDomainGraphicsDefNew(p->xmlopt);
    unsigned int port = 0;
    unsigned int tlsport = 0;
    int noticket = 0;
    const char *v;
    int b;

    if (!gfx)
        return -1;
    gfx->type = VIR_DOMAIN_GRAPHICS_TYPE_SPICE;
    v = xvXenGfxListen(src, "spicehost");
    if (src->failed || virDomainGraphicsListenAppendAddress(gfx, v) < 0)
        return -1;
    if (xvXenGfxUInt(src, "spiceport", 65535, &port) < 0 ||
        xvXenGfxUInt(src, "spicetls_port", 65535, &tlsport) < 0 ||
        xvXenGfxBool(src, "spicedisable_ticketing", &noticket) < 0)
        return -1;
    gfx->data.spice.port = port;
    gfx->data.spice.tlsPort = tlsport;
    gfx->data.spice.autoport = port == 0 && tlsport == 0;
    if ((v = xvXenGfxGet(src, "spicepasswd"))) {
        if (noticket) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: 'spicepasswd' contradicts 'spicedisable_ticketing = 1'"),
                           xvXenLine(p, "spicepasswd"));
            return -1;
        }
        gfx->data.spice.auth.passwd = g_strdup(v);
    } else if (!noticket) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: spice needs 'spicepasswd' or 'spicedisable_ticketing = 1'"),
                       xvXenLine(p, "spice"));
        return -1;
    }
    b = -1;
    if (xvXenGfxBool(src, "spiceagent_mouse", &b) < 0)
        return -1;
    if (b != -1)
        gfx->data.spice.mousemode = b ? VIR_DOMAIN_MOUSE_MODE_CLIENT
                                      : VIR_DOMAIN_MOUSE_MODE_SERVER;
    /* The agent is what client mouse mode and clipboard sharing need: it
     * follows from them.  Sharing is off unless asked, as in xl. */
    b = -1;
    if (xvXenGfxBool(src, "spicevdagent", &b) < 0)
        return -1;
    b = -1;
    if (xvXenGfxBool(src, "spice_clipboard_sharing", &b) < 0)
        return -1;
    gfx->data.spice.copypaste = b == 1 ? VIR_TRISTATE_BOOL_YES : VIR_TRISTATE_BOOL_NO;
    VIR_APPEND_ELEMENT(def->graphics, def->ngraphics, gfx);
    return 0;
}

static int
xvXenParseGraphics(xvXenGfxSource *src, virDomainDef *def)
{
    xvXenParser *p = src->p;
    int vnc = 0;
    int sdl = 0;
    int spice = 0;

    if (xvXenGfxBool(src, "vnc", &vnc) < 0 ||
        xvXenGfxBool(src, "sdl", &sdl) < 0)
        return -1;
    if (!src->items && def->os.type == VIR_DOMAIN_OSTYPE_HVM &&
        p->format == XV_XEN_FORMAT_XL && xvXenGfxBool(src, "spice", &spice) < 0)
        return -1;

    if (vnc && xvXenParseVNC(src, def) < 0)
        return -1;
    if (sdl && xvXenParseSDL(src, def) < 0)
        return -1;
    if (spice && xvXenParseSpice(src, def) < 0)
        return -1;
    return 0;
}

int
xvXenParseVfbList(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) list = NULL;
    size_t i;
    int rc;

    if (def->os.type == VIR_DOMAIN_OSTYPE_HVM) {
        xvXenGfxSource src = { .p = p };

        return xvXenParseGraphics(&src, def);
    }

    if ((rc = xvXenGetStringList(p, "vfb", false, &list)) <= 0)
        return rc;
    for (i = 0; list[i]; i++) {
        g_autoptr(GPtrArray) items = xvXenSpecSplit(list[i], false);
        xvXenGfxSource src = { .p = p, .items = items, .spec = list[i],
                               .line = xvXenLineOf(p, "vfb", list[i]) };
        const char *known[] = { "vnc", "sdl", "vncdisplay", "vncunused",
                                "vnclisten", "vncpasswd", "keymap",
                                "display", "xauthority", "opengl" };
        size_t j;
        size_t k;

        for (j = 0; j < items->len; j++) {
            xvXenSpecItem *item = g_ptr_array_index(items, j);

            /* xend's "type=vnc" / "type=sdl" is xl's "vnc=1" / "sdl=1". */
            if (item->key && STREQ(item->key, "type") &&
                (STREQ(item->value, "vnc") || STREQ(item->value, "sdl"))) {
                g_free(item->key);
                item->key = g_strdup(item->value);
                g_free(item->value);
                item->value = g_strdup("1");
            }
            for (k = 0; k < G_N_ELEMENTS(known); k++) {
                if (item->key && STREQ(item->key, known[k]))
                    break;
            }
            if (k == G_N_ELEMENTS(known) && (item->key || *item->value)) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: vfb spec '%s': '%s' is not supported"),
                               src.line, list[i], item->key ? item->key : item->value);
                return -1;
            }
        }
        if (xvXenParseGraphics(&src, def) < 0)
            return -1;
    }

    /* A vfb is the Xen PV framebuffer, whatever the PVH default is. */
    if (def->ngraphics > 0 && def->nvideos == 0) {
        virDomainVideoDef *video = virDomainVideoDefNew(p->xmlopt);

        if (!video)
            return -1;
        video->type = VIR_DOMAIN_VIDEO_TYPE_XEN;
        video->heads = 1;
        video->primary = true;
        VIR_APPEND_ELEMENT(def->videos, def->nvideos, video);
    }
    return 0;
}

int
xvXenParseVideo(xvXenParser *p, virDomainDef *def)
{
    const char *vga = NULL;
    bool stdvga = false;
    unsigned long long videoram = 0;
    g_autoptr(virDomainVideoDef) video = NULL;
    int type = -1;
    int rc;

    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        return 0;
    if (xvXenGetBool(p, "stdvga", &stdvga) < 0 ||
        (p->format == XV_XEN_FORMAT_XL && xvXenGetString(p, "vga", &vga) < 0) ||
        (rc = xvXenGetULLong(p, "videoram", &videoram)) < 0)
        return -1;

    if (vga) {
        if (STREQ(vga, "stdvga"))
            type = VIR_DOMAIN_VIDEO_TYPE_VGA;
        else if (STREQ(vga, "cirrus"))
            type = VIR_DOMAIN_VIDEO_TYPE_CIRRUS;
        else if (STREQ(vga, "qxl"))
            type = VIR_DOMAIN_VIDEO_TYPE_QXL;
        else if (STREQ(vga, "none"))
            type = VIR_DOMAIN_VIDEO_TYPE_NONE;
        else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: unknown 'vga' value '%s'"),
                           xvXenLine(p, "vga"), vga);
            return -1;
        }
    } else if (stdvga) {
        type = VIR_DOMAIN_VIDEO_TYPE_VGA;
    }
    if (type < 0 && rc == 0)
        return 0;
    if (type < 0)
        type = VIR_DOMAIN_VIDEO_TYPE_CIRRUS;
    if (videoram > UINT_MAX / 1024) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("line %u: 'videoram' %llu is out of range"),
                       xvXenLine(p, "videoram"), videoram);
        return -1;
    }
    if (!(video = virDomainVideoDefNew(p->xmlopt)))
        return -1;
    video->type = type;
    video->vram = videoram * 1024;
    video->heads = 1;
    video->primary = true;
    VIR_APPEND_ELEMENT(def->videos, def->nvideos, video);
    return 0;
}

/* ---------------------------------------------------------------------
 * Writing
 */

/*
 * The graphics writers write keys (HVM) or append ",key=value" to a vfb
 * spec (PV, PVH), through these two.
 */
#define XV_GFX_SET_STR(key, val) \
    do { \
        if (hvm) { \
            if (xvXenSetString(w, key, val) < 0) \
                return -1; \
        } else { \
            virBufferAsprintf(spec, ",%s=%s", key, val); \
        } \
    } while (0)
#define XV_GFX_SET_NUM(key, val) \
    do { \
        if (hvm) { \
            if (xvXenSetULLong(w, key, val) < 0) \
                return -1; \
        } else { \
            virBufferAsprintf(spec, ",%s=%llu", key, (unsigned long long) (val)); \
        } \
    } while (0)

static int
xvXenFormatVNC(xvXenWriter *w, virDomainGraphicsDef *gfx, bool hvm,
               const char *listen, virBuffer *spec)
{
    XV_GFX_SET_NUM("vnc", 1);
    if (gfx->data.vnc.autoport || gfx->data.vnc.port < 5900) {
        XV_GFX_SET_NUM("vncunused", 1);
    } else {
        XV_GFX_SET_NUM("vncdisplay", gfx->data.vnc.port - 5900);
        XV_GFX_SET_NUM("vncunused", 0);
    }
    if (listen)
        XV_GFX_SET_STR("vnclisten", listen);
    if (gfx->data.vnc.auth.passwd)
        XV_GFX_SET_STR("vncpasswd", gfx->data.vnc.auth.passwd);
    if (gfx->data.vnc.keymap)
        XV_GFX_SET_STR("keymap", gfx->data.vnc.keymap);
    return 0;
}

static int
xvXenFormatSDL(xvXenWriter *w, virDomainGraphicsDef *gfx, bool hvm,
               virBuffer *spec)
{
    XV_GFX_SET_NUM("sdl", 1);
    if (gfx->data.sdl.display)
        XV_GFX_SET_STR("display", gfx->data.sdl.display);
    if (gfx->data.sdl.xauth)
        XV_GFX_SET_STR("xauthority", gfx->data.sdl.xauth);
    if (gfx->data.sdl.gl != VIR_TRISTATE_BOOL_ABSENT)
        XV_GFX_SET_NUM("opengl", gfx->data.sdl.gl == VIR_TRISTATE_BOOL_YES);
    if (gfx->data.sdl.fullscreen) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("full-screen SDL graphics cannot be expressed in a Xen configuration"));
        return -1;
    }
    return 0;
}

static int
xvXenFormatSpice(xvXenWriter *w, virDomainGraphicsDef *gfx, bool hvm,
                 const char *listen, virBuffer *spec)
{
    if (!hvm || w->format != XV_XEN_FORMAT_XL) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("spice graphics can only be expressed for HVM guests in the xen-xl format"));
        return -1;
    }
    XV_GFX_SET_NUM("spice", 1);
    if (listen)
        XV_GFX_SET_STR("spicehost", listen);
    if (gfx->data.spice.port > 0)
        XV_GFX_SET_NUM("spiceport", gfx->data.spice.port);
    if (gfx->data.spice.tlsPort > 0)
        XV_GFX_SET_NUM("spicetls_port", gfx->data.spice.tlsPort);
    if (gfx->data.spice.auth.passwd) {
        XV_GFX_SET_NUM("spicedisable_ticketing", 0);
        XV_GFX_SET_STR("spicepasswd", gfx->data.spice.auth.passwd);
    } else {
        XV_GFX_SET_NUM("spicedisable_ticketing", 1);
    }
    if (gfx->data.spice.mousemode)
        XV_GFX_SET_NUM("spiceagent_mouse",
                       gfx->data.spice.mousemode == VIR_DOMAIN_MOUSE_MODE_CLIENT);
    if (gfx->data.spice.copypaste)
        XV_GFX_SET_NUM("spice_clipboard_sharing",
                       gfx->data.spice.copypaste == VIR_TRISTATE_BOOL_YES);
    if (gfx->data.spice.mousemode == VIR_DOMAIN_MOUSE_MODE_CLIENT ||
        gfx->data.spice.copypaste == VIR_TRISTATE_BOOL_YES)
        XV_GFX_SET_NUM("spicevdagent", 1);
    return 0;
}

#undef XV_GFX_SET_STR
#undef XV_GFX_SET_NUM

static int
xvXenFormatGraphicsSpec(xvXenWriter *w, virDomainGraphicsDef *gfx, bool hvm,
                        virBuffer *spec)
{
    const char *listen = NULL;
    virDomainGraphicsListenDef *l = virDomainGraphicsGetListen(gfx, 0);

    if (gfx->nListens > 1 ||
        (l && l->type != VIR_DOMAIN_GRAPHICS_LISTEN_TYPE_ADDRESS)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                       _("graphics can only listen on one address in a Xen configuration"));
        return -1;
    }
    if (l)
        listen = l->address;

    switch (gfx->type) {
    case VIR_DOMAIN_GRAPHICS_TYPE_VNC:
        return xvXenFormatVNC(w, gfx, hvm, listen, spec);
    case VIR_DOMAIN_GRAPHICS_TYPE_SDL:
        return xvXenFormatSDL(w, gfx, hvm, spec);
    case VIR_DOMAIN_GRAPHICS_TYPE_SPICE:
        return xvXenFormatSpice(w, gfx, hvm, listen, spec);
    default:
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("graphics type '%s' cannot be expressed in a Xen configuration"),
                       virDomainGraphicsTypeToString(gfx->type));
        return -1;
    }
}

/* "vga" (xl) or "stdvga" (xm) and "videoram": one HVM video device. */
static int
xvXenFormatVideo(xvXenWriter *w, virDomainDef *def)
{
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    size_t i;

    for (i = 0; i < def->nvideos; i++) {
        virDomainVideoDef *v = def->videos[i];
        const char *vga = NULL;

        if (!hvm) {
            if (v->type != VIR_DOMAIN_VIDEO_TYPE_XEN) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("video model '%s' is only valid for HVM guests"),
                               virDomainVideoTypeToString(v->type));
                return -1;
            }
            continue;
        }
        if (i > 0) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("an HVM guest can have one video device in a Xen configuration"));
            return -1;
        }
        switch (v->type) {
        case VIR_DOMAIN_VIDEO_TYPE_VGA:
            vga = "stdvga";
            break;
        case VIR_DOMAIN_VIDEO_TYPE_CIRRUS:
            vga = "cirrus";
            break;
        case VIR_DOMAIN_VIDEO_TYPE_QXL:
            vga = "qxl";
            break;
        case VIR_DOMAIN_VIDEO_TYPE_NONE:
            vga = "none";
            break;
        default:
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("video model '%s' cannot be expressed in a Xen configuration"),
                           virDomainVideoTypeToString(v->type));
            return -1;
        }
        if (w->format == XV_XEN_FORMAT_XL) {
            if (xvXenSetString(w, "vga", vga) < 0)
                return -1;
        } else if (v->type == VIR_DOMAIN_VIDEO_TYPE_VGA) {
            if (xvXenSetULLong(w, "stdvga", 1) < 0)
                return -1;
        } else if (v->type != VIR_DOMAIN_VIDEO_TYPE_CIRRUS) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("video model '%s' cannot be expressed in the xen-xm format"),
                           virDomainVideoTypeToString(v->type));
            return -1;
        }
        if (v->vram && xvXenSetULLong(w, "videoram", v->vram / 1024) < 0)
            return -1;
    }
    return 0;
}

int
xvXenFormatGraphics(xvXenWriter *w, virDomainDef *def)
{
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    g_autoptr(GPtrArray) vfbs = g_ptr_array_new_with_free_func(g_free);
    size_t i;

    for (i = 0; i < def->ngraphics; i++) {
        g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
        const char *spec;

        if (hvm && i > 0 && def->graphics[i]->type == def->graphics[0]->type) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("an HVM guest can have at most one graphics device of each type in a Xen configuration"));
            return -1;
        }
        if (xvXenFormatGraphicsSpec(w, def->graphics[i], hvm, &buf) < 0)
            return -1;
        if (!hvm) {
            spec = virBufferCurrentContent(&buf);
            g_ptr_array_add(vfbs, g_strdup(spec + 1));
        }
    }
    if (!hvm && xvXenSetStringList(w, "vfb", vfbs) < 0)
        return -1;

    return xvXenFormatVideo(w, def);
}
