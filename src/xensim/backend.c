/*
 * backend.c: dom0's backends (first increment: none run yet).
 */
#include <errno.h>

#include "hv_internal.h"

struct _XsimBackends {
    XsimHv *hv;
};

XsimBackends *
xsim_backends_start(XsimHv *hv)
{
    XsimBackends *be = g_new0(XsimBackends, 1);

    be->hv = hv;
    return be;
}

void
xsim_backends_stop(XsimBackends *be)
{
    g_free(be);
}

int
xsim_backends_fault(XsimBackends *be,
                    uint32_t domid,
                    const char *kind,
                    const char *device,
                    int seconds)
{
    return ENOSYS;
}

void
xsim_backends_domain_gone(XsimBackends *be,
                          uint32_t domid)
{
}
