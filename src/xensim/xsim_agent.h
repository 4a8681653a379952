/*
 * xsim_agent.h: the simulated guest's QEMU guest agent (qemu-ga), the
 * protocol side: JSON commands in, replies out, on the guest's channel
 * org.qemu.guest_agent.0 (docs/channels.md, "The simulated guest agent").
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

/* One of the guest's network interfaces, for guest-network-get-interfaces. */
typedef struct {
    char name[16];          /* as Linux names it: eth0, eth1, ... */
    guint8 mac[6];
    uint32_t addr;          /* IPv4, network order */
    guint prefix;
} XsimAgentIface;

/* What the agent asks of its guest. */
typedef struct {
    /* The guest's host name (its home's name, made printable). */
    const char *(*hostname)(gpointer opaque);
    /* guest-shutdown: "powerdown", "halt" or "reboot", checked. */
    void (*shutdown)(gpointer opaque, const char *mode);
    /* A line on its console (what the guest's programs print). */
    void (*console)(gpointer opaque, const char *line);
    /* Its interfaces that carry frames (XsimAgentIface), in its order. */
    GArray *(*interfaces)(gpointer opaque);
    /* A broken agent (tests): every sync is answered with another id. */
    bool wrong_sync;
    /* A broken agent (tests): every command but a sync is answered with
     * one line of 2 MiB. */
    bool long_reply;
    gpointer opaque;
} XsimAgentHost;

typedef struct _XsimAgent XsimAgent;

XsimAgent *
xsim_agent_new(const XsimAgentHost *host);

void
xsim_agent_free(XsimAgent *agent);

/*
 * Bytes from the host: each complete command (a JSON object ending a
 * line, or a 0xFF that resets the parser, as qemu-ga takes it) gets its
 * reply appended to @out, one JSON object and a newline (guest-sync-
 * delimited's preceded by 0xFF).  A line longer than the agent's bound
 * is dropped whole, with an error reply.
 */
void
xsim_agent_input(XsimAgent *agent,
                 const char *data,
                 gsize len,
                 GString *out);
