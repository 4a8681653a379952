/*
 * libxl_driver.c: the Xenvirt driver's entry points
 *
 * It holds the tables libvirt calls through (virConnectDriver,
 * virHypervisorDriver, virStateDriver) and the entry points behind them:
 * the state driver (the driver's start and stop), connections, the host,
 * domain lists and lookups, and the domain entry points: definition,
 * queries, lifecycle, console, memory, vcpus, scheduler, events, and the
 * native-format conversions.  Every entry point calls its generated ACL
 * check; every one that changes an existing domain begins with
 * xvDomainBeginJob (look up, ACL, job, running check) and ends its job and
 * API itself.
 *
 * It holds no device attach or detach (libxl_device.c), no domain start,
 * stop, event or reconnect logic (libxl_domain.c), no XML-to-core mapping
 * (libxl_conf.c), no native-format parser (xen_*.c), and no adapter of the
 * core's event loop hooks (libxl_event.c).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include "libxl_conf.h"
#include "libxl_agent.h"
#include "libxl_device.h"
#include "libxl_stats.h"
#include "libxl_domain.h"
#include "libxl_blockjob.h"
#include "libxl_snapshot.h"
#include "virdomainsnapshotobjlist.h"
#include "libxl_driver.h"
#include "libxl_event.h"
#include "libxl_host.h"
#include "libxl_save.h"
#include "xen_xl.h"

#include "datatypes.h"
#include "domain_event.h"
#include "driver.h"
#include "viraccessapicheck.h"
#include "viralloc.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "virstring.h"
#include "virtime.h"
#include "viruuid.h"
#include "virxml.h"
#include "virtypedparam.h"
#include "domain_capabilities.h"
#include "virarch.h"
#include "virbitmap.h"
#include "virutil.h"

#define VIR_FROM_THIS VIR_FROM_LIBXL

VIR_LOG_INIT("xenvirt.libxl_driver");

/* The one driver of this process: set by stateInitialize, cleared by
 * stateCleanup; libvirt calls neither concurrently with any entry point. */
static xvDriver *xv_driver;

/* ---------------------------------------------------------------------
 * State driver
 */

static void
xvCoreLog(void *opaque G_GNUC_UNUSED, xlite_log_level level,
          const char *func, const char *msg)
{
    virLogPriority prio = VIR_LOG_DEBUG;

    switch (level) {
    case XLITE_LOG_DEBUG:
        prio = VIR_LOG_DEBUG;
        break;
    case XLITE_LOG_INFO:
        prio = VIR_LOG_INFO;
        break;
    case XLITE_LOG_WARN:
        prio = VIR_LOG_WARN;
        break;
    case XLITE_LOG_ERROR:
        /* The core returns every error to its caller, and the entry point
         * that failed reports it: logging it louder would say it twice
         * (and a client such as virsh prints warnings on its terminal). */
        prio = VIR_LOG_INFO;
        break;
    }
    virLogMessage(&virLogSelf, prio, __FILE__, __LINE__, func, NULL,
                  "xlite: %s", msg);
}

static void
xvDriverFree(xvDriver *driver)
{
    if (!driver)
        return;
    xvDomainEventsStop(driver);
    if (driver->ctx)
        xvDomainCloseAllChannels(driver);
    g_mutex_clear(&driver->eventWorkerLock);
    virObjectUnref(driver->xmlopt);
    virObjectUnref(driver->caps);
    virObjectUnref(driver->domainEventState);
    virObjectUnref(driver->domains);
    xvEventHooksStop(driver->ctx);
    xlite_ctx_free(driver->ctx);
    xvDriverConfigFree(driver->config);
    g_free(driver);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(xvDriver, xvDriverFree);

static int
xvStateCleanup(void)
{
    xvDriverFree(g_steal_pointer(&xv_driver));
    return 0;
}

static int
xvMakeDirs(const xvDriverConfig *cfg)
{
    const char *dirs[] = {
        cfg->configDir, cfg->domainConfigDir, cfg->stateDir,
        cfg->runDir, cfg->logDir,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(dirs); i++) {
        if (g_mkdir_with_parents(dirs[i], 0700) < 0) {
            virReportSystemError(errno, _("cannot create directory '%s'"),
                                 dirs[i]);
            return -1;
        }
    }
    return 0;
}

/*
 * A daemon started for tests or a demo must not share the system's state
 * directories with a system instance: XENVIRT_ROOT gives it a root of its
 * own, laid out exactly as an embedded root.  It is honoured only in daemon
 * mode; embedded mode has its root from the URI.
 */
static const char *
xvDaemonRoot(void)
{
    const char *root = g_getenv("XENVIRT_ROOT");

    if (!root || !*root)
        return NULL;
    return root;
}

/* The driver's paths and xenvirt.conf: the directories are made. */
static int
xvStateLoadConfig(xvDriver *driver, bool privileged, const char *root)
{
    g_autofree char *confFile = NULL;
    const char *pathRoot = root;

    if (!pathRoot && (pathRoot = xvDaemonRoot()) &&
        !g_path_is_absolute(pathRoot)) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("XENVIRT_ROOT '%s' must be an absolute path"),
                       pathRoot);
        return -1;
    }

    if (!(driver->config = xvDriverConfigNew(privileged, pathRoot)))
        return -1;
    if (xvMakeDirs(driver->config) < 0)
        return -1;

    confFile = g_strdup_printf("%s/xenvirt.conf", driver->config->configDir);
    if (xvDriverConfigLoadFile(driver->config, confFile) < 0)
        return -1;

    if (xvDriverConfigPlaceSimHost(driver->config, privileged) < 0)
        return -1;
    return 0;
}

/* The core's context, hooked into libvirt's event loop, and the host. */
static int
xvStateOpenCore(xvDriver *driver)
{
    xlite_ctx_options opts = { 0 };

    opts.backend = driver->config->backend;
    opts.state_dir = driver->config->stateDir;
    opts.sim_rundir = driver->config->simRundir;
    opts.sim_shared_netns = driver->config->simSharedNetns;
    opts.blockjob_poll = driver->config->blockjobPoll;
    opts.log = xvCoreLog;
    if (xlite_ctx_new(&opts, &driver->ctx) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot initialise the Xen core library: %s"),
                       xlite_errmsg());
        return -1;
    }

    /* The core's fds and timers live in libvirt's event loop, so its
     * events (a guest's shutdown, a domain's death) arrive between calls. */
    if (xvEventHooksInstall(driver->ctx) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot hook the Xen core library into the event loop: %s"),
                       xlite_errmsg());
        return -1;
    }

    if (xlite_host_get_info(driver->ctx, &driver->hostInfo) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot get the Xen host's information: %s"),
                       xlite_errmsg());
        return -1;
    }
    return 0;
}

/* The host's capabilities, once: its cpus and memory do not change under
 * a running Xen.  A host whose topology cannot be read is described
 * without NUMA cells (libvirt's driver fails to start). */
static virCaps *
xvStateMakeCapabilities(xvDriver *driver)
{
    xlite_host_topology *topo = NULL;
    virCaps *caps;

    if (xlite_host_get_topology(driver->ctx, &topo) < 0)
        VIR_WARN("cannot get the Xen host's topology: %s", xlite_errmsg());
    caps = xvCapabilitiesNew(&driver->hostInfo, topo);
    xlite_host_topology_free(topo);
    return caps;
}

static virDrvStateInitResult
xvStateInitialize(bool privileged,
                  const char *root,
                  bool monolithic G_GNUC_UNUSED,
                  virStateInhibitCallback callback G_GNUC_UNUSED,
                  void *opaque G_GNUC_UNUSED)
{
    g_autoptr(xvDriver) driver = g_new0(xvDriver, 1);

    g_mutex_init(&driver->eventWorkerLock);
    driver->privileged = privileged;
    driver->embedded = root != NULL;

    if (xvStateLoadConfig(driver, privileged, root) < 0 ||
        xvStateOpenCore(driver) < 0)
        return VIR_DRV_STATE_INIT_ERROR;

    if (!(driver->caps = xvStateMakeCapabilities(driver)))
        return VIR_DRV_STATE_INIT_ERROR;

    if (!(driver->xmlopt = xvDomainXMLOptionNew(driver)))
        return VIR_DRV_STATE_INIT_ERROR;

    if (!(driver->domains = virDomainObjListNew()))
        return VIR_DRV_STATE_INIT_ERROR;

    if (!(driver->domainEventState = virObjectEventStateNew()))
        return VIR_DRV_STATE_INIT_ERROR;

    if (xvDomainEventsInit(driver) < 0)
        return VIR_DRV_STATE_INIT_ERROR;

    /* The running domains first (their live status), then the persistent
     * definitions, with their autostart marks. */
    if (virDomainObjListLoadAllConfigs(driver->domains,
                                       driver->config->runDir, NULL,
                                       true, driver->xmlopt, NULL, NULL) < 0)
        return VIR_DRV_STATE_INIT_ERROR;
    if (virDomainObjListLoadAllConfigs(driver->domains,
                                       driver->config->domainConfigDir,
                                       driver->config->autostartDir,
                                       false, driver->xmlopt, NULL, NULL) < 0)
        return VIR_DRV_STATE_INIT_ERROR;
    xvSnapshotLoadAll(driver);
    virDomainObjListForEach(driver->domains, false, xvDomainManagedSaveLoad,
                            driver);
    xvDomainReclaimStarts(driver);
    xvDomainReconnectAll(driver);

    VIR_INFO("Xenvirt driver initialised (%s, %s backend, state in %s)",
             driver->embedded ? "embedded" : "daemon",
             xlite_backend_name(xlite_ctx_backend(driver->ctx)),
             driver->config->stateDir);

    xv_driver = g_steal_pointer(&driver);
    xvDomainAutostartAll(xv_driver);
    return VIR_DRV_STATE_INIT_COMPLETE;
}

/* ---------------------------------------------------------------------
 * Connections
 */

static int
xvConnectURIProbe(char **uri)
{
    if (!xv_driver || xv_driver->embedded)
        return 0;
    *uri = g_strdup(xv_driver->privileged ? "xen:///system" : "xen:///session");
    return 1;
}

static virDrvOpenStatus
xvConnectOpen(virConnectPtr conn,
              virConnectAuthPtr auth G_GNUC_UNUSED,
              virConf *conf G_GNUC_UNUSED,
              unsigned int flags)
{
    const char *path = conn->uri->path ? conn->uri->path : "";

    virCheckFlags(VIR_CONNECT_RO, VIR_DRV_OPEN_ERROR);

    if (!xv_driver) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("the Xen state driver is not active"));
        return VIR_DRV_OPEN_ERROR;
    }

    if (xv_driver->embedded) {
        const char *root = virURIGetParam(conn->uri, "root");

        if (!root)
            return VIR_DRV_OPEN_ERROR;
        if (STRNEQ(path, "/embed")) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("unexpected Xen URI path '%s' in an embedded driver, try xen:///embed?root=%s"),
                           path, xv_driver->config->root);
            return VIR_DRV_OPEN_ERROR;
        }
        if (STRNEQ(root, xv_driver->config->root)) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("cannot open the embedded Xen driver at '%s': this process already runs it at '%s'"),
                           root, xv_driver->config->root);
            return VIR_DRV_OPEN_ERROR;
        }
    } else {
        const char *expected = xv_driver->privileged ? "/system" : "/session";

        if (STRNEQ(path, expected)) {
            virReportError(VIR_ERR_INTERNAL_ERROR,
                           _("unexpected Xen URI path '%s', try xen://%s"),
                           path, expected);
            return VIR_DRV_OPEN_ERROR;
        }
    }

    if (virConnectOpenEnsureACL(conn) < 0)
        return VIR_DRV_OPEN_ERROR;

    conn->privateData = xv_driver;
    return VIR_DRV_OPEN_SUCCESS;
}

static int
xvConnectClose(virConnectPtr conn)
{
    conn->privateData = NULL;
    return 0;
}

static const char *
xvConnectGetType(virConnectPtr conn)
{
    if (virConnectGetTypeEnsureACL(conn) < 0)
        return NULL;
    return XV_DRIVER_NAME;
}

static int
xvConnectGetVersion(virConnectPtr conn, unsigned long *version)
{
    xvDriver *driver = conn->privateData;

    if (virConnectGetVersionEnsureACL(conn) < 0)
        return -1;
    *version = xvHostVersion(&driver->hostInfo);
    return 0;
}

static char *
xvConnectGetHostname(virConnectPtr conn)
{
    if (virConnectGetHostnameEnsureACL(conn) < 0)
        return NULL;
    return virGetHostname();
}

static int
xvConnectGetMaxVcpus(virConnectPtr conn, const char *type)
{
    xvDriver *driver = conn->privateData;

    if (virConnectGetMaxVcpusEnsureACL(conn) < 0)
        return -1;

    if (type && STRCASENEQ(type, "xen")) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unknown hypervisor type '%s', expected 'xen'"), type);
        return -1;
    }
    return driver->hostInfo.max_vcpus;
}

static char *
xvConnectGetCapabilities(virConnectPtr conn)
{
    xvDriver *driver = conn->privateData;

    if (virConnectGetCapabilitiesEnsureACL(conn) < 0)
        return NULL;
    return virCapabilitiesFormatXML(driver->caps);
}

static int
xvConnectIsEncrypted(virConnectPtr conn G_GNUC_UNUSED)
{
    /* Not encrypted, but local: the driver is never reached remotely. */
    return 0;
}

static int
xvConnectIsSecure(virConnectPtr conn G_GNUC_UNUSED)
{
    return 1;
}

static int
xvConnectIsAlive(virConnectPtr conn G_GNUC_UNUSED)
{
    return 1;
}

static int
xvConnectSupportsFeature(virConnectPtr conn, int feature)
{
    int supported;

    if (virConnectSupportsFeatureEnsureACL(conn) < 0)
        return -1;

    if (virDriverFeatureIsGlobal(feature, &supported))
        return supported;

    switch ((virDrvFeature) feature) {
    case VIR_DRV_FEATURE_TYPED_PARAM_STRING:
        return 1;
    case VIR_DRV_FEATURE_REMOTE:
    case VIR_DRV_FEATURE_PROGRAM_KEEPALIVE:
    case VIR_DRV_FEATURE_REMOTE_CLOSE_CALLBACK:
    case VIR_DRV_FEATURE_REMOTE_EVENT_CALLBACK:
    case VIR_DRV_FEATURE_NETWORK_UPDATE_HAS_CORRECT_ORDER:
    case VIR_DRV_FEATURE_FD_PASSING:
    case VIR_DRV_FEATURE_MIGRATION_V1:
    case VIR_DRV_FEATURE_MIGRATION_V2:
    case VIR_DRV_FEATURE_MIGRATION_V3:
    case VIR_DRV_FEATURE_MIGRATION_P2P:
    case VIR_DRV_FEATURE_MIGRATION_DIRECT:
    case VIR_DRV_FEATURE_MIGRATION_OFFLINE:
    case VIR_DRV_FEATURE_MIGRATION_PARAMS:
    case VIR_DRV_FEATURE_MIGRATE_CHANGE_PROTECTION:
    case VIR_DRV_FEATURE_XML_MIGRATABLE:
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------------
 * Host
 */

static int
xvNodeGetInfo(virConnectPtr conn, virNodeInfoPtr info)
{
    xvDriver *driver = conn->privateData;
    const xlite_host_info *host = &driver->hostInfo;

    if (virNodeGetInfoEnsureACL(conn) < 0)
        return -1;

    memset(info, 0, sizeof(*info));
    if (virStrcpyStatic(info->model, host->arch) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("host architecture '%s' is too long"), host->arch);
        return -1;
    }
    info->memory = host->total_kib;
    info->cpus = host->nr_cpus;
    info->mhz = host->cpu_mhz;
    info->nodes = host->numa_nodes;
    info->sockets = host->sockets;
    info->cores = host->cores_per_socket;
    info->threads = host->threads_per_core;
    return 0;
}

static unsigned long long
xvNodeGetFreeMemory(virConnectPtr conn)
{
    xvDriver *driver = conn->privateData;
    xlite_host_info host;

    if (virNodeGetFreeMemoryEnsureACL(conn) < 0)
        return 0;

    /* Free memory changes as domains come and go: ask the host now. */
    if (xlite_host_get_info(driver->ctx, &host) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot get the Xen host's free memory: %s"),
                       xlite_errmsg());
        return 0;
    }
    return host.free_kib * 1024;
}

/* The arguments are checked as libvirt's driver checks them, with its
 * messages.  As there, any arch libvirt knows is described, whether or
 * not this host runs guests of it: the answer says what the driver
 * supports for such a guest, and a client asking about a foreign arch
 * gets a description, not an error. */
static char *
xvConnectGetDomainCapabilities(virConnectPtr conn, const char *emulatorbin,
                               const char *archStr, const char *machine,
                               const char *virttypeStr, unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autoptr(virDomainCaps) domCaps = NULL;
    virArch arch = driver->caps->host.arch;

    virCheckFlags(0, NULL);

    if (virConnectGetDomainCapabilitiesEnsureACL(conn) < 0)
        return NULL;

    if (virttypeStr &&
        virDomainVirtTypeFromString(virttypeStr) != VIR_DOMAIN_VIRT_XEN) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unknown virttype: %s"), virttypeStr);
        return NULL;
    }
    if (archStr && (arch = virArchFromString(archStr)) == VIR_ARCH_NONE) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unknown architecture: %s"), archStr);
        return NULL;
    }
    if (!machine)
        machine = "xenpv";
    if (STRNEQ(machine, "xenpv") && STRNEQ(machine, "xenpvh") &&
        STRNEQ(machine, "xenfv")) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("Xen only supports 'xenpv', 'xenpvh' and 'xenfv' machines"));
        return NULL;
    }

    if (!(domCaps = xvDomainCapsNew(emulatorbin, machine, arch)))
        return NULL;
    return virDomainCapsFormat(domCaps);
}

/* ---------------------------------------------------------------------
 * Domain lists
 */

static int
xvConnectListDomains(virConnectPtr conn, int *ids, int nids)
{
    xvDriver *driver = conn->privateData;

    if (virConnectListDomainsEnsureACL(conn) < 0)
        return -1;
    return virDomainObjListGetActiveIDs(driver->domains, ids, nids,
                                        virConnectListDomainsCheckACL, conn);
}

static int
xvConnectNumOfDomains(virConnectPtr conn)
{
    xvDriver *driver = conn->privateData;

    if (virConnectNumOfDomainsEnsureACL(conn) < 0)
        return -1;
    return virDomainObjListNumOfDomains(driver->domains, true,
                                        virConnectNumOfDomainsCheckACL, conn);
}

static int
xvConnectListDefinedDomains(virConnectPtr conn, char **const names,
                            int maxnames)
{
    xvDriver *driver = conn->privateData;

    if (virConnectListDefinedDomainsEnsureACL(conn) < 0)
        return -1;
    return virDomainObjListGetInactiveNames(driver->domains, names, maxnames,
                                            virConnectListDefinedDomainsCheckACL,
                                            conn);
}

static int
xvConnectNumOfDefinedDomains(virConnectPtr conn)
{
    xvDriver *driver = conn->privateData;

    if (virConnectNumOfDefinedDomainsEnsureACL(conn) < 0)
        return -1;
    return virDomainObjListNumOfDomains(driver->domains, false,
                                        virConnectNumOfDefinedDomainsCheckACL,
                                        conn);
}

static int
xvConnectListAllDomains(virConnectPtr conn, virDomainPtr **domains,
                        unsigned int flags)
{
    xvDriver *driver = conn->privateData;

    virCheckFlags(VIR_CONNECT_LIST_DOMAINS_FILTERS_ALL, -1);

    if (virConnectListAllDomainsEnsureACL(conn) < 0)
        return -1;
    return virDomainObjListExport(driver->domains, conn, domains,
                                  virConnectListAllDomainsCheckACL, flags);
}

/* ---------------------------------------------------------------------
 * Domains: lookup, definition, queries
 *
 * Queries read the domain object under its lock and take no job, so they
 * answer at once even while a long operation (a shutdown waiting for the
 * guest, a block-job abort) holds the domain's job with the lock dropped.
 */

virDomainObj *
xvDomObjFromDomain(virDomainPtr dom)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    if (!(vm = virDomainObjListFindByUUID(driver->domains, dom->uuid))) {
        virUUIDFormat(dom->uuid, uuidstr);
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching uuid '%s' (%s)"),
                       uuidstr, dom->name);
    }
    return vm;
}

virDomainObj *
xvDomObjFromDomainACL(virDomainPtr dom, xvDomainACLCheck acl,
                      xvDomainACLCheckFlags aclFlags, unsigned int flags)
{
    virDomainObj *vm;

    if (!(vm = xvDomObjFromDomain(dom)))
        return NULL;
    if ((acl ? acl(dom->conn, vm->def)
             : aclFlags(dom->conn, vm->def, flags)) < 0)
        virDomainObjEndAPI(&vm);
    return vm;
}

virDomainObj *
xvDomainBeginJob(virDomainPtr dom, xvDomainACLCheck acl,
                 xvDomainACLCheckFlags aclFlags, unsigned int flags,
                 unsigned int begin)
{
    virDomainObj *vm;

    if (!(vm = xvDomObjFromDomainACL(dom, acl, aclFlags, flags)))
        return NULL;
    if (virDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0)
        goto error;
    if ((begin & XV_DOMAIN_BEGIN_ACTIVE) && !virDomainObjIsActive(vm)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("domain '%s' is not running"), vm->def->name);
        virDomainObjEndJob(vm);
        goto error;
    }
    return vm;

 error:
    virDomainObjEndAPI(&vm);
    return NULL;
}

static virDomainPtr
xvDomainLookupByID(virConnectPtr conn, int id)
{
    xvDriver *driver = conn->privateData;
    virDomainObj *vm;
    virDomainPtr dom = NULL;

    if (!(vm = virDomainObjListFindByID(driver->domains, id))) {
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching id %d"), id);
        return NULL;
    }
    if (virDomainLookupByIDEnsureACL(conn, vm->def) == 0)
        dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);
    virDomainObjEndAPI(&vm);
    return dom;
}

static virDomainPtr
xvDomainLookupByUUID(virConnectPtr conn, const unsigned char *uuid)
{
    xvDriver *driver = conn->privateData;
    virDomainObj *vm;
    virDomainPtr dom = NULL;
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    if (!(vm = virDomainObjListFindByUUID(driver->domains, uuid))) {
        virUUIDFormat(uuid, uuidstr);
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching uuid '%s'"), uuidstr);
        return NULL;
    }
    if (virDomainLookupByUUIDEnsureACL(conn, vm->def) == 0)
        dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);
    virDomainObjEndAPI(&vm);
    return dom;
}

static virDomainPtr
xvDomainLookupByName(virConnectPtr conn, const char *name)
{
    xvDriver *driver = conn->privateData;
    virDomainObj *vm;
    virDomainPtr dom = NULL;

    if (!(vm = virDomainObjListFindByName(driver->domains, name))) {
        virReportError(VIR_ERR_NO_DOMAIN,
                       _("no domain with matching name '%s'"), name);
        return NULL;
    }
    if (virDomainLookupByNameEnsureACL(conn, vm->def) == 0)
        dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);
    virDomainObjEndAPI(&vm);
    return dom;
}

/*
 * libvirt's parser makes every vcpu that <vcpu> asks for before any check
 * of ours runs, and it reads "-2147483648" as 2147483648: one definition
 * could make the daemon allocate without bound.  So the count is bounded
 * first, from the document itself.  A document libxml2 cannot read, or a
 * count that is not a number, is left to libvirt's parser to refuse.
 */
static int
xvDomainDefCheckVcpuCount(const char *xml)
{
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autofree char *max = NULL;
    long long n;

    if (!(doc = xmlReadMemory(xml, strlen(xml), "domain.xml", NULL,
                              XML_PARSE_NONET | XML_PARSE_NOERROR |
                              XML_PARSE_NOWARNING)) ||
        !(ctxt = xmlXPathNewContext(doc)))
        return 0;
    ctxt->node = xmlDocGetRootElement(doc);
    if (!(max = virXPathString("string(/domain/vcpu[1])", ctxt)) ||
        virStrToLong_ll(max, NULL, 10, &n) < 0)
        return 0;
    if (n < 1 || n > XLITE_MAX_VCPUS) {
        virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                       _("maximum vcpus count '%s' is outside 1..%d"),
                       max, XLITE_MAX_VCPUS);
        return -1;
    }
    return 0;
}

virDomainDef *
xvDomainDefParse(xvDriver *driver, const char *xml, unsigned int parseFlags)
{
    g_autoptr(virDomainDef) def = NULL;
    xlite_domain_config cfg;
    int rc;

    if (xvDomainDefCheckVcpuCount(xml) < 0)
        return NULL;
    if (!(def = virDomainDefParseString(xml, driver->xmlopt, NULL, parseFlags)))
        return NULL;
    if (virXMLCheckIllegalChars("name", def->name, "\n") < 0)
        return NULL;
    /* The host's own domain has that name, and the uuid of zeros, as in
     * the domain list of libvirt's Xen driver, which refuses it so. */
    if (STREQ(def->name, XV_DOM0_NAME)) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("domain '%s' already exists with uuid %s"),
                       def->name, "00000000-0000-0000-0000-000000000000");
        return NULL;
    }

    xlite_domain_config_init(&cfg);
    rc = xvDomainConfigFromDef(def, &cfg, 0);
    xlite_domain_config_dispose(&cfg);
    if (rc < 0)
        return NULL;
    return g_steal_pointer(&def);
}

/*
 * Entry points that replace the definition of a domain that may exist
 * (define, create from XML) do it under that domain's job: a start in
 * progress runs with the object unlocked and not yet active, and would
 * otherwise have its definition swapped under it (the new one taken for
 * the live one, and lost when the domain stops).
 *
 * xvDomainBeginRedefine sets @existing to the domain of @uuid with its
 * MODIFY job begun and its lock dropped, so that virDomainObjListAdd can
 * find and lock it, or to NULL if there is none.  xvDomainEndRedefine
 * ends that job and drops the reference.
 */
int
xvDomainBeginRedefine(xvDriver *driver, const unsigned char *uuid,
                      virDomainObj **existing)
{
    virDomainObj *vm;

    *existing = NULL;
    for (;;) {
        if (!(vm = virDomainObjListFindByUUID(driver->domains, uuid)))
            return 0;
        if (virDomainObjBeginJob(vm, VIR_JOB_MODIFY) == 0)
            break;
        if (!vm->removing) {
            virDomainObjEndAPI(&vm);
            return -1;
        }
        /* A transient domain that stopped while we waited for its job is
         * gone: what is defined is a new domain, not an error. */
        virResetLastError();
        virDomainObjEndAPI(&vm);
    }
    virObjectUnlock(vm);
    *existing = vm;
    return 0;
}

void
xvDomainEndRedefine(virDomainObj **existing)
{
    if (!*existing)
        return;
    virObjectLock(*existing);
    virDomainObjEndJob(*existing);
    virDomainObjEndAPI(existing);
}

static virDomainPtr
xvDomainDefineXMLFlags(virConnectPtr conn, const char *xml, unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(virDomainDef) oldDef = NULL;
    virDomainObj *existing = NULL;
    virDomainObj *vm = NULL;
    virDomainPtr dom = NULL;
    virObjectEvent *event = NULL;
    unsigned int parseFlags = VIR_DOMAIN_DEF_PARSE_INACTIVE;

    virCheckFlags(VIR_DOMAIN_DEFINE_VALIDATE, NULL);

    if (flags & VIR_DOMAIN_DEFINE_VALIDATE)
        parseFlags |= VIR_DOMAIN_DEF_PARSE_VALIDATE_SCHEMA;

    if (!(def = xvDomainDefParse(driver, xml, parseFlags)))
        goto cleanup;

    if (virDomainDefineXMLFlagsEnsureACL(conn, def) < 0)
        goto cleanup;

    if (xvDomainBeginRedefine(driver, def->uuid, &existing) < 0)
        goto cleanup;

    if (!(vm = virDomainObjListAdd(driver->domains, &def, driver->xmlopt,
                                   0, &oldDef)))
        goto cleanup;
    vm->persistent = 1;

    if (virDomainDefSave(vm->newDef ? vm->newDef : vm->def, driver->xmlopt,
                         driver->config->domainConfigDir) < 0) {
        if (oldDef) {
            /* Put the previous definition back: nothing half-applied. */
            virDomainObjAssignDef(vm, &oldDef, false, NULL);
        } else {
            virDomainObjListRemove(driver->domains, vm);
        }
        goto cleanup;
    }

    dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);
    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_DEFINED,
                                              oldDef ? VIR_DOMAIN_EVENT_DEFINED_UPDATED
                                                     : VIR_DOMAIN_EVENT_DEFINED_ADDED);

 cleanup:
    virDomainObjEndAPI(&vm);
    xvDomainEndRedefine(&existing);
    virObjectEventStateQueue(driver->domainEventState, event);
    return dom;
}

static virDomainPtr
xvDomainDefineXML(virConnectPtr conn, const char *xml)
{
    return xvDomainDefineXMLFlags(conn, xml, 0);
}

static int
xvDomainUndefineFlags(virDomainPtr dom, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virObjectEvent *event = NULL;
    g_autofree char *managed = NULL;
    int nsnapshots = 0;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                  VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA, -1);

    /* A job, like every change: a start in progress runs with the object
     * unlocked and still looks inactive, and removing the object under it
     * would leave a running domain that no list holds. */
    if (!(vm = xvDomainBeginJob(dom, virDomainUndefineFlagsEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;

    if (!vm->persistent) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("cannot undefine a transient domain"));
        goto endjob;
    }
    /* Snapshot metadata goes with an inactive domain only if asked (a
     * running one keeps it until it stops), as in libvirt's QEMU driver. */
    if (!virDomainObjIsActive(vm) &&
        (nsnapshots = virDomainSnapshotObjListNum(vm->snapshots, NULL, 0)) &&
        !(flags & VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("cannot delete inactive domain with %d snapshots"),
                       nsnapshots);
        goto endjob;
    }

    /* As libvirt's Xen driver: the managed save image goes only when the
     * caller says.  Checked before anything goes, so a refusal changes
     * nothing. */
    managed = xvDomainManagedSavePath(driver, vm);
    if (virFileExists(managed)) {
        if (!(flags & VIR_DOMAIN_UNDEFINE_MANAGED_SAVE)) {
            virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                           _("Refusing to undefine while domain managed save image exists"));
            goto endjob;
        }
        if (unlink(managed) < 0) {
            virReportSystemError(errno, _("Failed to remove domain managed save image '%s'"),
                                 managed);
            goto endjob;
        }
        vm->hasManagedSave = false;
    }
    if (nsnapshots)
        xvSnapshotDiscardAll(driver, vm);

    if (virDomainDeleteConfig(driver->config->domainConfigDir,
                              driver->config->autostartDir, vm) < 0)
        goto endjob;

    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_UNDEFINED,
                                              VIR_DOMAIN_EVENT_UNDEFINED_REMOVED);

    if (virDomainObjIsActive(vm))
        vm->persistent = 0;
    else
        virDomainObjListRemove(driver->domains, vm);
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}

static int
xvDomainUndefine(virDomainPtr dom)
{
    return xvDomainUndefineFlags(dom, 0);
}

static char *
xvDomainGetXMLDesc(virDomainPtr dom, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    char *ret = NULL;

    virCheckFlags(VIR_DOMAIN_XML_COMMON_FLAGS, NULL);

    if (!(vm = xvDomObjFromDomain(dom)))
        return NULL;

    if (virDomainGetXMLDescEnsureACL(dom->conn, vm->def, flags) == 0)
    {
        ret = virDomainDefFormat((flags & VIR_DOMAIN_XML_INACTIVE) && vm->newDef
                                 ? vm->newDef : vm->def,
                                 driver->xmlopt,
                                 virDomainDefFormatConvertXMLFlags(flags));
        if (!(flags & VIR_DOMAIN_XML_INACTIVE))
            ret = xvAgentFormatState(vm, ret);
    }
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainGetInfo(virDomainPtr dom, virDomainInfoPtr info)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;

    if (virDomainGetInfoEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;

    info->state = virDomainObjGetState(vm, NULL);
    info->maxMem = virDomainDefGetMemoryTotal(vm->def);
    info->nrVirtCpu = virDomainDefGetVcpus(vm->def);
    if (!virDomainObjIsActive(vm)) {
        info->memory = vm->def->mem.cur_balloon;
        info->cpuTime = 0;
    } else {
        /* As libvirt's Xen driver: the memory the domain holds now and
         * its cpu time, from the hypervisor (on the core's query path,
         * which no build of another domain holds up). */
        xvDriver *driver = dom->conn->privateData;
        xlite_dominfo dominfo;

        if (xlite_domain_stat(driver->ctx, vm->def->id, &dominfo) < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot get the state of domain '%s': %s"),
                           vm->def->name, xlite_errmsg());
            goto cleanup;
        }
        info->memory = dominfo.cur_memkb;
        info->cpuTime = dominfo.cpu_time_ns;
    }
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainGetState(virDomainPtr dom, int *state, int *reason, unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;

    if (virDomainGetStateEnsureACL(dom->conn, vm->def) == 0) {
        *state = virDomainObjGetState(vm, reason);
        ret = 0;
    }
    virDomainObjEndAPI(&vm);
    return ret;
}

static char *
xvDomainGetOSType(virDomainPtr dom)
{
    virDomainObj *vm;
    char *ret = NULL;

    if (!(vm = xvDomObjFromDomain(dom)))
        return NULL;

    if (virDomainGetOSTypeEnsureACL(dom->conn, vm->def) == 0)
        ret = g_strdup(virDomainOSTypeToString(vm->def->os.type));
    virDomainObjEndAPI(&vm);
    return ret;
}

static unsigned long long
xvDomainGetMaxMemory(virDomainPtr dom)
{
    virDomainObj *vm;
    unsigned long long ret = 0;

    if (!(vm = xvDomObjFromDomain(dom)))
        return 0;

    if (virDomainGetMaxMemoryEnsureACL(dom->conn, vm->def) == 0)
        ret = virDomainDefGetMemoryTotal(vm->def);
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainIsActive(virDomainPtr dom)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainIsActiveEnsureACL(dom->conn, vm->def) == 0)
        ret = virDomainObjIsActive(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainIsPersistent(virDomainPtr dom)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainIsPersistentEnsureACL(dom->conn, vm->def) == 0)
        ret = vm->persistent;
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainIsUpdated(virDomainPtr dom)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainIsUpdatedEnsureACL(dom->conn, vm->def) == 0)
        ret = vm->updated;
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainGetAutostart(virDomainPtr dom, int *autostart)
{
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetAutostartEnsureACL(dom->conn, vm->def) == 0) {
        *autostart = vm->autostart;
        ret = 0;
    }
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainSetAutostart(virDomainPtr dom, int autostart)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    g_autofree char *configFile = NULL;
    g_autofree char *linkFile = NULL;
    int ret = -1;

    if (!(vm = xvDomainBeginJob(dom, virDomainSetAutostartEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;

    if (!vm->persistent) {
        virReportError(VIR_ERR_OPERATION_INVALID, "%s",
                       _("cannot set autostart for a transient domain"));
        goto endjob;
    }

    autostart = (autostart != 0);
    if (vm->autostart != autostart) {
        configFile = virDomainConfigFile(driver->config->domainConfigDir,
                                         vm->def->name);
        linkFile = virDomainConfigFile(driver->config->autostartDir,
                                       vm->def->name);
        if (autostart) {
            if (g_mkdir_with_parents(driver->config->autostartDir, 0700) < 0) {
                virReportSystemError(errno, _("cannot create autostart directory '%s'"),
                                     driver->config->autostartDir);
                goto endjob;
            }
            if (symlink(configFile, linkFile) < 0) {
                virReportSystemError(errno, _("failed to create symlink '%s' to '%s'"),
                                     linkFile, configFile);
                goto endjob;
            }
        } else if (unlink(linkFile) < 0 && errno != ENOENT && errno != ENOTDIR) {
            virReportSystemError(errno, _("failed to delete symlink '%s'"),
                                 linkFile);
            goto endjob;
        }
        vm->autostart = autostart;
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainSetMetadata(virDomainPtr dom, int type, const char *metadata,
                    const char *key, const char *uri, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virObjectEvent *event = NULL;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (!(vm = xvDomainBeginJob(dom, NULL, virDomainSetMetadataEnsureACL, flags,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;

    ret = virDomainObjSetMetadata(vm, type, metadata, key, uri,
                                  driver->xmlopt, driver->config->runDir,
                                  driver->config->domainConfigDir, flags);
    if (ret == 0)
        event = virDomainEventMetadataChangeNewFromObj(vm, type, uri);

    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}

static char *
xvDomainGetMetadata(virDomainPtr dom, int type, const char *uri,
                    unsigned int flags)
{
    virDomainObj *vm;
    char *ret = NULL;

    if (!(vm = xvDomObjFromDomain(dom)))
        return NULL;
    if (virDomainGetMetadataEnsureACL(dom->conn, vm->def) == 0)
        ret = virDomainObjGetMetadata(vm, type, uri, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Domains: lifecycle
 */

static int
xvDomainCreateWithFlags(virDomainPtr dom, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virObjectEvent *event = NULL;
    bool restored;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_START_PAUSED, -1);

    if (!(vm = xvDomainBeginJob(dom, virDomainCreateWithFlagsEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;

    restored = vm->hasManagedSave;
    if (xvDomainStart(driver, vm, flags & VIR_DOMAIN_START_PAUSED,
                      VIR_DOMAIN_RUNNING_BOOTED) < 0)
        goto endjob;

    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                              restored ?
                                              VIR_DOMAIN_EVENT_STARTED_RESTORED :
                                              VIR_DOMAIN_EVENT_STARTED_BOOTED);
    dom->id = vm->def->id;
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}

static int
xvDomainCreate(virDomainPtr dom)
{
    return xvDomainCreateWithFlags(dom, 0);
}

static virDomainPtr
xvDomainCreateXML(virConnectPtr conn, const char *xml, unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;
    virDomainObj *existing = NULL;
    virDomainObj *vm = NULL;
    virDomainPtr dom = NULL;
    virObjectEvent *event = NULL;
    unsigned int parseFlags = VIR_DOMAIN_DEF_PARSE_INACTIVE;

    virCheckFlags(VIR_DOMAIN_START_PAUSED | VIR_DOMAIN_START_VALIDATE, NULL);

    if (flags & VIR_DOMAIN_START_VALIDATE)
        parseFlags |= VIR_DOMAIN_DEF_PARSE_VALIDATE_SCHEMA;

    if (!(def = xvDomainDefParse(driver, xml, parseFlags)))
        goto cleanup;

    if (virDomainCreateXMLEnsureACL(conn, def) < 0)
        goto cleanup;

    if (xvDomainBeginRedefine(driver, def->uuid, &existing) < 0)
        goto cleanup;

    if (!(vm = virDomainObjListAdd(driver->domains, &def, driver->xmlopt,
                                   VIR_DOMAIN_OBJ_LIST_ADD_LIVE |
                                   VIR_DOMAIN_OBJ_LIST_ADD_CHECK_LIVE, NULL)))
        goto cleanup;

    if (existing) {
        /* The same object, its job ours already: from here the job ends
         * through @vm. */
        virObjectUnref(g_steal_pointer(&existing));
    } else if (virDomainObjBeginJob(vm, VIR_JOB_MODIFY) < 0) {
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto cleanup;
    }

    if (xvDomainStart(driver, vm, flags & VIR_DOMAIN_START_PAUSED,
                      VIR_DOMAIN_RUNNING_BOOTED) < 0) {
        if (!vm->persistent)
            virDomainObjListRemove(driver->domains, vm);
        goto endjob;
    }

    event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_STARTED,
                                              VIR_DOMAIN_EVENT_STARTED_BOOTED);
    dom = virGetDomain(conn, vm->def->name, vm->def->uuid, vm->def->id);

 endjob:
    virDomainObjEndJob(vm);
 cleanup:
    virDomainObjEndAPI(&vm);
    xvDomainEndRedefine(&existing);
    virObjectEventStateQueue(driver->domainEventState, event);
    return dom;
}

/* Suspend and resume: pause or unpause the running domain.  Asking for the
 * state it is already in succeeds and emits no event. */
static int
xvDomainSetPaused(virDomainPtr dom, bool pause, xvDomainACLCheck acl)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virObjectEvent *event = NULL;
    int ret = -1;

    if (!(vm = xvDomainBeginJob(dom, acl, NULL, 0, XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;

    if ((virDomainObjGetState(vm, NULL) == VIR_DOMAIN_PAUSED) != pause) {
        int rc = pause ? xlite_domain_pause(driver->ctx, vm->def->id)
                       : xlite_domain_unpause(driver->ctx, vm->def->id);

        if (rc < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           pause ? _("failed to suspend domain '%s': %s")
                                 : _("failed to resume domain '%s': %s"),
                           vm->def->name, xlite_errmsg());
            goto endjob;
        }
        if (pause) {
            virDomainObjSetState(vm, VIR_DOMAIN_PAUSED, VIR_DOMAIN_PAUSED_USER);
            event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_SUSPENDED,
                                                      VIR_DOMAIN_EVENT_SUSPENDED_PAUSED);
        } else {
            virDomainObjSetState(vm, VIR_DOMAIN_RUNNING, VIR_DOMAIN_RUNNING_UNPAUSED);
            event = virDomainEventLifecycleNewFromObj(vm, VIR_DOMAIN_EVENT_RESUMED,
                                                      VIR_DOMAIN_EVENT_RESUMED_UNPAUSED);
        }
        ignore_value(virDomainObjSave(vm, driver->xmlopt, driver->config->runDir));
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    virObjectEventStateQueue(driver->domainEventState, event);
    return ret;
}

static int
xvDomainSuspend(virDomainPtr dom)
{
    return xvDomainSetPaused(dom, true, virDomainSuspendEnsureACL);
}

static int
xvDomainResume(virDomainPtr dom)
{
    return xvDomainSetPaused(dom, false, virDomainResumeEnsureACL);
}

/* The guest is asked; the call does not wait for it (libvirt's contract):
 * the shutdown event arrives when the guest has done it. */
static void
xvShutdownRequestDone(xlite_ctx *ctx G_GNUC_UNUSED, int rc, void *opaque)
{
    g_autofree char *name = opaque;

    if (rc < 0)
        VIR_WARN("domain '%s' did not act on the shutdown request: %s",
                 name, xlite_errmsg());
}

static int
xvDomainRequestShutdown(virDomainPtr dom, unsigned int flags,
                        xlite_shutdown_request request,
                        xvDomainACLCheckFlags acl)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    int ret = -1;

    if (!(vm = xvDomainBeginJob(dom, NULL, acl, flags, XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;

    {
        /* How long the core keeps watching for the guest to comply; the
         * request itself is not withdrawn when this runs out. */
        xlite_async_how how = {
            .callback = xvShutdownRequestDone,
            .opaque = g_strdup(vm->def->name),
        };

        if (xlite_domain_shutdown(driver->ctx, vm->def->id, request,
                                  300 * G_USEC_PER_SEC, &how) < 0) {
            g_free(how.opaque);
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("failed to ask domain '%s' to shut down: %s"),
                           vm->def->name, xlite_errmsg());
            goto endjob;
        }
    }
    ret = 0;

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

/*
 * libvirt's libxl driver takes only VIR_..._PARAVIRT: the default (0) keeps
 * its meaning, the PV request.  GUEST_AGENT asks the guest agent, and only
 * it; GUEST_AGENT | PARAVIRT asks the agent and falls back to the PV
 * request when the agent is not there or fails, as libvirt's QEMU driver
 * falls back to ACPI.
 */
static int
xvDomainShutdownOrReboot(virDomainPtr dom, unsigned int flags, bool reboot,
                         unsigned int agentFlag, unsigned int pvFlag,
                         xvDomainACLCheckFlags acl)
{
    virDomainObj *vm;

    if (flags & agentFlag) {
        bool forced = !(flags & pvFlag);

        if (!(vm = xvDomObjFromDomainACL(dom, NULL, acl, flags)))
            return -1;
        virDomainObjEndAPI(&vm);
        if (xvAgentShutdown(dom, reboot, forced) == 0)
            return 0;
        if (forced)
            return -1;
        virResetLastError();
    }
    return xvDomainRequestShutdown(dom, flags,
                                   reboot ? XLITE_SHUTDOWN_REQUEST_REBOOT
                                          : XLITE_SHUTDOWN_REQUEST_POWEROFF,
                                   acl);
}

static int
xvDomainShutdownFlags(virDomainPtr dom, unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_SHUTDOWN_PARAVIRT |
                  VIR_DOMAIN_SHUTDOWN_GUEST_AGENT, -1);
    return xvDomainShutdownOrReboot(dom, flags, false,
                                    VIR_DOMAIN_SHUTDOWN_GUEST_AGENT,
                                    VIR_DOMAIN_SHUTDOWN_PARAVIRT,
                                    virDomainShutdownFlagsEnsureACL);
}

static int
xvDomainShutdown(virDomainPtr dom)
{
    return xvDomainShutdownFlags(dom, 0);
}

static int
xvDomainReboot(virDomainPtr dom, unsigned int flags)
{
    virCheckFlags(VIR_DOMAIN_REBOOT_PARAVIRT |
                  VIR_DOMAIN_REBOOT_GUEST_AGENT, -1);
    return xvDomainShutdownOrReboot(dom, flags, true,
                                    VIR_DOMAIN_REBOOT_GUEST_AGENT,
                                    VIR_DOMAIN_REBOOT_PARAVIRT,
                                    virDomainRebootEnsureACL);
}

static int
xvDomainDestroyFlags(virDomainPtr dom, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_DESTROY_GRACEFUL, -1);

    if (!(vm = xvDomainBeginJob(dom, virDomainDestroyFlagsEnsureACL, NULL, 0,
                                XV_DOMAIN_BEGIN_ACTIVE)))
        return -1;

    ret = xvDomainDestroyAndCleanup(driver, vm, VIR_DOMAIN_SHUTOFF_DESTROYED,
                                    VIR_DOMAIN_EVENT_STOPPED_DESTROYED);
    dom->id = -1;

    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainDestroy(virDomainPtr dom)
{
    return xvDomainDestroyFlags(dom, 0);
}

/* ---------------------------------------------------------------------
 * Domains: console, memory, vcpus, scheduler
 */

/* A console's or channel's stream: one session at a time unless @force
 * (@busy is the error then). */
static int
xvDomainOpenChrdev(virDomainObj *vm, virDomainChrDef *chr, virStreamPtr st,
                   bool force, const char *busy)
{
    xvDomainObjPrivate *priv = vm->privateData;
    int ret = virChrdevOpen(priv->devs, chr->source, st, force);

    if (ret == 1) {
        virReportError(VIR_ERR_OPERATION_FAILED, "%s", busy);
        ret = -1;
    }
    return ret;
}

/* The agent's channel is the driver's (libxl_agent.c): a stream on it
 * would take the agent's replies. */
static int
xvDomainRefuseAgentChannel(virDomainObj *vm, virDomainChrDef *chr)
{
    ssize_t idx = xvAgentChannelIndex(vm->def);

    if (idx >= 0 && vm->def->channels[idx] == chr) {
        virReportError(VIR_ERR_OPERATION_INVALID,
                       _("channel %s is used by the guest agent"),
                       XV_AGENT_CHANNEL);
        return -1;
    }
    return 0;
}

static int
xvDomainOpenConsole(virDomainPtr dom, const char *devName, virStreamPtr st,
                    unsigned int flags)
{
    virDomainObj *vm;
    virDomainChrDef *chr = NULL;
    size_t i;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_CONSOLE_FORCE | VIR_DOMAIN_CONSOLE_SAFE, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainOpenConsoleEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;

    if (devName) {
        for (i = 0; !chr && i < vm->def->nconsoles; i++) {
            if (STREQ_NULLABLE(devName, vm->def->consoles[i]->info.alias))
                chr = vm->def->consoles[i];
        }
        for (i = 0; !chr && i < vm->def->nserials; i++) {
            if (STREQ_NULLABLE(devName, vm->def->serials[i]->info.alias))
                chr = vm->def->serials[i];
        }
        /* A Xen channel on a pty is a console too (virsh console
         * --devname channel0). */
        for (i = 0; !chr && i < vm->def->nchannels; i++) {
            if (STREQ_NULLABLE(devName, vm->def->channels[i]->info.alias))
                chr = vm->def->channels[i];
        }
    } else if (vm->def->nconsoles > 0) {
        chr = vm->def->consoles[0];
        if (chr->targetType == VIR_DOMAIN_CHR_CONSOLE_TARGET_TYPE_SERIAL &&
            vm->def->nserials > 0)
            chr = vm->def->serials[0];
    }

    if (!chr) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("domain '%s' has no console '%s'"),
                       vm->def->name, NULLSTR(devName));
        goto cleanup;
    }
    if (chr->source->type != VIR_DOMAIN_CHR_TYPE_PTY ||
        !chr->source->data.file.path) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("console '%s' of domain '%s' has no pty"),
                       devName ? devName : NULLSTR(chr->info.alias),
                       vm->def->name);
        goto cleanup;
    }
    if (xvDomainRefuseAgentChannel(vm, chr) < 0)
        goto cleanup;

    ret = xvDomainOpenChrdev(vm, chr, st,
                             (flags & VIR_DOMAIN_CONSOLE_FORCE) != 0,
                             _("an active console session exists for this domain"));

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

/* A channel's stream, as libvirt's QEMU driver opens it: by alias, or by
 * the Xen target name (as QEMU's matches a virtio channel's), or the
 * first channel; its pty or its socket. */
static int
xvDomainOpenChannel(virDomainPtr dom, const char *name, virStreamPtr st,
                    unsigned int flags)
{
    virDomainObj *vm;
    virDomainChrDef *chr = NULL;
    size_t i;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_CHANNEL_FORCE, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainOpenChannelEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;

    if (name) {
        for (i = 0; !chr && i < vm->def->nchannels; i++) {
            virDomainChrDef *c = vm->def->channels[i];

            if (STREQ_NULLABLE(name, c->info.alias) ||
                (c->targetType == VIR_DOMAIN_CHR_CHANNEL_TARGET_TYPE_XEN &&
                 STREQ_NULLABLE(name, c->target.name)))
                chr = c;
        }
    } else if (vm->def->nchannels > 0) {
        chr = vm->def->channels[0];
    }
    if (!chr) {
        virReportError(VIR_ERR_INTERNAL_ERROR, _("cannot find channel %s"),
                       NULLSTR(name));
        goto cleanup;
    }
    if (!(chr->source->type == VIR_DOMAIN_CHR_TYPE_UNIX &&
          chr->source->data.nix.path) &&
        !(chr->source->type == VIR_DOMAIN_CHR_TYPE_PTY &&
          chr->source->data.file.path)) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("channel %s is not using a PTY or UNIX socket"),
                       name ? name : NULLSTR(chr->info.alias));
        goto cleanup;
    }
    if (xvDomainRefuseAgentChannel(vm, chr) < 0)
        goto cleanup;

    ret = xvDomainOpenChrdev(vm, chr, st,
                             (flags & VIR_DOMAIN_CHANNEL_FORCE) != 0,
                             _("Active channel stream exists for this domain"));

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

/* Save what a change touched: the live status and/or the definition. */
static int
xvDomainSaveDefs(xvDriver *driver, virDomainObj *vm, virDomainDef *def,
                 virDomainDef *persistentDef)
{
    if (def && virDomainObjSave(vm, driver->xmlopt, driver->config->runDir) < 0)
        return -1;
    if (persistentDef &&
        virDomainDefSave(persistentDef, driver->xmlopt,
                         driver->config->domainConfigDir) < 0)
        return -1;
    return 0;
}

static int
xvDomainSetMemoryFlags(virDomainPtr dom, unsigned long memory,
                       unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virDomainDef *def;
    virDomainDef *persistentDef;
    int rc;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_DOMAIN_MEM_MAXIMUM, -1);

    if (!(vm = xvDomainBeginJob(dom, NULL, virDomainSetMemoryFlagsEnsureACL, flags,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;
    if (virDomainObjGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto endjob;

    if (flags & VIR_DOMAIN_MEM_MAXIMUM) {
        if (def) {
            if ((rc = xlite_domain_set_max_memory(driver->ctx, def->id, memory)) < 0) {
                virReportError(VIR_ERR_OPERATION_FAILED,
                               _("cannot set the maximum memory of domain '%s': %s"),
                               vm->def->name, xlite_errmsg());
                goto endjob;
            }
            virDomainDefSetMemoryTotal(def, memory);
            def->mem.cur_balloon = MIN(def->mem.cur_balloon, memory);
        }
        if (persistentDef) {
            virDomainDefSetMemoryTotal(persistentDef, memory);
            persistentDef->mem.cur_balloon = MIN(persistentDef->mem.cur_balloon, memory);
        }
    } else {
        if ((def && memory > virDomainDefGetMemoryTotal(def)) ||
            (persistentDef && memory > virDomainDefGetMemoryTotal(persistentDef))) {
            virReportError(VIR_ERR_INVALID_ARG, "%s",
                           _("cannot set memory higher than max memory"));
            goto endjob;
        }
        if (def) {
            if ((rc = xlite_domain_set_memory_target(driver->ctx, def->id, memory)) < 0) {
                virReportError(VIR_ERR_OPERATION_FAILED,
                               _("cannot set the memory of domain '%s': %s"),
                               vm->def->name, xlite_errmsg());
                goto endjob;
            }
            def->mem.cur_balloon = memory;
        }
        if (persistentDef)
            persistentDef->mem.cur_balloon = memory;
    }
    ret = xvDomainSaveDefs(driver, vm, def, persistentDef);

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainSetMemory(virDomainPtr dom, unsigned long memory)
{
    return xvDomainSetMemoryFlags(dom, memory, VIR_DOMAIN_AFFECT_LIVE);
}

static int
xvDomainSetMaxMemory(virDomainPtr dom, unsigned long memory)
{
    return xvDomainSetMemoryFlags(dom, memory, VIR_DOMAIN_MEM_MAXIMUM);
}

static int
xvDomainSetVcpusFlags(virDomainPtr dom, unsigned int nvcpus,
                      unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virDomainDef *def;
    virDomainDef *persistentDef;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_DOMAIN_VCPU_MAXIMUM, -1);

    if (!(vm = xvDomainBeginJob(dom, NULL, virDomainSetVcpusFlagsEnsureACL, flags,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;
    if (virDomainObjGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto endjob;

    if (nvcpus < 1 || nvcpus > driver->hostInfo.max_vcpus) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("vcpu count %u is outside 1..%u"),
                       nvcpus, driver->hostInfo.max_vcpus);
        goto endjob;
    }

    if (flags & VIR_DOMAIN_VCPU_MAXIMUM) {
        if (def) {
            virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                           _("the maximum vcpu count of a running Xen domain cannot change"));
            goto endjob;
        }
        if (virDomainDefSetVcpusMax(persistentDef, nvcpus, driver->xmlopt) < 0)
            goto endjob;
    } else {
        if ((def && nvcpus > virDomainDefGetVcpusMax(def)) ||
            (persistentDef && nvcpus > virDomainDefGetVcpusMax(persistentDef))) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("requested vcpus %u exceed the maximum vcpus of domain '%s'"),
                           nvcpus, vm->def->name);
            goto endjob;
        }
        if (def) {
            if (xlite_domain_set_vcpus(driver->ctx, def->id, nvcpus) < 0) {
                virReportError(VIR_ERR_OPERATION_FAILED,
                               _("cannot set the vcpus of domain '%s': %s"),
                               vm->def->name, xlite_errmsg());
                goto endjob;
            }
            if (virDomainDefSetVcpus(def, nvcpus) < 0)
                goto endjob;
        }
        if (persistentDef && virDomainDefSetVcpus(persistentDef, nvcpus) < 0)
            goto endjob;
    }
    ret = xvDomainSaveDefs(driver, vm, def, persistentDef);

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainSetVcpus(virDomainPtr dom, unsigned int nvcpus)
{
    return xvDomainSetVcpusFlags(dom, nvcpus, VIR_DOMAIN_AFFECT_LIVE);
}

static int
xvDomainGetVcpusFlags(virDomainPtr dom, unsigned int flags)
{
    virDomainObj *vm;
    virDomainDef *def;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_DOMAIN_VCPU_MAXIMUM, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetVcpusFlagsEnsureACL(dom->conn, vm->def, flags) < 0)
        goto cleanup;
    if (!(def = virDomainObjGetOneDef(vm, flags)))
        goto cleanup;
    ret = (flags & VIR_DOMAIN_VCPU_MAXIMUM) ? virDomainDefGetVcpusMax(def)
                                            : virDomainDefGetVcpus(def);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainGetMaxVcpus(virDomainPtr dom)
{
    return xvDomainGetVcpusFlags(dom, VIR_DOMAIN_AFFECT_LIVE |
                                      VIR_DOMAIN_VCPU_MAXIMUM);
}

/* The host's cpus, as the hypervisor reports them. */
static virBitmap *
xvHostCpus(xvDriver *driver)
{
    virBitmap *cpus = virBitmapNew(driver->hostInfo.nr_cpus);

    virBitmapSetAll(cpus);
    return cpus;
}

/* Vcpu affinity: the hypervisor's (hard affinity) for the running
 * domain, and the definitions (live and/or persistent). */
static int
xvDomainPinVcpuFlags(virDomainPtr dom, unsigned int vcpu,
                     unsigned char *cpumap, int maplen, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virDomainDef *def;
    virDomainDef *persistentDef;
    g_autoptr(virBitmap) pcpumap = NULL;
    virDomainVcpuDef *vcpuinfo;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (!(vm = xvDomainBeginJob(dom, NULL, virDomainPinVcpuFlagsEnsureACL, flags,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;
    if (virDomainObjGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto endjob;

    if (!(pcpumap = virBitmapNewData(cpumap, maplen)))
        goto endjob;
    if (virBitmapIsAllClear(pcpumap)) {
        virReportError(VIR_ERR_INVALID_ARG, "%s",
                       _("an empty cpu map cannot be pinned"));
        goto endjob;
    }

    if (def) {
        if (!(vcpuinfo = virDomainDefGetVcpu(def, vcpu)) || !vcpuinfo->online) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("vcpu %u is not present or not online"), vcpu);
            goto endjob;
        }
        if (xlite_domain_vcpu_set_affinity(driver->ctx, vm->def->id, vcpu,
                                           cpumap, maplen) < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot pin vcpu %u of domain '%s': %s"),
                           vcpu, vm->def->name, xlite_errmsg());
            goto endjob;
        }
        virBitmapFree(vcpuinfo->cpumask);
        vcpuinfo->cpumask = virBitmapNewCopy(pcpumap);
    }
    if (persistentDef) {
        if (!(vcpuinfo = virDomainDefGetVcpu(persistentDef, vcpu))) {
            virReportError(VIR_ERR_INVALID_ARG,
                           _("vcpu %u is out of range of the persistent cpu count %u"),
                           vcpu, virDomainDefGetVcpusMax(persistentDef));
            goto endjob;
        }
        virBitmapFree(vcpuinfo->cpumask);
        vcpuinfo->cpumask = virBitmapNewCopy(pcpumap);
    }
    ret = xvDomainSaveDefs(driver, vm, def, persistentDef);

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainPinVcpu(virDomainPtr dom, unsigned int vcpu, unsigned char *cpumap,
                int maplen)
{
    return xvDomainPinVcpuFlags(dom, vcpu, cpumap, maplen,
                                VIR_DOMAIN_AFFECT_LIVE);
}

static int
xvDomainGetVcpuPinInfo(virDomainPtr dom, int ncpumaps, unsigned char *cpumaps,
                       int maplen, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virDomainDef *def;
    g_autoptr(virBitmap) hostcpus = xvHostCpus(driver);
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetVcpuPinInfoEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (!(def = virDomainObjGetOneDef(vm, flags)))
        goto cleanup;
    ret = virDomainDefGetVcpuPinInfoHelper(def, maplen, ncpumaps, cpumaps,
                                           hostcpus, NULL);

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

/* The vcpus as the hypervisor accounts them (as libvirt's Xen driver has
 * them); their affinity is the definition's, which the driver records. */
static int
xvDomainGetVcpus(virDomainPtr dom, virVcpuInfoPtr info, int maxinfo,
                 unsigned char *cpumaps, int maplen)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    g_autofree xlite_vcpuinfo *vcpus = NULL;
    g_autoptr(virBitmap) hostcpus = xvHostCpus(driver);
    size_t nvcpus = 0;
    int i;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetVcpusEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (xlite_domain_vcpu_list(driver->ctx, vm->def->id, &vcpus, &nvcpus) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot get the vcpus of domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        goto cleanup;
    }

    if (cpumaps)
        memset(cpumaps, 0, (size_t)maxinfo * maplen);
    for (i = 0; i < maxinfo && (size_t)i < nvcpus; i++) {
        virDomainVcpuDef *vcpu = virDomainDefGetVcpu(vm->def, vcpus[i].vcpuid);
        virBitmap *mask = vcpu && vcpu->cpumask ? vcpu->cpumask
                        : vm->def->cpumask ? vm->def->cpumask : hostcpus;

        info[i].number = vcpus[i].vcpuid;
        info[i].state = vcpus[i].running ? VIR_VCPU_RUNNING
                      : vcpus[i].blocked ? VIR_VCPU_BLOCKED
                      : VIR_VCPU_OFFLINE;
        info[i].cpuTime = vcpus[i].cpu_time_ns;
        info[i].cpu = vcpus[i].cpu;
        if (cpumaps)
            virBitmapToDataBuf(mask, VIR_GET_CPUMAP(cpumaps, maplen, i), maplen);
    }
    ret = i;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

static char *
xvDomainGetSchedulerType(virDomainPtr dom, int *nparams)
{
    virDomainObj *vm;
    char *ret = NULL;

    if (!(vm = xvDomObjFromDomain(dom)))
        return NULL;
    if (virDomainGetSchedulerTypeEnsureACL(dom->conn, vm->def) == 0) {
        /* The host's scheduler, as libvirt's Xen driver names it; weight
         * and cap are the parameters of credit and credit2. */
        const char *name = xv_driver->hostInfo.scheduler;
        bool credit = STREQ(name, "credit") || STREQ(name, "credit2");

        if (nparams)
            *nparams = credit ? 2 : 0;
        ret = g_strdup(*name ? name : "credit2");
    }
    virDomainObjEndAPI(&vm);
    return ret;
}

/* Xen's credit weight is libvirt's cpu shares; an unset weight is Xen's
 * default, 256.  The cap (percent of one cpu, 0 = none) lives in the
 * running domain only. */
static int
xvDomainGetSchedulerParametersFlags(virDomainPtr dom,
                                    virTypedParameterPtr params,
                                    int *nparams, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virDomainDef *def;
    unsigned int weight, cap = 0;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG |
                  VIR_TYPED_PARAM_STRING_OKAY, -1);
    flags &= ~VIR_TYPED_PARAM_STRING_OKAY;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetSchedulerParametersFlagsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (!(def = virDomainObjGetOneDef(vm, flags)))
        goto cleanup;

    weight = def->cputune.sharesSpecified ? def->cputune.shares : 256;
    if (def == vm->def && virDomainObjIsActive(vm)) {
        xlite_dominfo info;

        if (xlite_domain_info(driver->ctx, vm->def->id, &info) < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot get the scheduler parameters of domain '%s': %s"),
                           vm->def->name, xlite_errmsg());
            goto cleanup;
        }
        weight = info.sched_weight;
        cap = info.sched_cap;
    }

    if (*nparams > 2)
        *nparams = 2;
    if (*nparams >= 1 &&
        virTypedParameterAssign(&params[0], VIR_DOMAIN_SCHEDULER_WEIGHT,
                                VIR_TYPED_PARAM_UINT, weight) < 0)
        goto cleanup;
    if (*nparams >= 2 &&
        virTypedParameterAssign(&params[1], VIR_DOMAIN_SCHEDULER_CAP,
                                VIR_TYPED_PARAM_UINT, cap) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainGetSchedulerParameters(virDomainPtr dom, virTypedParameterPtr params,
                               int *nparams)
{
    return xvDomainGetSchedulerParametersFlags(dom, params, nparams, 0);
}

static int
xvDomainSetSchedulerParametersFlags(virDomainPtr dom,
                                    virTypedParameterPtr params,
                                    int nparams, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    virDomainDef *def;
    virDomainDef *persistentDef;
    bool haveWeight = false, haveCap = false;
    unsigned int weight = 0, cap = 0;
    size_t i;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_DOMAIN_AFFECT_CONFIG, -1);
    if (virTypedParamsValidate(params, nparams,
                               VIR_DOMAIN_SCHEDULER_WEIGHT, VIR_TYPED_PARAM_UINT,
                               VIR_DOMAIN_SCHEDULER_CAP, VIR_TYPED_PARAM_UINT,
                               NULL) < 0)
        return -1;

    for (i = 0; i < (size_t)nparams; i++) {
        if (STREQ(params[i].field, VIR_DOMAIN_SCHEDULER_WEIGHT)) {
            weight = params[i].value.ui;
            haveWeight = true;
        } else {
            cap = params[i].value.ui;
            haveCap = true;
        }
    }
    if (haveWeight && (weight < 1 || weight > 65535)) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("scheduler weight %u is outside 1..65535"), weight);
        return -1;
    }

    if (!(vm = xvDomainBeginJob(dom, NULL, virDomainSetSchedulerParametersFlagsEnsureACL, flags,
                                XV_DOMAIN_BEGIN_ANY)))
        return -1;
    if (virDomainObjGetDefs(vm, flags, &def, &persistentDef) < 0)
        goto endjob;

    if (haveCap && persistentDef && !def) {
        virReportError(VIR_ERR_OPERATION_UNSUPPORTED, "%s",
                       _("the scheduler cap can only be set on a running domain"));
        goto endjob;
    }
    if (def) {
        xlite_dominfo info;

        if (xlite_domain_info(driver->ctx, def->id, &info) < 0 ||
            xlite_domain_set_sched(driver->ctx, def->id,
                                   haveWeight ? weight : info.sched_weight,
                                   haveCap ? cap : info.sched_cap) < 0) {
            virReportError(VIR_ERR_OPERATION_FAILED,
                           _("cannot set the scheduler parameters of domain '%s': %s"),
                           vm->def->name, xlite_errmsg());
            goto endjob;
        }
        if (haveWeight) {
            def->cputune.shares = weight;
            def->cputune.sharesSpecified = true;
        }
    }
    if (persistentDef && haveWeight) {
        persistentDef->cputune.shares = weight;
        persistentDef->cputune.sharesSpecified = true;
    }
    ret = xvDomainSaveDefs(driver, vm, def, persistentDef);

 endjob:
    virDomainObjEndJob(vm);
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainSetSchedulerParameters(virDomainPtr dom, virTypedParameterPtr params,
                               int nparams)
{
    return xvDomainSetSchedulerParametersFlags(dom, params, nparams, 0);
}

static int
xvNodeGetCellsFreeMemory(virConnectPtr conn, unsigned long long *freeMems,
                         int startCell, int maxCells)
{
    xvDriver *driver = conn->privateData;
    xlite_host_info host;

    if (virNodeGetCellsFreeMemoryEnsureACL(conn) < 0)
        return -1;

    /* The host is one NUMA cell. */
    if (startCell != 0 || maxCells < 1) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("start cell %d out of range (0-0)"), startCell);
        return -1;
    }
    if (xlite_host_get_info(driver->ctx, &host) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("cannot get the Xen host's free memory: %s"),
                       xlite_errmsg());
        return -1;
    }
    freeMems[0] = host.free_kib * 1024;
    return 1;
}

/*
 * A domain's job, as libvirt's Xen driver reports it: the change under
 * way (a start, a shutdown, a device change) as an unbounded job with the
 * time it has taken; none otherwise.  Neither has save or migration
 * progress yet.  Queries take no job, so none of them shows here.
 */
static int
xvDomainJobElapsed(virDomainObj *vm, unsigned long long *elapsed)
{
    unsigned long long now;

    *elapsed = 0;
    if (!vm->job->started)
        return 0;
    if (virTimeMillisNow(&now) < 0)
        return -1;
    if (now > vm->job->started)
        *elapsed = now - vm->job->started;
    return 0;
}

static int
xvDomainGetJobInfo(virDomainPtr dom, virDomainJobInfoPtr info)
{
    virDomainObj *vm;
    unsigned long long elapsed;
    int ret = -1;

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetJobInfoEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    memset(info, 0, sizeof(*info));
    if (!vm->job->active) {
        info->type = VIR_DOMAIN_JOB_NONE;
        ret = 0;
        goto cleanup;
    }
    if (xvDomainJobElapsed(vm, &elapsed) < 0)
        goto cleanup;
    info->type = VIR_DOMAIN_JOB_UNBOUNDED;
    info->timeElapsed = elapsed;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainGetJobStats(virDomainPtr dom, int *type, virTypedParameterPtr *params,
                    int *nparams, unsigned int flags)
{
    virDomainObj *vm;
    unsigned long long elapsed;
    int maxparams = 0;
    int ret = -1;

    /* VIR_DOMAIN_JOB_STATS_COMPLETED: no completed job is kept (as
     * libvirt's Xen driver). */
    virCheckFlags(0, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetJobStatsEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (!vm->job->active) {
        *type = VIR_DOMAIN_JOB_NONE;
        *params = NULL;
        *nparams = 0;
        ret = 0;
        goto cleanup;
    }
    if (xvDomainJobElapsed(vm, &elapsed) < 0 ||
        virTypedParamsAddULLong(params, nparams, &maxparams,
                                VIR_DOMAIN_JOB_TIME_ELAPSED, elapsed) < 0)
        goto cleanup;
    *type = VIR_DOMAIN_JOB_UNBOUNDED;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

#define XV_NUMA_NPARAM 2

/*
 * Xen spreads a domain's memory over its node affinity, close to
 * numactl's interleave (libvirt's Xen driver says so); the affinity is
 * the hypervisor's.
 */
static int
xvDomainGetNumaParameters(virDomainPtr dom, virTypedParameterPtr params,
                          int *nparams, unsigned int flags)
{
    xvDriver *driver = dom->conn->privateData;
    virDomainObj *vm;
    g_autoptr(virBitmap) nodes = NULL;
    g_autofree char *nodeset = NULL;
    uint64_t affinity = 0;
    size_t i;
    int ret = -1;

    virCheckFlags(VIR_DOMAIN_AFFECT_LIVE | VIR_TYPED_PARAM_STRING_OKAY, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetNumaParametersEnsureACL(dom->conn, vm->def) < 0)
        goto cleanup;
    if (virDomainObjCheckActive(vm) < 0)
        goto cleanup;
    if (*nparams == 0) {
        *nparams = XV_NUMA_NPARAM;
        ret = 0;
        goto cleanup;
    }
    if (xlite_domain_node_affinity(driver->ctx, vm->def->id, &affinity) < 0) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot get the NUMA node affinity of domain '%s': %s"),
                       vm->def->name, xlite_errmsg());
        goto cleanup;
    }
    nodes = virBitmapNew(64);
    for (i = 0; i < 64; i++)
        if (affinity & (UINT64_C(1) << i))
            ignore_value(virBitmapSetBit(nodes, i));
    if (!(nodeset = virBitmapFormat(nodes)))
        goto cleanup;

    if (virTypedParameterAssign(&params[0], VIR_DOMAIN_NUMA_MODE,
                                VIR_TYPED_PARAM_INT,
                                VIR_DOMAIN_NUMATUNE_MEM_INTERLEAVE) < 0)
        goto cleanup;
    /* The parameter takes the string. */
    if (*nparams > 1 &&
        virTypedParameterAssign(&params[1], VIR_DOMAIN_NUMA_NODESET,
                                VIR_TYPED_PARAM_STRING,
                                g_steal_pointer(&nodeset)) < 0)
        goto cleanup;
    if (*nparams > XV_NUMA_NPARAM)
        *nparams = XV_NUMA_NPARAM;
    ret = 0;

 cleanup:
    virDomainObjEndAPI(&vm);
    return ret;
}

static int
xvDomainGetMessages(virDomainPtr dom, char ***msgs, unsigned int flags)
{
    virDomainObj *vm;
    int ret = -1;

    virCheckFlags(0, -1);

    if (!(vm = xvDomObjFromDomain(dom)))
        return -1;
    if (virDomainGetMessagesEnsureACL(dom->conn, vm->def) == 0)
        ret = virDomainObjGetMessages(vm, msgs, flags);
    virDomainObjEndAPI(&vm);
    return ret;
}

/* ---------------------------------------------------------------------
 * Events
 */

static int
xvConnectDomainEventRegister(virConnectPtr conn,
                             virConnectDomainEventCallback callback,
                             void *opaque, virFreeCallback freecb)
{
    xvDriver *driver = conn->privateData;

    if (virConnectDomainEventRegisterEnsureACL(conn) < 0)
        return -1;
    if (virDomainEventStateRegister(conn, driver->domainEventState,
                                    callback, opaque, freecb) < 0)
        return -1;
    return 0;
}

static int
xvConnectDomainEventDeregister(virConnectPtr conn,
                               virConnectDomainEventCallback callback)
{
    xvDriver *driver = conn->privateData;

    if (virConnectDomainEventDeregisterEnsureACL(conn) < 0)
        return -1;
    if (virDomainEventStateDeregister(conn, driver->domainEventState,
                                      callback) < 0)
        return -1;
    return 0;
}

static int
xvConnectDomainEventRegisterAny(virConnectPtr conn, virDomainPtr dom,
                                int eventID,
                                virConnectDomainEventGenericCallback callback,
                                void *opaque, virFreeCallback freecb)
{
    xvDriver *driver = conn->privateData;
    int ret;

    if (virConnectDomainEventRegisterAnyEnsureACL(conn) < 0)
        return -1;
    if (virDomainEventStateRegisterID(conn, driver->domainEventState, dom,
                                      eventID, callback, opaque, freecb,
                                      &ret) < 0)
        return -1;
    return ret;
}

static int
xvConnectDomainEventDeregisterAny(virConnectPtr conn, int callbackID)
{
    xvDriver *driver = conn->privateData;

    if (virConnectDomainEventDeregisterAnyEnsureACL(conn) < 0)
        return -1;
    if (virObjectEventStateDeregisterID(conn, driver->domainEventState,
                                        callbackID, true) < 0)
        return -1;
    return 0;
}

/* ---------------------------------------------------------------------
 * Native formats: xl.cfg ("xen-xl") and xm ("xen-xm"), docs/xl-native.md
 */

static char *
xvConnectDomainXMLFromNative(virConnectPtr conn,
                             const char *nativeFormat,
                             const char *nativeConfig,
                             unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;

    virCheckFlags(0, NULL);

    if (virConnectDomainXMLFromNativeEnsureACL(conn) < 0)
        return NULL;

    if (STREQ(nativeFormat, XV_NATIVE_FORMAT_XL)) {
        def = xvXLConfigParse(nativeConfig, driver->caps, driver->xmlopt);
    } else if (STREQ(nativeFormat, XV_NATIVE_FORMAT_XM)) {
        def = xvXMConfigParse(nativeConfig, driver->caps, driver->xmlopt);
    } else {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unsupported config type %s"), nativeFormat);
        return NULL;
    }
    if (!def)
        return NULL;

    /* The XML is the caller's own configuration: passwords stay in it. */
    return virDomainDefFormat(def, driver->xmlopt,
                              VIR_DOMAIN_DEF_FORMAT_INACTIVE |
                              VIR_DOMAIN_DEF_FORMAT_SECURE);
}

static char *
xvConnectDomainXMLToNative(virConnectPtr conn,
                           const char *nativeFormat,
                           const char *domainXml,
                           unsigned int flags)
{
    xvDriver *driver = conn->privateData;
    g_autoptr(virDomainDef) def = NULL;
    bool xl;

    virCheckFlags(0, NULL);

    if (virConnectDomainXMLToNativeEnsureACL(conn) < 0)
        return NULL;

    xl = STREQ(nativeFormat, XV_NATIVE_FORMAT_XL);
    if (!xl && STRNEQ(nativeFormat, XV_NATIVE_FORMAT_XM)) {
        virReportError(VIR_ERR_INVALID_ARG,
                       _("unsupported config type %s"), nativeFormat);
        return NULL;
    }

    if (xvDomainDefCheckVcpuCount(domainXml) < 0 ||
        !(def = virDomainDefParseString(domainXml, driver->xmlopt, NULL,
                                        VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        return NULL;

    return xl ? xvXLConfigFormat(def) : xvXMConfigFormat(def);
}

/* ---------------------------------------------------------------------
 * Tables
 */

static virHypervisorDriver xvHypervisorDriver = {
    .name = XV_DRIVER_NAME,
    .connectURIProbe = xvConnectURIProbe,
    .connectOpen = xvConnectOpen,
    .connectClose = xvConnectClose,
    .connectGetType = xvConnectGetType,
    .connectGetVersion = xvConnectGetVersion,
    .connectGetHostname = xvConnectGetHostname,
    .connectGetMaxVcpus = xvConnectGetMaxVcpus,
    .connectGetSysinfo = xvConnectGetSysinfo,
    .nodeGetSecurityModel = xvNodeGetSecurityModel,
    .connectCompareCPU = xvConnectCompareCPU,
    .connectBaselineCPU = xvConnectBaselineCPU,
    .connectGetCapabilities = xvConnectGetCapabilities,
    .connectIsEncrypted = xvConnectIsEncrypted,
    .connectIsSecure = xvConnectIsSecure,
    .connectIsAlive = xvConnectIsAlive,
    .connectSupportsFeature = xvConnectSupportsFeature,
    .nodeGetInfo = xvNodeGetInfo,
    .nodeGetFreeMemory = xvNodeGetFreeMemory,
    .nodeGetCPUMap = xvNodeGetCPUMap,
    .nodeGetCPUStats = xvNodeGetCPUStats,
    .nodeGetMemoryStats = xvNodeGetMemoryStats,
    .connectListDomains = xvConnectListDomains,
    .connectNumOfDomains = xvConnectNumOfDomains,
    .connectListDefinedDomains = xvConnectListDefinedDomains,
    .connectNumOfDefinedDomains = xvConnectNumOfDefinedDomains,
    .connectListAllDomains = xvConnectListAllDomains,
    .domainLookupByID = xvDomainLookupByID,
    .domainLookupByUUID = xvDomainLookupByUUID,
    .domainLookupByName = xvDomainLookupByName,
    .domainCreate = xvDomainCreate,
    .domainCreateWithFlags = xvDomainCreateWithFlags,
    .domainCreateXML = xvDomainCreateXML,
    .domainSuspend = xvDomainSuspend,
    .domainBlockJobAbort = xvDomainBlockJobAbort,
    .domainGetBlockJobInfo = xvDomainGetBlockJobInfo,
    .domainBlockJobSetSpeed = xvDomainBlockJobSetSpeed,
    .domainBlockPull = xvDomainBlockPull,
    .domainBlockRebase = xvDomainBlockRebase,
    .domainBlockCopy = xvDomainBlockCopy,
    .domainBlockCommit = xvDomainBlockCommit,
    .domainBlockResize = xvDomainBlockResize,
    .domainSnapshotCreateXML = xvDomainSnapshotCreateXML,
    .domainSnapshotNum = xvDomainSnapshotNum,
    .domainSnapshotListNames = xvDomainSnapshotListNames,
    .domainListAllSnapshots = xvDomainListAllSnapshots,
    .domainSnapshotNumChildren = xvDomainSnapshotNumChildren,
    .domainSnapshotListChildrenNames = xvDomainSnapshotListChildrenNames,
    .domainSnapshotListAllChildren = xvDomainSnapshotListAllChildren,
    .domainSnapshotLookupByName = xvDomainSnapshotLookupByName,
    .domainHasCurrentSnapshot = xvDomainHasCurrentSnapshot,
    .domainSnapshotGetParent = xvDomainSnapshotGetParent,
    .domainSnapshotCurrent = xvDomainSnapshotCurrent,
    .domainSnapshotGetXMLDesc = xvDomainSnapshotGetXMLDesc,
    .domainSnapshotIsCurrent = xvDomainSnapshotIsCurrent,
    .domainSnapshotHasMetadata = xvDomainSnapshotHasMetadata,
    .domainSnapshotDelete = xvDomainSnapshotDelete,
    .domainResume = xvDomainResume,
    .domainShutdown = xvDomainShutdown,
    .domainShutdownFlags = xvDomainShutdownFlags,
    .domainReboot = xvDomainReboot,
    .domainDestroy = xvDomainDestroy,
    .domainSave = xvDomainSave,
    .domainSaveFlags = xvDomainSaveFlags,
    .domainRestore = xvDomainRestore,
    .domainRestoreFlags = xvDomainRestoreFlags,
    .domainSaveImageGetXMLDesc = xvDomainSaveImageGetXMLDesc,
    .domainSaveImageDefineXML = xvDomainSaveImageDefineXML,
    .domainManagedSave = xvDomainManagedSave,
    .domainHasManagedSaveImage = xvDomainHasManagedSaveImage,
    .domainManagedSaveRemove = xvDomainManagedSaveRemove,
    .domainDestroyFlags = xvDomainDestroyFlags,
    .domainOpenConsole = xvDomainOpenConsole,
    .domainOpenChannel = xvDomainOpenChannel,
    .domainGetHostname = xvDomainGetHostname,
    .domainGetTime = xvDomainGetTime,
    .domainSetTime = xvDomainSetTime,
    .domainFSFreeze = xvDomainFSFreeze,
    .domainFSThaw = xvDomainFSThaw,
    .domainGetGuestInfo = xvDomainGetGuestInfo,
    .domainAgentSetResponseTimeout = xvDomainAgentSetResponseTimeout,
    .domainSetUserPassword = xvDomainSetUserPassword,
    .domainAttachDevice = xvDomainAttachDevice,
    .domainAttachDeviceFlags = xvDomainAttachDeviceFlags,
    .domainDetachDevice = xvDomainDetachDevice,
    .domainDetachDeviceFlags = xvDomainDetachDeviceFlags,
    .domainDetachDeviceAlias = xvDomainDetachDeviceAlias,
    .domainUpdateDeviceFlags = xvDomainUpdateDeviceFlags,
    .domainSetMemory = xvDomainSetMemory,
    .domainSetMaxMemory = xvDomainSetMaxMemory,
    .domainSetMemoryFlags = xvDomainSetMemoryFlags,
    .domainSetVcpus = xvDomainSetVcpus,
    .domainSetVcpusFlags = xvDomainSetVcpusFlags,
    .domainGetVcpusFlags = xvDomainGetVcpusFlags,
    .domainGetMaxVcpus = xvDomainGetMaxVcpus,
    .domainPinVcpu = xvDomainPinVcpu,
    .domainPinVcpuFlags = xvDomainPinVcpuFlags,
    .domainGetVcpuPinInfo = xvDomainGetVcpuPinInfo,
    .domainGetVcpus = xvDomainGetVcpus,
    .domainGetCPUStats = xvDomainGetCPUStats,
    .domainBlockStats = xvDomainBlockStats,
    .domainMemoryStats = xvDomainMemoryStats,
    .domainBlockStatsFlags = xvDomainBlockStatsFlags,
    .domainInterfaceStats = xvDomainInterfaceStats,
    .domainInterfaceAddresses = xvDomainInterfaceAddresses,
    .connectGetAllDomainStats = xvConnectGetAllDomainStats,
    .domainGetSchedulerType = xvDomainGetSchedulerType,
    .domainGetSchedulerParameters = xvDomainGetSchedulerParameters,
    .domainGetSchedulerParametersFlags = xvDomainGetSchedulerParametersFlags,
    .domainSetSchedulerParameters = xvDomainSetSchedulerParameters,
    .domainSetSchedulerParametersFlags = xvDomainSetSchedulerParametersFlags,
    .nodeGetCellsFreeMemory = xvNodeGetCellsFreeMemory,
    .connectGetDomainCapabilities = xvConnectGetDomainCapabilities,
    .domainGetJobInfo = xvDomainGetJobInfo,
    .domainGetJobStats = xvDomainGetJobStats,
    .domainGetNumaParameters = xvDomainGetNumaParameters,
    .domainGetMessages = xvDomainGetMessages,
    .domainDefineXML = xvDomainDefineXML,
    .domainDefineXMLFlags = xvDomainDefineXMLFlags,
    .domainUndefine = xvDomainUndefine,
    .domainUndefineFlags = xvDomainUndefineFlags,
    .domainGetXMLDesc = xvDomainGetXMLDesc,
    .domainGetInfo = xvDomainGetInfo,
    .domainGetState = xvDomainGetState,
    .domainGetOSType = xvDomainGetOSType,
    .domainGetMaxMemory = xvDomainGetMaxMemory,
    .domainIsActive = xvDomainIsActive,
    .domainIsPersistent = xvDomainIsPersistent,
    .domainIsUpdated = xvDomainIsUpdated,
    .domainGetAutostart = xvDomainGetAutostart,
    .domainSetAutostart = xvDomainSetAutostart,
    .domainSetMetadata = xvDomainSetMetadata,
    .domainGetMetadata = xvDomainGetMetadata,
    .connectDomainEventRegister = xvConnectDomainEventRegister,
    .connectDomainEventDeregister = xvConnectDomainEventDeregister,
    .connectDomainEventRegisterAny = xvConnectDomainEventRegisterAny,
    .connectDomainEventDeregisterAny = xvConnectDomainEventDeregisterAny,
    .connectDomainXMLFromNative = xvConnectDomainXMLFromNative,
    .connectDomainXMLToNative = xvConnectDomainXMLToNative,
};

static const char *xvURISchemes[] = { "xen", NULL };

static virConnectDriver xvConnectDriver = {
    .localOnly = true,
    .embeddable = true,
    .uriSchemes = xvURISchemes,
    .hypervisorDriver = &xvHypervisorDriver,
};

static virStateDriver xvStateDriver = {
    .name = XV_DRIVER_NAME,
    .stateInitialize = xvStateInitialize,
    .stateCleanup = xvStateCleanup,
};

int
xvRegister(void)
{
    /* Our messages are translated from our own catalogue. */
    bindtextdomain(XV_GETTEXT_PACKAGE, XV_LOCALEDIR);

    if (virRegisterConnectDriver(&xvConnectDriver, true) < 0)
        return -1;
    if (virRegisterStateDriver(&xvStateDriver) < 0)
        return -1;
    return 0;
}
