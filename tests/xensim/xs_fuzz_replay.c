/*
 * xs_fuzz_replay.c: run the fuzz target on files, without libFuzzer.
 * The test suite replays the regression corpus with it on every build.
 *
 *   xs-fuzz-replay FILE|DIR...
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int
xsim_replay_file(const char *path)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *data = NULL;
    gsize len;

    if (!g_file_get_contents(path, &data, &len, &error)) {
        fprintf(stderr, "%s\n", error->message);
        return 1;
    }
    LLVMFuzzerTestOneInput((const uint8_t *)data, len);
    return 0;
}

int
main(int argc,
     char **argv)
{
    int files = 0;
    int failed = 0;
    int i;

    LLVMFuzzerInitialize(&argc, &argv);
    for (i = 1; i < argc; i++) {
        if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
            g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
            const char *name;
            guint j;

            while (dir && (name = g_dir_read_name(dir)))
                g_ptr_array_add(names, g_build_filename(argv[i], name, NULL));
            for (j = 0; j < names->len; j++) {
                failed += xsim_replay_file(g_ptr_array_index(names, j));
                files++;
            }
        } else {
            failed += xsim_replay_file(argv[i]);
            files++;
        }
    }
    printf("replayed %d inputs, %d unreadable\n", files, failed);
    return failed || files == 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
