/*
 * config.h - server configuration.
 *
 * Every setting has one name, used both as its environment variable and as
 * its key in the optional config file (KEY = value lines, '#' comments).
 * Precedence, lowest first: built-in default, config file, environment,
 * command-line option. The table in config.c is the single source of truth;
 * `sealauth serve --help` and docs/configuration.md are written from it.
 */
#ifndef SEALAUTH_CONFIG_H
#define SEALAUTH_CONFIG_H

#include <stdio.h>

#include "core/errors.h"

struct config {
	char *listen;	    /* host:port */
	char *data_dir;	    /* everything the embedded default writes */
	char *config_file;  /* optional KEY = value file */
	char *public_url;   /* our external base URL, JWT issuer */
	char *database_url; /* durable store URL */
	char *redis_url;    /* ephemeral store URL, empty: in-process */
	char *server_private_key_path;
	char *otp_secret_master; /* secret, wiped on free */
	char *fcm_service_account_path;
	char *metrics_listen;  /* second listener for /metrics, empty: none */
	char *metrics_token;   /* secret: unlocks /metrics on the main one */
	char *cors_origins;    /* comma-separated origins */
	char *ws_origins;      /* comma-separated; empty: public_url + cors */
	char *trusted_proxies; /* comma-separated IPs or CIDRs */
	char *rate_limits;     /* class=count/seconds,... */
	char *log_level;
	char *trust_dir;     /* trust environment, empty: data_dir/trust */
	char *services_file; /* relying parties (JSON); empty: demo service */
	char *push_mode;     /* auto, log or none */
	char *fcm_token_url; /* override of the service account's token_uri */
	char *fcm_send_url;  /* FCM API base URL */
	char *trust_governance_url;  /* empty: the demo environment */
	char *trust_governance_cert; /* pinned governance certificate (PEM) */
	char *trust_ca_file; /* CAs for https:// list URLs; empty: system */
	char *web_dir;	     /* the login page's files; empty: SOURCE_DIR/web */
	char *seal_quirks;   /* "accept" or "refuse" quirk seals at enroll */
	char *saml_entity_id;	   /* empty: PUBLIC_URL/saml/metadata */
	char *saml_key_path;	   /* dedicated SAML EC key; empty: key ring */
	char *saml_cert_path;	   /* its certificate (PEM) */
	char *saml_rsa_key_path;   /* RSA key for rsa-sha256 SPs */
	char *saml_rsa_cert_path;  /* its certificate (PEM) */
	long saml_assertion_ttl;   /* seconds an assertion is valid */
	long saml_request_max_age; /* seconds an AuthnRequest may be old */
	long saml_slo_timeout;	   /* seconds each SP gets to answer logout */
	char *user;	    /* drop to this user after binding, if root */
	long seccomp;	    /* 1 on, 0 off, -1 on unless sanitized */
	long database_wait; /* seconds to wait for the database at start */
	long threads;	    /* HTTP worker threads, 0: four per core (min 4) */
	long connection_limit;
	long connection_memory;	      /* bytes per connection for MHD */
	long connection_timeout;      /* seconds */
	long header_timeout;	      /* seconds for a request's headers */
	long per_ip_connection_limit; /* -1: 256, or 0 with trusted proxies */
	long body_limit;	      /* bytes */
	long ws_idle_timeout;	      /* seconds */
	long ws_max_message;	      /* bytes */
	long ws_max_connections;
	long audit_batch_max;	  /* rows per group commit */
	long audit_commit_gap_us; /* least time between commits under load */
	long audit_commit_gap_busy_us; /* that after a commit of many events */
	long session_ttl;	       /* seconds */
	long sso_ttl;		       /* provider session, seconds */
	long oidc_code_ttl;	       /* authorization codes, seconds */
	long takeover_delay;	       /* seconds before a takeover completes */
	long jwt_ttl;		       /* seconds */
	long admin_challenge_ttl;      /* seconds a passkey ceremony lives */
	long admin_session_ttl;	       /* seconds an admin sign-in lasts */
	long admin_invite_ttl;	       /* seconds an invitation link lasts */
	long key_publish_delay;	 /* seconds a rotated key is published before it
				    signs */
	long hsts_max_age;	 /* seconds, 0: no HSTS header */
	long push_allow_private; /* 1 allow loopback/private push targets, 0
				    refuse, -1 demo only */
	long push_workers;
	long trust_ttl;		     /* seconds between list refreshes */
	long trust_max_list_bytes;   /* cap on each fetched trust document */
	long trust_fetch_timeout_ms; /* per https fetch */
	long test_routes;	     /* 1: enable the test-only routes */
	/* Set by config_resolve: SEALAUTH_PUBLIC_URL was given, not derived
	 * from the listen address (administration needs a real one). */
	int public_url_given;
	/* seconds after issue a trust document is refused, per
	 * trust_doc_kind (governance, scheme, TSL, VRL, CRL); 0: no limit */
	long trust_max_age[5];
};

/* config_defaults fills every field with its default (strings allocated). */
enum sa_err config_defaults(struct config *cfg);

/*
 * config_load applies the config file named by SEALAUTH_CONFIG or
 * cfg->config_file (if any), then the environment. On error it prints the
 * offending key and reason to err and returns SA_ERR_CONFIG.
 */
enum sa_err config_load(struct config *cfg, FILE *err);

/*
 * config_resolve fills the settings whose defaults derive from others:
 * database_url (sqlite://DATA_DIR/sealauth.db), trust_dir (DATA_DIR/trust),
 * public_url (http://LISTEN), web_dir (the source tree's web/), and checks
 * the listen address.
 */
enum sa_err config_resolve(struct config *cfg, FILE *err);

/* config_set sets one setting by name ("SEALAUTH_LISTEN") from text. */
enum sa_err config_set(struct config *cfg, const char *name, const char *value,
		       FILE *err);

/* config_set_option sets one setting by its long option ("listen"). Returns
 * SA_ERR_NOT_FOUND if no setting has that option. */
enum sa_err config_set_option(struct config *cfg, const char *opt,
			      const char *value, FILE *err);

/* config_print_help writes every setting with option, variable, default. */
void config_print_help(FILE *out);

/* config_print_markdown writes the settings table for docs. */
void config_print_markdown(FILE *out);

/* config_free frees every string and wipes the secret ones. */
void config_free(struct config *cfg);

/*
 * config_warn_unknown_env warns on err about every SEALAUTH_* variable of
 * the environment that is not a setting, naming the closest setting when
 * the name looks misspelled. Returns how many it warned about.
 */
size_t config_warn_unknown_env(FILE *err);

#endif
