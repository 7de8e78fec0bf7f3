// Package anvil is the anvil service and its client: a small in-memory
// table of who is connected (per service, IP and user, for
// mail_max_userip_connections, smtpd's limits and `coteadm who`) and of
// authentication penalties per IP (the auth service's growing delay after
// failures). It speaks Dovecot 2.3's anvil protocol, so the verbs and
// their meaning are Dovecot's:
//
//	VERSION\tanvil\t1\t0             first line of every client; no reply
//	CONNECT\t<pid>\t<ident>          no reply
//	DISCONNECT\t<pid>\t<ident>       no reply
//	KILL\t<pid>                      forget every connection of pid; no reply
//	LOOKUP\t<ident>                  -> "<count>"
//	CONNECT-DUMP                     -> "<ident>\t<pid>\t<count>" lines, then ""
//	PENALTY-GET\t<ip>                -> "<penalty> <unix time of last raise>" ("0 0": none)
//	PENALTY-INC\t<ip>\t<cksum>\t<v>  set the penalty to v unless cksum is recent; no reply
//	PENALTY-SET-EXPIRE-SECS\t<secs>  no reply
//	PENALTY-DUMP                     -> "<ip>\t<penalty>\t<last raise>\t<last update>" lines, then ""
//
// and one verb of cote's own (Dovecot's anvil has none like it; Postfix's
// anvil keeps connection rates, which is what it is for):
//
//	RATE\t<ident>\t<secs>             -> "<count>": one event of ident, and how
//	                                   many fell in its current window
//
// The window is Postfix anvil's: it starts at ident's first event and
// restarts at the first event after secs (1 to 86400) have elapsed; smtpd
// sends one RATE per connection (ident "smtpd/<ip>/", secs =
// anvil_rate_time_unit) for smtpd_client_connection_rate_limit. Rate
// windows live only in memory, are swept once elapsed and bounded like
// penalties (maxRateEntries); an anvil restart forgets them.
//
// Lines are LF-terminated, arguments TAB-separated with Dovecot's
// tab-escaping (\001 -> \0011, \t -> \001t, \r -> \001r, \n -> \001n), at
// most MaxLine bytes. ident is "service/ip/user" (Ident, ParseIdent), the
// shape doveadm who splits. A malformed line, a line before VERSION, or a
// major version other than 1 closes that client's connection; the service
// goes on.
//
// Deviation from Dovecot, on purpose: Dovecot's master tells anvil which
// processes died (KILL on its own connection). cote's master does not
// speak to anvil, so the server forgets the connections a client
// registered when that client's connection closes, and the Client re-sends
// its live connections after it redials. A crashed process therefore
// leaks no counts, and an anvil restart loses none that a live process
// still holds. Penalties are lost when anvil restarts (as in Dovecot).
//
// Invariants: the server's tables are guarded by one mutex and never
// touched while writing to a socket; every count in the connection table
// belongs to exactly one live client connection; the penalty table is
// bounded (maxPenaltyEntries) and entries expire DefaultPenaltyExpire
// after their last update.
//
// Sockets (settings/services.go): base_dir/anvil, mode 0600 owned by
// default_internal_user, for auth (which runs as that user) and root
// (coteadm); base_dir/login/anvil, mode 0666 inside the login chroot
// directory that only login processes can traverse; base_dir/anvil-postlogin,
// mode 0600 owned by mail_uid, for the post-login processes (pkg/postlogin).
//
// Imports: none of cote's packages, so the auth service, login and
// post-login processes and coteadm can all link the client. cmd/anvil
// runs Server under pkg/service.
package anvil
