/*
 * xlconfig-fuzz.c: the whole native conversion under a fuzzer
 *
 * One input is a configuration text.  It is read as xl.cfg and as xm; what
 * is accepted must then hold to the conversion's promises:
 *   - its XML parses again (the parser never builds a domain libvirt's own
 *     XML parser refuses),
 *   - written back as a configuration (when the format can say it all),
 *     that configuration reads again into the same XML.
 * A broken promise aborts, which the fuzzer reports as a crash.
 *
 * Built two ways (docs/xl-native.md):
 *   - with clang and -Dfuzz=enabled: a libFuzzer binary (XV_FUZZ_LIBFUZZER);
 *   - by the normal build: a replay program that runs every file of the
 *     directories it is given (the checked-in corpus and the golden
 *     configurations) through the same function, as a test.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"
#include "libxl_domain.h"
#include "xen_xl.h"

#include "virerror.h"

#define XV_FUZZ_MAX_INPUT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static virCaps *caps;
static virDomainXMLOption *xmlopt;

static void
xvFuzzQuiet(void *opaque G_GNUC_UNUSED, virErrorPtr err G_GNUC_UNUSED)
{
}

static void
xvFuzzInit(void)
{
    xlite_host_info host = {
        .guest_types = XLITE_GUEST_PV | XLITE_GUEST_PVH | XLITE_GUEST_HVM,
        .arch = "x86_64",
        .xen_caps = "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
    };

    if (xmlopt)
        return;
    if (virInitialize() < 0 ||
        !(caps = xvCapabilitiesNew(&host, NULL)) ||
        !(xmlopt = xvDomainXMLOptionNew(NULL)))
        abort();
    virSetErrorFunc(NULL, xvFuzzQuiet);
}

static void
xvFuzzBroken(const char *what, const char *text, const char *a, const char *b)
{
    fprintf(stderr, "xlconfig-fuzz: %s\n--- input ---\n%s\n--- first ---\n%s\n--- then ---\n%s\n",
            what, text, NULLSTR(a), NULLSTR(b));
    abort();
}

static void
xvFuzzOne(const char *text, bool xm)
{
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(virDomainDef) reparsed = NULL;
    g_autoptr(virDomainDef) again = NULL;
    g_autofree char *xml = NULL;
    g_autofree char *native = NULL;
    g_autofree char *xml2 = NULL;
    unsigned int fmt = VIR_DOMAIN_DEF_FORMAT_INACTIVE | VIR_DOMAIN_DEF_FORMAT_SECURE;

    virResetLastError();
    def = xm ? xvXMConfigParse(text, caps, xmlopt) : xvXLConfigParse(text, caps, xmlopt);
    if (!def) {
        /* Refused: it must say why. */
        if (virGetLastErrorCode() == VIR_ERR_OK)
            xvFuzzBroken("refused without an error", text, NULL, NULL);
        return;
    }
    if (!(xml = virDomainDefFormat(def, xmlopt, fmt)))
        xvFuzzBroken("cannot format the XML", text, virGetLastErrorMessage(), NULL);
    if (!(reparsed = virDomainDefParseString(xml, xmlopt, NULL,
                                             VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        xvFuzzBroken("the XML does not parse again", text, xml, virGetLastErrorMessage());

    virResetLastError();
    native = xm ? xvXMConfigFormat(reparsed) : xvXLConfigFormat(reparsed);
    if (!native) {
        if (virGetLastErrorCode() != VIR_ERR_CONFIG_UNSUPPORTED)
            xvFuzzBroken("writing back failed other than as unsupported",
                         text, xml, virGetLastErrorMessage());
        return;
    }
    if (!(again = xm ? xvXMConfigParse(native, caps, xmlopt)
                     : xvXLConfigParse(native, caps, xmlopt)))
        xvFuzzBroken("the written configuration does not read again",
                     text, native, virGetLastErrorMessage());
    xml2 = virDomainDefFormat(again, xmlopt, fmt);
    if (g_strcmp0(xml, xml2) != 0)
        xvFuzzBroken("the round trip changed the XML", text, xml, xml2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = NULL;

    if (size > XV_FUZZ_MAX_INPUT)
        return 0;
    xvFuzzInit();
    text = g_strndup((const char *) data, size);
    xvFuzzOne(text, false);
    xvFuzzOne(text, true);
    return 0;
}

#ifndef XV_FUZZ_LIBFUZZER
/* Replay: every regular file of the directories named on the command line. */
int
main(int argc, char **argv)
{
    size_t n = 0;
    int i;

    for (i = 1; i < argc; i++) {
        g_autoptr(GError) err = NULL;
        g_autoptr(GDir) dir = g_dir_open(argv[i], 0, &err);
        const char *name;

        if (!dir) {
            fprintf(stderr, "%s\n", err->message);
            return EXIT_FAILURE;
        }
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *path = g_build_filename(argv[i], name, NULL);
            g_autofree char *data = NULL;
            gsize len;

            if (!g_file_test(path, G_FILE_TEST_IS_REGULAR) ||
                g_str_has_suffix(name, ".xml") || g_str_has_suffix(name, ".err"))
                continue;
            if (!g_file_get_contents(path, &data, &len, NULL))
                return EXIT_FAILURE;
            LLVMFuzzerTestOneInput((const uint8_t *) data, len);
            n++;
        }
    }
    printf("replayed %zu inputs\n", n);
    virObjectUnref(xmlopt);
    virObjectUnref(caps);
    return n > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
#endif
