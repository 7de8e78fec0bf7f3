// Package settings holds cote's configuration schema and the typed,
// validated settings every process reads.
//
// Load parses cote.conf with pkg/config and checks every node against one
// schema table (schema.go: name, type, default, doc, the section kinds a
// setting may appear in, flags). Same-kind same-name sections merge, later
// values winning, as in Dovecot; unnamed passdb and userdb sections stay
// separate databases. Every problem is reported at once as
// "file:line: setting: problem" in a *LoadError, with a did-you-mean for
// unknown names; a configuration with errors is never returned.
//
// Migration rule (ARCHITECTURE.md "Configuration"): a Dovecot 2.3 setting
// cote does not implement is accepted at Dovecot's default value
// (dovecot_defaults.txt, generated from `doveconf -a` by
// gen_dovecot_defaults.sh), an error naming it otherwise, and a one-time
// warning where its value cannot matter (ssl_dh, mail_privileged_group,
// mbox_*, ...). mail_location accepts maildir only. passdb and userdb are
// validated, and while the auth service is not built they produce one
// warning. Settings inside Dovecot-only services (director, stats, ...) are
// errors; empty sections for them are accepted. `plugin {}` keys are kept
// as written: they only configure mail_plugins, which accepts quota alone
// (pkg/mailuser reads and checks the quota keys). `local`/`remote` filters with settings are errors until IP filters
// are applied; `local_name` takes ssl_* settings (TLS SNI).
//
// Services resolves the built services of enabled protocols from built-in
// definitions (Dovecot's high-performance defaults: service_count 0,
// client_limit default_client_limit, process_min_avail the number of CPUs)
// plus the configuration's overrides. Marshal/Unmarshal carry a
// configuration from the master to a service; ForService cuts it down to
// what one service may see (no passdb, userdb, dict or other services).
//
// Invariants: a loaded Config's values all passed their type check, so the
// Section accessors ignore parse errors; Default never fails (unknown names
// default to ""). Imports: pkg/config only among cote's packages.
package settings
