/*
 * libxl_agent.h: the driver's client of the QEMU guest agent over the
 * domain's Xen channel org.qemu.guest_agent.0 (docs/channels.md, "The
 * guest agent")
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "libxl_domain.h"

#include "virjson.h"

/* The Xen target name of the agent's channel, as libvirt's QEMU driver
 * names its virtio one. */
#define XV_AGENT_CHANNEL "org.qemu.guest_agent.0"

/* The index in def->channels of the domain's agent channel (a Xen
 * channel of that name), or -1. */
ssize_t xvAgentChannelIndex(const virDomainDef *def);

/*
 * Whether the agent can be asked now (@vm locked): the domain runs, it has
 * an agent channel, and the guest's side of that channel is connected.
 * Otherwise, with @reportError, libvirt's QEMU driver's errors:
 * VIR_ERR_OPERATION_INVALID "domain is not running",
 * VIR_ERR_ARGUMENT_UNSUPPORTED "QEMU guest agent is not configured",
 * VIR_ERR_AGENT_UNRESPONSIVE "QEMU guest agent is not connected".
 */
bool xvAgentAvailable(xvDriver *driver, virDomainObj *vm, bool reportError);

/* A command object {"execute": NAME, "arguments": ARGS} (@args stolen,
 * NULL for none). */
virJSONValue *xvAgentMakeCommand(const char *name, virJSONValue *args);

/*
 * Run one command: the caller holds @vm locked and an agent job on it,
 * and has checked xvAgentAvailable.  The object is unlocked while the
 * agent is spoken to and locked again before return.
 *
 * The exchange: the channel's pty or socket is opened, a 0xFF byte resets
 * the agent's parser, guest-sync-delimited with a random id is sent and
 * answered (everything before the agent's 0xFF, and every reply that is
 * not that id, is dropped), then the command goes and its reply is read.
 * The sync waits at most 5 s (less if the domain's timeout is less), the
 * command the domain's timeout (xvAgentSetTimeout).  Every byte read is
 * the guest's and bounded: a reply line past 1 MiB, JSON nested deeper
 * than 64, or anything else than an object with "return" or "error" ends
 * the command with an error.
 *
 * @reply_r NULL: the command has no reply (guest-shutdown): success once
 * it is written after a good sync.
 *
 * Returns 0 with the reply's "return" value in *@reply_r; -2 when the
 * agent does not know or has disabled the command and @reportUnsupported
 * is false (nothing reported); -1 with an error reported.
 */
int xvAgentCommand(xvDriver *driver, virDomainObj *vm, virJSONValue *cmd,
                   virJSONValue **reply_r, bool reportUnsupported);

/* The domain's response timeout (seconds, or
 * VIR_DOMAIN_AGENT_RESPONSE_TIMEOUT_BLOCK/_DEFAULT/_NOWAIT); @vm locked. */
void xvAgentSetTimeout(virDomainObj *vm, int timeout);

/* guest-shutdown (mode powerdown, or reboot), for the shutdown and reboot
 * entry points, which checked the ACL; with @reportError false nothing is
 * reported when the agent is not there (the caller falls back). */
int xvAgentShutdown(virDomainPtr dom, bool reboot, bool reportError);

/* The entry points (libvirt's hypervisor driver table). */
char *xvDomainGetHostname(virDomainPtr dom, unsigned int flags);
int xvDomainGetTime(virDomainPtr dom, long long *seconds,
                    unsigned int *nseconds, unsigned int flags);
int xvDomainSetTime(virDomainPtr dom, long long seconds,
                    unsigned int nseconds, unsigned int flags);
int xvDomainFSFreeze(virDomainPtr dom, const char **mountpoints,
                     unsigned int nmountpoints, unsigned int flags);
int xvDomainFSThaw(virDomainPtr dom, const char **mountpoints,
                   unsigned int nmountpoints, unsigned int flags);
int xvDomainGetGuestInfo(virDomainPtr dom, unsigned int types,
                         virTypedParameterPtr *params, int *nparams,
                         unsigned int flags);
int xvDomainSetUserPassword(virDomainPtr dom, const char *user,
                            const char *password, unsigned int flags);
int xvDomainAgentSetResponseTimeout(virDomainPtr dom, int timeout,
                                    unsigned int flags);

/* The core saw a channel's guest side connect or go
 * (XLITE_EVENT_CHANNEL_STATE): for the agent's channel, its state and the
 * AGENT_LIFECYCLE event (reason CHANNEL).  Takes the domain's lock. */
void xvAgentChannelEvent(xvDriver *driver, const xlite_event *ev);

/* The driver closed @vm's channels (@vm locked): a connected agent
 * channel becomes disconnected, with its event. */
void xvAgentChannelClosed(xvDriver *driver, virDomainObj *vm);

/* libvirt formats a channel's state='connected|disconnected' for virtio
 * targets only: the live @xml of @vm (locked) with the agent's Xen
 * channel's state added (@xml is consumed). */
char *xvAgentFormatState(virDomainObj *vm, char *xml);

/* virDomainInterfaceAddresses with VIR_DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT
 * (@source, for the ACL check): guest-network-get-interfaces, as libvirt's
 * QEMU driver gives it (the guest's names, "lo" included). */
int xvAgentInterfaceAddresses(virDomainPtr dom,
                              virDomainInterfacePtr **ifaces_r,
                              unsigned int source);
