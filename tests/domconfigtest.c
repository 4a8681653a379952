/*
 * domconfigtest.c: domain XML -> the core's domain configuration
 *
 * For each tests/domconfigdata/NAME.xml, parses the XML with the driver's
 * XML options and maps it to an xlite_domain_config, then:
 *  - NAME.json exists: the config's JSON form must equal it by meaning
 *    (compared as JSON trees, not bytes);
 *  - NAME.err exists: the mapping must fail, with that text in the error.
 * XENVIRT_TEST_REGENERATE_OUTPUT=1 rewrites the .json files instead.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <json-glib/json-glib.h>

#include "libxl_conf.h"
#include "libxl_domain.h"

#include "virerror.h"

static const char *datadir;
static virDomainXMLOption *xmlopt;

static char *
data_path(const char *name, const char *ext)
{
    return g_strdup_printf("%s/%s.%s", datadir, name, ext);
}

static JsonNode *
parse_json(const char *text)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) err = NULL;

    if (!json_parser_load_from_data(parser, text, -1, &err))
        g_error("invalid JSON: %s", err->message);
    return json_node_copy(json_parser_get_root(parser));
}

static void
test_case(gconstpointer data)
{
    const char *name = data;
    g_autofree char *xmlPath = data_path(name, "xml");
    g_autofree char *jsonPath = data_path(name, "json");
    g_autofree char *errPath = data_path(name, "err");
    g_autofree char *xml = NULL;
    g_autoptr(virDomainDef) def = NULL;
    xlite_domain_config cfg;
    char *json = NULL;
    int rc;

    g_assert_true(g_file_get_contents(xmlPath, &xml, NULL, NULL));
    virResetLastError();
    def = virDomainDefParseString(xml, xmlopt, NULL,
                                  VIR_DOMAIN_DEF_PARSE_INACTIVE);
    xlite_domain_config_init(&cfg);
    rc = def ? xvDomainConfigFromDef(def, &cfg, XV_CONFIG_START | XV_CONFIG_NO_NETWORK_DRIVER) : -1;

    if (g_file_test(errPath, G_FILE_TEST_EXISTS)) {
        g_autofree char *expected = NULL;

        g_assert_true(g_file_get_contents(errPath, &expected, NULL, NULL));
        g_strstrip(expected);
        if (rc == 0)
            g_error("%s: mapping succeeded, expected error '%s'", name, expected);
        if (!strstr(virGetLastErrorMessage(), expected))
            g_error("%s: error '%s' does not contain '%s'", name,
                    virGetLastErrorMessage(), expected);
    } else {
        g_autofree char *expected = NULL;
        g_autoptr(JsonNode) want = NULL;
        g_autoptr(JsonNode) got = NULL;

        if (rc < 0)
            g_error("%s: %s", name, virGetLastErrorMessage());
        g_assert_cmpint(xlite_domain_config_to_json(&cfg, &json), ==, 0);
        if (g_getenv("XENVIRT_TEST_REGENERATE_OUTPUT")) {
            g_assert_true(g_file_set_contents(jsonPath, json, -1, NULL));
        } else {
            if (!g_file_get_contents(jsonPath, &expected, NULL, NULL))
                g_error("%s: missing %s (XENVIRT_TEST_REGENERATE_OUTPUT=1 writes it)",
                        name, jsonPath);
            want = parse_json(expected);
            got = parse_json(json);
            if (!json_node_equal(want, got))
                g_error("%s: config differs from %s:\n%s", name, jsonPath, json);
        }
    }
    free(json);
    xlite_domain_config_dispose(&cfg);
}

static int
map_one(const char *path)
{
    g_autofree char *xml = NULL;
    g_autoptr(virDomainXMLOption) opt = NULL;
    g_autoptr(virDomainDef) def = NULL;
    xlite_domain_config cfg;
    char *json = NULL;
    int ret = EXIT_FAILURE;

    if (virInitialize() < 0 || !(opt = xvDomainXMLOptionNew(NULL)))
        return EXIT_FAILURE;
    if (!g_file_get_contents(path, &xml, NULL, NULL)) {
        fprintf(stderr, "cannot read %s\n", path);
        return EXIT_FAILURE;
    }
    xlite_domain_config_init(&cfg);
    if ((def = virDomainDefParseString(xml, opt, NULL,
                                       VIR_DOMAIN_DEF_PARSE_INACTIVE)) &&
        xvDomainConfigFromDef(def, &cfg, XV_CONFIG_START |
                              XV_CONFIG_NO_NETWORK_DRIVER) == 0 &&
        xlite_domain_config_to_json(&cfg, &json) == 0) {
        printf("%s\n", json);
        ret = EXIT_SUCCESS;
    } else {
        fprintf(stderr, "%s\n", virGetLastErrorMessage());
    }
    free(json);
    xlite_domain_config_dispose(&cfg);
    return ret;
}

static gint
compare_names(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(int argc, char **argv)
{
    g_autoptr(GDir) dir = NULL;
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    const char *entry;
    guint i;
    int ret;

    /* "--map FILE": print the core's configuration of the domain XML in
     * FILE, mapped for a start (tests/integration/test_compat.py compares
     * it with libvirt's own mapping of its test data). */
    if (argc == 3 && strcmp(argv[1], "--map") == 0)
        return map_one(argv[2]);

    g_test_init(&argc, &argv, NULL);
    if (virInitialize() < 0)
        return EXIT_FAILURE;
    datadir = g_getenv("XENVIRT_TEST_DATADIR");
    if (!datadir)
        datadir = DOMCONFIG_DATADIR;
    if (!(xmlopt = xvDomainXMLOptionNew(NULL)))
        return EXIT_FAILURE;

    dir = g_dir_open(datadir, 0, NULL);
    g_assert_nonnull(dir);
    while ((entry = g_dir_read_name(dir))) {
        if (g_str_has_suffix(entry, ".xml"))
            g_ptr_array_add(names, g_strndup(entry, strlen(entry) - 4));
    }
    g_ptr_array_sort(names, compare_names);
    g_assert_cmpuint(names->len, >, 0);
    for (i = 0; i < names->len; i++) {
        g_autofree char *path = g_strdup_printf("/domconfig/%s",
                                                (char *)names->pdata[i]);

        g_test_add_data_func(path, names->pdata[i], test_case);
    }
    ret = g_test_run();
    virObjectUnref(xmlopt);
    return ret;
}
