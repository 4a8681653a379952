/*
 * xs_perms.h: xenstore node permissions and the identity of a requester.
 *
 * A node's permission list is never empty: entry 0 names the owner and
 * gives the access of every domain not listed, the further entries give
 * the access of one domain each (docs/misc/xenstore.txt, "Permissions").
 */
#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#define XSIM_PERM_NONE  0u
#define XSIM_PERM_READ  1u
#define XSIM_PERM_WRITE 2u
/* Not on the wire: the requester may change the permission list. */
#define XSIM_PERM_OWNER 4u

#define XSIM_DOMID_NONE 0xffffffffu

/* Domain ids at and above this one are reserved by Xen (DOMID_FIRST_RESERVED). */
#define XSIM_DOMID_MAX 0x7ff0u

typedef struct {
    uint32_t id;
    uint8_t perm;     /* XSIM_PERM_READ | XSIM_PERM_WRITE */
} XsimPerm;

/* Who is asking: every store operation is checked against this. */
typedef struct {
    uint32_t domid;
    bool privileged;
    uint32_t target;  /* SET_TARGET: acts for this domain too, or XSIM_DOMID_NONE */
} XsimCaller;

guint
xsim_perm_for_caller(const XsimCaller *caller,
                     const XsimPerm *perms,
                     guint nperms);

int
xsim_perms_parse(const char *const *strs,
                 guint nstrs,
                 XsimPerm **perms_r);

void
xsim_perms_format(GString *out,
                  const XsimPerm *perms,
                  guint nperms);
