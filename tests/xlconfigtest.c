/*
 * xlconfigtest.c: xl.cfg and xm configurations <-> domain XML, from the
 * golden files in tests/xlconfigdata/ (naming: docs/xl-native.md)
 *
 *   NAME.cfg + NAME.xml                   both ways, and XML -> cfg -> XML
 *   NAME-oneway.cfg + NAME-oneway.xml     cfg -> XML only (lossy by nature)
 *   NAME-invalid.cfg + NAME-invalid.err   cfg refused with this message
 *   NAME-unsupported.xml + NAME-unsupported.err
 *                                         XML refused with this message
 *
 * A NAME starting with "xm-" is in the xen-xm format, any other xen-xl.
 * XENVIRT_TEST_REGENERATE_OUTPUT=1 rewrites the expected files.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"
#include "libxl_domain.h"
#include "xen_xl.h"

#include "virerror.h"

static virCaps *caps;
static virDomainXMLOption *xmlopt;
static bool regenerate;

#define XV_XML_FLAGS (VIR_DOMAIN_DEF_FORMAT_INACTIVE | VIR_DOMAIN_DEF_FORMAT_SECURE)

typedef enum {
    CASE_BOTH,
    CASE_ONEWAY,
    CASE_INVALID,
    CASE_UNSUPPORTED,
} caseKind;

typedef struct {
    char *name;
    caseKind kind;
    bool xm;
} testCase;

static void
testCaseFree(void *opaque)
{
    testCase *tc = opaque;

    g_free(tc->name);
    g_free(tc);
}

static char *
dataPath(const char *name, const char *ext)
{
    return g_strdup_printf("%s/%s.%s", XLCONFIGDATA, name, ext);
}

static char *
readData(const char *name, const char *ext)
{
    g_autofree char *path = dataPath(name, ext);
    g_autoptr(GError) err = NULL;
    char *text = NULL;

    if (!g_file_get_contents(path, &text, NULL, &err)) {
        g_test_message("cannot read %s: %s", path, err->message);
        g_test_fail();
        return NULL;
    }
    return text;
}

/* Compare @actual with the golden file, or rewrite it when regenerating. */
static void
checkData(const char *name, const char *ext, const char *actual)
{
    g_autofree char *path = dataPath(name, ext);
    g_autofree char *expected = NULL;

    if (regenerate) {
        g_assert_true(g_file_set_contents(path, actual, -1, NULL));
        return;
    }
    if (!(expected = readData(name, ext)))
        return;
    if (g_strcmp0(expected, actual) != 0) {
        g_test_message("%s differs; expected:\n%s\nactual:\n%s", path, expected, actual);
        g_test_fail();
    }
}

static virDomainDef *
parseNative(const testCase *tc, const char *text)
{
    return tc->xm ? xvXMConfigParse(text, caps, xmlopt)
                  : xvXLConfigParse(text, caps, xmlopt);
}

static char *
formatNative(const testCase *tc, virDomainDef *def)
{
    return tc->xm ? xvXMConfigFormat(def) : xvXLConfigFormat(def);
}

static char *
errorText(void)
{
    return g_strdup_printf("%s\n", virGetLastErrorMessage());
}

static virDomainDef *
parseXML(const char *xml)
{
    return virDomainDefParseString(xml, xmlopt, NULL,
                                   VIR_DOMAIN_DEF_PARSE_INACTIVE);
}

static void
testNativeToXML(const testCase *tc)
{
    g_autofree char *cfg = readData(tc->name, "cfg");
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *xml = NULL;

    if (!cfg)
        return;
    virResetLastError();
    if (!(def = parseNative(tc, cfg))) {
        g_test_message("%s.cfg: %s", tc->name, virGetLastErrorMessage());
        g_test_fail();
        return;
    }
    xml = virDomainDefFormat(def, xmlopt, XV_XML_FLAGS);
    g_assert_nonnull(xml);
    checkData(tc->name, "xml", xml);
}

static void
testXMLToNative(const testCase *tc)
{
    g_autofree char *xml = readData(tc->name, "xml");
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *cfg = NULL;

    if (!xml)
        return;
    virResetLastError();
    if (!(def = parseXML(xml)) || !(cfg = formatNative(tc, def))) {
        g_test_message("%s.xml: %s", tc->name, virGetLastErrorMessage());
        g_test_fail();
        return;
    }
    checkData(tc->name, "cfg", cfg);
}

/* XML -> native -> XML gives the same XML. */
static void
testRoundTrip(const testCase *tc)
{
    g_autofree char *xml = readData(tc->name, "xml");
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(virDomainDef) def2 = NULL;
    g_autofree char *cfg = NULL;
    g_autofree char *xml2 = NULL;

    if (!xml)
        return;
    virResetLastError();
    if (!(def = parseXML(xml)) || !(cfg = formatNative(tc, def)) ||
        !(def2 = parseNative(tc, cfg))) {
        g_test_message("%s: %s", tc->name, virGetLastErrorMessage());
        g_test_fail();
        return;
    }
    xml2 = virDomainDefFormat(def2, xmlopt, XV_XML_FLAGS);
    if (g_strcmp0(xml, xml2) != 0) {
        g_test_message("%s: round trip differs:\n%s\n--- via ---\n%s\n--- gave ---\n%s",
                       tc->name, xml, cfg, xml2);
        g_test_fail();
    }
}

static void
testInvalid(const testCase *tc)
{
    g_autofree char *cfg = readData(tc->name, "cfg");
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *msg = NULL;

    if (!cfg)
        return;
    virResetLastError();
    def = parseNative(tc, cfg);
    if (def) {
        g_test_message("%s.cfg was accepted", tc->name);
        g_test_fail();
        return;
    }
    msg = errorText();
    checkData(tc->name, "err", msg);
}

static void
testUnsupported(const testCase *tc)
{
    g_autofree char *xml = readData(tc->name, "xml");
    g_autoptr(virDomainDef) def = NULL;
    g_autofree char *cfg = NULL;
    g_autofree char *msg = NULL;

    if (!xml)
        return;
    virResetLastError();
    if (!(def = parseXML(xml))) {
        g_test_message("%s.xml does not parse: %s", tc->name, virGetLastErrorMessage());
        g_test_fail();
        return;
    }
    if ((cfg = formatNative(tc, def))) {
        g_test_message("%s.xml was converted:\n%s", tc->name, cfg);
        g_test_fail();
        return;
    }
    msg = errorText();
    checkData(tc->name, "err", msg);
}

static void
runCase(const void *opaque)
{
    const testCase *tc = opaque;

    switch (tc->kind) {
    case CASE_BOTH:
        testNativeToXML(tc);
        testXMLToNative(tc);
        if (!regenerate)
            testRoundTrip(tc);
        break;
    case CASE_ONEWAY:
        testNativeToXML(tc);
        if (!regenerate)
            testRoundTrip(tc);
        break;
    case CASE_INVALID:
        testInvalid(tc);
        break;
    case CASE_UNSUPPORTED:
        testUnsupported(tc);
        break;
    }
}

static gint
compareNames(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char **) a, *(const char **) b);
}

static GPtrArray *
collectCases(void)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GDir) dir = g_dir_open(XLCONFIGDATA, 0, &err);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    GPtrArray *cases = g_ptr_array_new_with_free_func(testCaseFree);
    const char *entry;
    size_t i;

    if (!dir)
        g_error("cannot open %s: %s", XLCONFIGDATA, err->message);
    while ((entry = g_dir_read_name(dir)))
        g_ptr_array_add(names, g_strdup(entry));
    g_ptr_array_sort(names, compareNames);

    for (i = 0; i < names->len; i++) {
        const char *file = g_ptr_array_index(names, i);
        testCase *tc;
        const char *dot = strrchr(file, '.');

        if (!dot)
            continue;
        tc = g_new0(testCase, 1);
        tc->name = g_strndup(file, dot - file);
        tc->xm = g_str_has_prefix(file, "xm-");
        if (STREQ(dot, ".cfg") && g_str_has_suffix(tc->name, "-invalid"))
            tc->kind = CASE_INVALID;
        else if (STREQ(dot, ".cfg") && g_str_has_suffix(tc->name, "-oneway"))
            tc->kind = CASE_ONEWAY;
        else if (STREQ(dot, ".cfg"))
            tc->kind = CASE_BOTH;
        else if (STREQ(dot, ".xml") && g_str_has_suffix(tc->name, "-unsupported"))
            tc->kind = CASE_UNSUPPORTED;
        else {
            testCaseFree(tc);
            continue;
        }
        g_ptr_array_add(cases, tc);
    }
    return cases;
}

int
main(int argc, char **argv)
{
    xlite_host_info host = {
        .guest_types = XLITE_GUEST_PV | XLITE_GUEST_PVH | XLITE_GUEST_HVM,
        .arch = "x86_64",
        .xen_caps = "xen-3.0-x86_64 hvm-3.0-x86_32 hvm-3.0-x86_32p hvm-3.0-x86_64",
    };
    g_autoptr(GPtrArray) cases = NULL;
    size_t i;
    int ret;

    /* Run every case even after a failure: one report for the data set. */
    g_autofree char **args = g_new0(char *, argc + 2);

    memcpy(args, argv, argc * sizeof(char *));
    args[argc++] = (char *) "--keep-going";
    argv = args;
    g_test_init(&argc, &argv, NULL);
    if (virInitialize() < 0)
        return EXIT_FAILURE;
    regenerate = g_strcmp0(g_getenv("XENVIRT_TEST_REGENERATE_OUTPUT"), "1") == 0;

    if (!(caps = xvCapabilitiesNew(&host, NULL)) || !(xmlopt = xvDomainXMLOptionNew(NULL)))
        return EXIT_FAILURE;

    cases = collectCases();
    for (i = 0; i < cases->len; i++) {
        testCase *tc = g_ptr_array_index(cases, i);
        const char *kind[] = { "both", "oneway", "invalid", "unsupported" };
        g_autofree char *path = g_strdup_printf("/xlconfig/%s/%s", kind[tc->kind], tc->name);

        g_test_add_data_func(path, tc, runCase);
    }
    ret = g_test_run();

    virObjectUnref(xmlopt);
    virObjectUnref(caps);
    return ret;
}
