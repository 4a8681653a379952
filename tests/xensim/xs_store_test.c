/*
 * xs_store_test.c: the tree on its own, without the wire.
 */
#include <errno.h>
#include <string.h>

#include "xs_store.h"

static const XsimCaller dom0 = { 0, true, XSIM_DOMID_NONE };
static const XsimCaller dom1 = { 1, false, XSIM_DOMID_NONE };
static const XsimCaller dom2 = { 2, false, XSIM_DOMID_NONE };

static XsimStore *
xsim_test_store(void)
{
    XsimStoreQuota quota = { .nodes = 10, .node_size = 64, .perms = 5,
                             .txn_nodes = 16 };
    XsimStore *store = xsim_store_new(&quota);
    XsimPerm home[] = { { 1, XSIM_PERM_NONE } };

    g_assert_cmpint(xsim_store_mkdir(store, NULL, &dom0, "/local/domain/1",
                                     NULL), ==, 0);
    g_assert_cmpint(xsim_store_set_perms(store, NULL, &dom0, "/local/domain/1",
                                         home, 1, NULL), ==, 0);
    return store;
}

static void
xsim_assert_value(XsimStore *store,
                  XsimTxn *txn,
                  const XsimCaller *caller,
                  const char *path,
                  const char *want)
{
    const char *value;
    gsize len;

    g_assert_cmpint(xsim_store_read(store, txn, caller, path, &value, &len), ==, 0);
    g_assert_cmpmem(value, len, want, strlen(want));
}

static void
test_write_read(void)
{
    g_autoptr(XsimStore) store = xsim_test_store();
    g_autoptr(GPtrArray) changes =
        g_ptr_array_new_with_free_func((GDestroyNotify)xsim_change_free);
    const GPtrArray *children;
    guint64 gen;

    g_assert_cmpint(xsim_store_write(store, NULL, &dom0, "/a/b/c", "x", 1,
                                     changes), ==, 0);
    g_assert_cmpuint(changes->len, ==, 1);
    xsim_assert_value(store, NULL, &dom0, "/a/b/c", "x");
    xsim_assert_value(store, NULL, &dom0, "/a/b", "");
    g_assert_cmpint(xsim_store_directory(store, NULL, &dom0, "/a", &children,
                                         &gen), ==, 0);
    g_assert_cmpuint(children->len, ==, 1);
    g_assert_cmpint(xsim_store_rm(store, NULL, &dom0, "/a", NULL), ==, 0);
    g_assert_cmpint(xsim_store_read(store, NULL, &dom0, "/a/b/c", NULL, NULL),
                    ==, ENOENT);
    /* Removing what is not there is fine when the parent is. */
    g_assert_cmpint(xsim_store_rm(store, NULL, &dom0, "/a", NULL), ==, 0);
    g_assert_cmpint(xsim_store_rm(store, NULL, &dom0, "/a/b", NULL), ==, ENOENT);
    g_assert_true(xsim_store_check(store));
}

static void
test_perms(void)
{
    g_autoptr(XsimStore) store = xsim_test_store();
    const XsimPerm *perms;
    guint nperms;
    XsimPerm give[] = { { 2, XSIM_PERM_NONE } };
    XsimPerm share[] = { { 1, XSIM_PERM_NONE }, { 2, XSIM_PERM_READ } };

    /* The guest owns what it creates under its home. */
    g_assert_cmpint(xsim_store_write(store, NULL, &dom1, "/local/domain/1/x",
                                     "v", 1, NULL), ==, 0);
    g_assert_cmpint(xsim_store_get_perms(store, NULL, &dom1, "/local/domain/1/x",
                                         &perms, &nperms), ==, 0);
    g_assert_cmpuint(perms[0].id, ==, 1);
    g_assert_cmpuint(xsim_store_owned(store, 1), ==, 2);

    /* Another guest can neither read nor learn what exists. */
    g_assert_cmpint(xsim_store_read(store, NULL, &dom2, "/local/domain/1/x",
                                    NULL, NULL), ==, EACCES);
    g_assert_cmpint(xsim_store_read(store, NULL, &dom2, "/local/domain/1/nope",
                                    NULL, NULL), ==, EACCES);
    g_assert_cmpint(xsim_store_write(store, NULL, &dom2, "/local/domain/1/y",
                                     "v", 1, NULL), ==, EACCES);

    /* Sharing works, giving away does not. */
    g_assert_cmpint(xsim_store_set_perms(store, NULL, &dom1, "/local/domain/1/x",
                                         give, 1, NULL), ==, EPERM);
    g_assert_cmpint(xsim_store_set_perms(store, NULL, &dom1, "/local/domain/1/x",
                                         share, 2, NULL), ==, 0);
    xsim_assert_value(store, NULL, &dom2, "/local/domain/1/x", "v");
    g_assert_true(xsim_store_check(store));
}

static void
test_quota(void)
{
    g_autoptr(XsimStore) store = xsim_test_store();
    char big[100];
    int i;
    int rc = 0;

    memset(big, 'a', sizeof(big));
    g_assert_cmpint(xsim_store_write(store, NULL, &dom1, "/local/domain/1/big",
                                     big, sizeof(big), NULL), ==, ENOSPC);
    for (i = 0; i < 20 && rc == 0; i++) {
        g_autofree char *path = g_strdup_printf("/local/domain/1/n%d", i);

        rc = xsim_store_write(store, NULL, &dom1, path, "", 0, NULL);
    }
    g_assert_cmpint(rc, ==, ENOSPC);
    g_assert_cmpuint(xsim_store_owned(store, 1), ==, 10);
    /* dom0 is not limited. */
    g_assert_cmpint(xsim_store_write(store, NULL, &dom0, "/local/domain/1/z",
                                     big, sizeof(big), NULL), ==, 0);
    g_assert_true(xsim_store_check(store));
}

static void
test_transaction(void)
{
    g_autoptr(XsimStore) store = xsim_test_store();
    g_autoptr(XsimTxn) t1 = xsim_txn_new(store);
    g_autoptr(XsimTxn) t2 = xsim_txn_new(store);
    g_autoptr(GPtrArray) changes =
        g_ptr_array_new_with_free_func((GDestroyNotify)xsim_change_free);

    g_assert_cmpint(xsim_store_write(store, NULL, &dom0, "/t", "a", 1, NULL), ==, 0);

    /* Isolation: t1's write is invisible outside until commit. */
    g_assert_cmpint(xsim_store_write(store, t1, &dom0, "/t/x", "b", 1, NULL), ==, 0);
    g_assert_cmpint(xsim_store_read(store, NULL, &dom0, "/t/x", NULL, NULL), ==, ENOENT);
    xsim_assert_value(store, t1, &dom0, "/t/x", "b");

    /* t2 read /t, then someone changes it: t2 must fail. */
    xsim_assert_value(store, t2, &dom0, "/t", "a");
    g_assert_cmpint(xsim_txn_commit(t1, changes), ==, 0);
    g_assert_cmpuint(changes->len, ==, 1);
    xsim_assert_value(store, NULL, &dom0, "/t/x", "b");
    /* Snapshot: t2 still sees the old /t. */
    xsim_assert_value(store, t2, &dom0, "/t", "a");
    g_assert_cmpint(xsim_store_write(store, t2, &dom0, "/t", "c", 1, NULL), ==, 0);
    g_assert_cmpint(xsim_txn_commit(t2, NULL), ==, EAGAIN);
    xsim_assert_value(store, NULL, &dom0, "/t", "a");

    {
        g_autoptr(XsimTxn) t3 = xsim_txn_new(store);

        g_assert_cmpint(xsim_store_rm(store, t3, &dom0, "/t", NULL), ==, 0);
        g_assert_cmpint(xsim_txn_commit(t3, NULL), ==, 0);
        g_assert_cmpint(xsim_store_read(store, NULL, &dom0, "/t/x", NULL, NULL),
                        ==, ENOENT);
    }
    g_assert_true(xsim_store_check(store));
}

/* The order DIRECTORY gives: appended; a removed child's place taken by
 * the last one. */
static void
xsim_model_remove(GPtrArray *model,
                  const char *name)
{
    for (guint i = 0; i < model->len; i++) {
        if (g_str_equal(g_ptr_array_index(model, i), name)) {
            g_ptr_array_remove_index_fast(model, i);
            return;
        }
    }
}

static bool
xsim_model_has(GPtrArray *model,
               const char *name)
{
    for (guint i = 0; i < model->len; i++)
        if (g_str_equal(g_ptr_array_index(model, i), name))
            return true;
    return false;
}

static void
xsim_assert_children(XsimStore *store,
                     XsimTxn *txn,
                     GPtrArray *model)
{
    const GPtrArray *children;
    guint64 gen;

    g_assert_cmpint(xsim_store_directory(store, txn, &dom0, "/d", &children,
                                         &gen), ==, 0);
    g_assert_cmpuint(children->len, ==, model->len);
    for (guint i = 0; i < model->len; i++)
        g_assert_cmpstr(g_ptr_array_index(children, i), ==,
                        g_ptr_array_index(model, i));
}

/*
 * A directory of many children (its list indexed, shared by the copies
 * transactions make, changed through their logs): random adds and
 * removals in and out of transactions, some of them conflicting, checked
 * against a model of the list after every step.
 */
static void
test_big_directory(void)
{
    XsimStoreQuota quota = { .nodes = 1000, .node_size = 4096, .perms = 5,
                             .txn_nodes = 1000 };
    g_autoptr(XsimStore) store = xsim_store_new(&quota);
    g_autoptr(GPtrArray) model = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GRand) rand = g_rand_new_with_seed(18);

    g_assert_cmpint(xsim_store_mkdir(store, NULL, &dom0, "/d", NULL), ==, 0);
    for (guint step = 0; step < 400; step++) {
        g_autofree char *name = g_strdup_printf("c%u",
                                                g_rand_int_range(rand, 0, 60));
        g_autofree char *path = g_strconcat("/d/", name, NULL);
        int what = g_rand_int_range(rand, 0, 4);

        if (what < 2) {
            /* Outside a transaction. */
            if (xsim_model_has(model, name)) {
                g_assert_cmpint(xsim_store_rm(store, NULL, &dom0, path, NULL),
                                ==, 0);
                xsim_model_remove(model, name);
            } else {
                g_assert_cmpint(xsim_store_write(store, NULL, &dom0, path,
                                                 "", 0, NULL), ==, 0);
                g_ptr_array_add(model, g_strdup(name));
            }
        } else {
            /* In a transaction: a few changes, a read, maybe another
             * writer first (then EAGAIN), commit or abort. */
            g_autoptr(XsimTxn) txn = xsim_txn_new(store);
            g_autoptr(GPtrArray) mine = g_ptr_array_new_with_free_func(g_free);
            bool spoil = g_rand_int_range(rand, 0, 4) == 0;
            bool abort = g_rand_int_range(rand, 0, 4) == 0;

            for (guint i = 0; i < model->len; i++)
                g_ptr_array_add(mine, g_strdup(g_ptr_array_index(model, i)));
            xsim_assert_children(store, txn, mine);
            for (guint k = 0; k < 3; k++) {
                g_autofree char *n = g_strdup_printf(
                    "c%u", g_rand_int_range(rand, 0, 60));
                g_autofree char *p = g_strconcat("/d/", n, NULL);

                if (xsim_model_has(mine, n)) {
                    g_assert_cmpint(xsim_store_rm(store, txn, &dom0, p, NULL),
                                    ==, 0);
                    xsim_model_remove(mine, n);
                } else {
                    g_assert_cmpint(xsim_store_write(store, txn, &dom0, p, "",
                                                     0, NULL), ==, 0);
                    g_ptr_array_add(mine, g_strdup(n));
                }
                xsim_assert_children(store, txn, mine);
            }
            if (spoil) {
                g_autofree char *p = g_strdup_printf("/d/x%u", step);

                g_assert_cmpint(xsim_store_write(store, NULL, &dom0, p, "",
                                                 0, NULL), ==, 0);
                g_ptr_array_add(model, g_strdup(p + 3));
                /* The transaction still sees what it saw. */
                xsim_assert_children(store, txn, mine);
            }
            if (abort)
                continue;
            if (spoil) {
                g_assert_cmpint(xsim_txn_commit(txn, NULL), ==, EAGAIN);
            } else {
                g_assert_cmpint(xsim_txn_commit(txn, NULL), ==, 0);
                g_ptr_array_set_size(model, 0);
                for (guint i = 0; i < mine->len; i++)
                    g_ptr_array_add(model,
                                    g_strdup(g_ptr_array_index(mine, i)));
            }
        }
        xsim_assert_children(store, NULL, model);
        g_assert_true(xsim_store_check(store));
    }
}

int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/xensim/store/write-read", test_write_read);
    g_test_add_func("/xensim/store/perms", test_perms);
    g_test_add_func("/xensim/store/quota", test_quota);
    g_test_add_func("/xensim/store/transaction", test_transaction);
    g_test_add_func("/xensim/store/big-directory", test_big_directory);
    return g_test_run();
}
