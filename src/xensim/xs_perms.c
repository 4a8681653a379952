/*
 * xs_perms.c: permission strings ("b0", "r5", ...) and access decisions.
 */
#include <errno.h>
#include <stdlib.h>

#include "xs_perms.h"

static bool
xsim_caller_is(const XsimCaller *caller,
               uint32_t id)
{
    return caller->domid == id ||
           (caller->target != XSIM_DOMID_NONE && caller->target == id);
}

/*
 * The access a caller has to a node.  A domain with a target (a device
 * model stub domain) gets what its target would get, on top of its own.
 */
guint
xsim_perm_for_caller(const XsimCaller *caller,
                     const XsimPerm *perms,
                     guint nperms)
{
    guint mask = 0;
    bool listed = false;
    guint i;

    if (caller->privileged)
        return XSIM_PERM_READ | XSIM_PERM_WRITE | XSIM_PERM_OWNER;
    if (nperms == 0)
        return XSIM_PERM_NONE;
    if (xsim_caller_is(caller, perms[0].id))
        return XSIM_PERM_READ | XSIM_PERM_WRITE | XSIM_PERM_OWNER;

    for (i = 1; i < nperms; i++) {
        if (xsim_caller_is(caller, perms[i].id)) {
            mask |= perms[i].perm;
            listed = true;
        }
    }
    if (!listed)
        mask = perms[0].perm;
    return mask;
}

/*
 * Parse a list of permission strings, strictly: one of 'n', 'r', 'w', 'b'
 * followed by a decimal domain id and nothing else.  Returns 0 or EINVAL.
 */
int
xsim_perms_parse(const char *const *strs,
                 guint nstrs,
                 XsimPerm **perms_r)
{
    g_autofree XsimPerm *perms = NULL;
    guint i;

    if (nstrs == 0)
        return EINVAL;

    perms = g_new0(XsimPerm, nstrs);
    for (i = 0; i < nstrs; i++) {
        const char *s = strs[i];
        const char *digits = s + 1;
        char *end = NULL;
        unsigned long id;

        switch (s[0]) {
        case 'n': perms[i].perm = XSIM_PERM_NONE; break;
        case 'r': perms[i].perm = XSIM_PERM_READ; break;
        case 'w': perms[i].perm = XSIM_PERM_WRITE; break;
        case 'b': perms[i].perm = XSIM_PERM_READ | XSIM_PERM_WRITE; break;
        default:
            return EINVAL;
        }
        /* strtoul accepts signs and spaces: reject them before it sees them. */
        if (!g_ascii_isdigit(digits[0]))
            return EINVAL;
        errno = 0;
        id = strtoul(digits, &end, 10);
        if (errno != 0 || *end != '\0' || id >= XSIM_DOMID_MAX)
            return EINVAL;
        perms[i].id = id;
    }

    *perms_r = g_steal_pointer(&perms);
    return 0;
}

/* Append the wire form: each entry followed by a nul. */
void
xsim_perms_format(GString *out,
                  const XsimPerm *perms,
                  guint nperms)
{
    static const char letters[] = { 'n', 'r', 'w', 'b' };
    guint i;

    for (i = 0; i < nperms; i++) {
        g_string_append_printf(out, "%c%u", letters[perms[i].perm & 3],
                               perms[i].id);
        g_string_append_c(out, '\0');
    }
}
