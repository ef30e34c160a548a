/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KVMRUN_CLI_NET_H
#define KVMRUN_CLI_NET_H

#include "kvmrun/config.h"

/* --net user: passt, and the addresses the guest gets by default. */
void cli_net_user_defaults(struct net_config *nc);

/* tcp|udp:[ADDR]:PORT-:GUESTPORT; 0, or -EINVAL with *why. */
int cli_net_parse_hostfwd(const char *s, struct net_hostfwd *fwd, const char **why);

/*
 * One item of --net: hostfwd= (user only), ip=CIDR, gw=ADDR. 1: taken;
 * 0: not one of these; -EINVAL with *why.
 */
int cli_net_item(const char *item, struct net_config *nc, const char **why);

/* The whole --net once its items are read: 0, or -EINVAL with *why. */
int cli_net_check(const struct net_config *nc, const char **why);

#endif
