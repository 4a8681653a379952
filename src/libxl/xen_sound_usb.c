/*
 * xen_sound_usb.c: HVM sound cards ("soundhw"), the emulated USB
 * controller ("usb") and USB devices ("usbdevice": input devices and host
 * devices), read and written, and the controllers a configuration leaves
 * implicit
 *
 * PV USB ("usbctrl", "usbdev") is xl-only and is in xen_xl.c.
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

VIR_LOG_INIT("xenvirt.xen_sound_usb");

/* ---------------------------------------------------------------------
 * Sound and USB (HVM)
 */

int
xvXenParseSound(xvXenParser *p, virDomainDef *def)
{
    const char *soundhw = NULL;
    g_auto(GStrv) models = NULL;
    size_t i;
    int rc;

    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        return 0;
    if ((rc = xvXenGetString(p, "soundhw", &soundhw)) <= 0)
        return rc;
    models = g_strsplit(soundhw, ",", 0);
    for (i = 0; models[i]; i++) {
        virDomainSoundDef *sound;
        int model;

        if (STREQ(models[i], "hda"))
            model = VIR_DOMAIN_SOUND_MODEL_ICH6;
        else if (STREQ(models[i], "ac97") || STREQ(models[i], "sb16") ||
                 STREQ(models[i], "es1370"))
            model = virDomainSoundModelTypeFromString(models[i]);
        else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: sound card '%s' in 'soundhw' is not supported, expected ac97, es1370, hda or sb16"),
                           xvXenLine(p, "soundhw"), models[i]);
            return -1;
        }
        sound = g_new0(virDomainSoundDef, 1);
        sound->model = model;
        VIR_APPEND_ELEMENT(def->sounds, def->nsounds, sound);
    }
    return 0;
}

static int
xvXenAddInput(virDomainDef *def, int type, int bus)
{
    virDomainInputDef *input = g_new0(virDomainInputDef, 1);

    input->type = type;
    input->bus = bus;
    VIR_APPEND_ELEMENT(def->inputs, def->ninputs, input);
    return 0;
}

int
xvXenParseUSB(xvXenParser *p, virDomainDef *def)
{
    g_auto(GStrv) list = NULL;
    bool usb = false;
    size_t i;
    int rc;

    if (def->os.type != VIR_DOMAIN_OSTYPE_HVM)
        return 0;
    if (xvXenGetBool(p, "usb", &usb) < 0 ||
        (rc = xvXenGetStringList(p, "usbdevice", true, &list)) < 0)
        return -1;
    /* USB devices imply the emulated controller, as xl adds it. */
    if ((usb || (list && list[0])) &&
        !virDomainDefAddController(def, VIR_DOMAIN_CONTROLLER_TYPE_USB, 0,
                                   VIR_DOMAIN_CONTROLLER_MODEL_USB_PIIX3_UHCI))
        return -1;
    if (rc == 0)
        return 0;
    for (i = 0; list[i]; i++) {
        unsigned int a, b;
        char tail;

        if (STREQ(list[i], "tablet")) {
            xvXenAddInput(def, VIR_DOMAIN_INPUT_TYPE_TABLET, VIR_DOMAIN_INPUT_BUS_USB);
        } else if (STREQ(list[i], "mouse")) {
            xvXenAddInput(def, VIR_DOMAIN_INPUT_TYPE_MOUSE, VIR_DOMAIN_INPUT_BUS_USB);
        } else if (STREQ(list[i], "keyboard")) {
            xvXenAddInput(def, VIR_DOMAIN_INPUT_TYPE_KBD, VIR_DOMAIN_INPUT_BUS_USB);
        } else if (STRPREFIX(list[i], "host:") &&
                   ((sscanf(list[i] + 5, "%x:%x%c", &a, &b, &tail) == 2 &&
                     a <= 0xffff && b <= 0xffff) ||
                    (sscanf(list[i] + 5, "%u.%u%c", &a, &b, &tail) == 2))) {
            virDomainHostdevDef *hostdev = virDomainHostdevDefNew();
            virDomainHostdevSubsysUSB *usbsrc;

            if (!hostdev)
                return -1;
            hostdev->mode = VIR_DOMAIN_HOSTDEV_MODE_SUBSYS;
            hostdev->source.subsys.type = VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB;
            usbsrc = &hostdev->source.subsys.u.usb;
            if (a == 0 || b == 0) {
                virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                               _("line %u: USB device '%s' in 'usbdevice' cannot have a zero number"),
                               xvXenLineOf(p, "usbdevice", list[i]), list[i]);
                virDomainHostdevDefFree(hostdev);
                return -1;
            }
            if (strchr(list[i] + 5, ':')) {
                usbsrc->vendor = a;
                usbsrc->product = b;
            } else {
                usbsrc->bus = a;
                usbsrc->device = b;
            }
            VIR_APPEND_ELEMENT(def->hostdevs, def->nhostdevs, hostdev);
        } else {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("line %u: USB device '%s' in 'usbdevice' is not supported"),
                           xvXenLineOf(p, "usbdevice", list[i]), list[i]);
            return -1;
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------
 * Writing
 */

/* "soundhw": the models, comma-separated in one string. */
static int
xvXenFormatSound(xvXenWriter *w, virDomainDef *def)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    size_t i;

    for (i = 0; i < def->nsounds; i++) {
        const char *model = def->sounds[i]->model == VIR_DOMAIN_SOUND_MODEL_ICH6
                            ? "hda" : virDomainSoundModelTypeToString(def->sounds[i]->model);

        if (!hvm) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("sound devices are only valid for HVM guests"));
            return -1;
        }
        virBufferAsprintf(&buf, "%s%s", i ? "," : "", model);
    }
    if (def->nsounds > 0 &&
        xvXenSetString(w, "soundhw", virBufferCurrentContent(&buf)) < 0)
        return -1;
    return 0;
}

/* "usbdevice": USB input devices and USB host devices of an HVM guest. */
static int
xvXenFormatUSBDevices(xvXenWriter *w, virDomainDef *def)
{
    g_autoptr(GPtrArray) usbdevs = g_ptr_array_new_with_free_func(g_free);
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    size_t i;

    for (i = 0; i < def->ninputs; i++) {
        virDomainInputDef *in = def->inputs[i];

        if (in->bus == VIR_DOMAIN_INPUT_BUS_PS2 || in->bus == VIR_DOMAIN_INPUT_BUS_XEN)
            continue;   /* implicit with graphics */
        if (in->bus == VIR_DOMAIN_INPUT_BUS_USB && hvm &&
            (in->type == VIR_DOMAIN_INPUT_TYPE_TABLET ||
             in->type == VIR_DOMAIN_INPUT_TYPE_MOUSE ||
             in->type == VIR_DOMAIN_INPUT_TYPE_KBD)) {
            g_ptr_array_add(usbdevs, g_strdup(in->type == VIR_DOMAIN_INPUT_TYPE_TABLET ? "tablet" :
                                              in->type == VIR_DOMAIN_INPUT_TYPE_MOUSE ? "mouse" :
                                              "keyboard"));
            continue;
        }
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("input device '%s' on bus '%s' cannot be expressed in a Xen configuration for this guest"),
                       virDomainInputTypeToString(in->type),
                       virDomainInputBusTypeToString(in->bus));
        return -1;
    }
    for (i = 0; i < def->nhostdevs; i++) {
        virDomainHostdevDef *h = def->hostdevs[i];
        virDomainHostdevSubsysUSB *usb = &h->source.subsys.u.usb;

        if (h->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS ||
            h->source.subsys.type != VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB)
            continue;
        if (w->format == XV_XEN_FORMAT_XL && !hvm)
            continue;   /* PV USB: usbdev, in xen_xl.c */
        if (!hvm) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED, "%s",
                           _("USB host devices of PV guests cannot be expressed in the xen-xm format"));
            return -1;
        }
        if (usb->vendor || usb->product)
            g_ptr_array_add(usbdevs, g_strdup_printf("host:%04x:%04x", usb->vendor, usb->product));
        else
            g_ptr_array_add(usbdevs, g_strdup_printf("host:%u.%u", usb->bus, usb->device));
    }
    /* USB devices sit on the emulated controller: written as xl adds it
     * (and as libvirt's converter writes it) when the XML names none. */
    if (usbdevs->len > 0) {
        bool controller = false;

        for (i = 0; i < def->ncontrollers; i++) {
            if (def->controllers[i]->type == VIR_DOMAIN_CONTROLLER_TYPE_USB)
                controller = true;
        }
        if (!controller && xvXenSetULLong(w, "usb", 1) < 0)
            return -1;
    }
    if (usbdevs->len == 1) {
        if (xvXenSetString(w, "usbdevice", g_ptr_array_index(usbdevs, 0)) < 0)
            return -1;
    } else if (xvXenSetStringList(w, "usbdevice", usbdevs) < 0) {
        return -1;
    }
    return 0;
}

/* "usb": the emulated controller; the others are implicit or xl's usbctrl. */
static int
xvXenFormatControllers(xvXenWriter *w, virDomainDef *def)
{
    bool hvm = def->os.type == VIR_DOMAIN_OSTYPE_HVM;
    size_t i;

    for (i = 0; i < def->ncontrollers; i++) {
        virDomainControllerDef *c = def->controllers[i];

        switch ((virDomainControllerType) c->type) {
        case VIR_DOMAIN_CONTROLLER_TYPE_XENBUS:
        case VIR_DOMAIN_CONTROLLER_TYPE_IDE:
        case VIR_DOMAIN_CONTROLLER_TYPE_SCSI:
        case VIR_DOMAIN_CONTROLLER_TYPE_PCI:
            break;  /* implicit */
        case VIR_DOMAIN_CONTROLLER_TYPE_USB:
            if (hvm && (c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_PIIX3_UHCI ||
                        c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_DEFAULT)) {
                if (xvXenSetULLong(w, "usb", 1) < 0)
                    return -1;
                break;
            }
            if (w->format == XV_XEN_FORMAT_XL &&
                (c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB1 ||
                 c->model == VIR_DOMAIN_CONTROLLER_MODEL_USB_QUSB2))
                break;  /* usbctrl, in xen_xl.c */
            G_GNUC_FALLTHROUGH;
        default:
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("controller '%s' with this model cannot be expressed in a Xen configuration for this guest"),
                           virDomainControllerTypeToString(c->type));
            return -1;
        }
    }
    return 0;
}

int
xvXenFormatSoundUSB(xvXenWriter *w, virDomainDef *def)
{
    if (xvXenFormatSound(w, def) < 0 ||
        xvXenFormatUSBDevices(w, def) < 0 ||
        xvXenFormatControllers(w, def) < 0)
        return -1;
    return 0;
}
