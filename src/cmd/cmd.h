/*
 * cmd.h - the subcommands of the sealauth binary. Each returns the process
 * exit status: 0 success, 1 the check or operation failed, 2 usage error.
 */
#ifndef SEALAUTH_CMD_H
#define SEALAUTH_CMD_H

int cmd_serve(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_vds(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_trust(int argc, char **argv);
int cmd_admin(int argc, char **argv);
int cmd_oidc(int argc, char **argv);
int cmd_saml(int argc, char **argv);
int cmd_services(int argc, char **argv);

#endif
