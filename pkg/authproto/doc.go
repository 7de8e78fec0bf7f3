// Package authproto is Dovecot's authentication protocols as cote speaks
// them: the line codec, the server-side parsers and reply formatters the auth
// service uses, and the clients every other process uses.
//
// # Wire format
//
// Lines are TAB-separated fields ended by LF (a CR before the LF is
// dropped, as Dovecot's reader does). Fields are tab-escaped as Dovecot's
// str_tabescape does: NUL -> \001 '0', \001 -> \001 '1', TAB -> \001 't',
// CR -> \001 'r', LF -> \001 'n'. A line is at most
// MaxLineLength (16 KiB, Dovecot's AUTH_CLIENT_MAX_LINE_LENGTH) bytes; a SASL
// response is at most MaxSASLResponse (8 KiB) decoded. A line that breaks
// any rule is an error, and the reader of such a line closes that
// connection: there is no resynchronising a peer that sends garbage.
//
// # auth-client (protocol 1.2)
//
// Used by login processes and by Postfix (smtpd_sasl_type = dovecot).
// The client sends "VERSION 1 2" and "CPID <pid>"; the server greets with
// "VERSION 1 2", one "MECH <name> <flags...>" per mechanism (flags:
// plaintext, dictionary, active, forward-secrecy, mutual-auth, private),
// "SPID <pid>", "CUID <n>", "COOKIE <32 hex>", "DONE". Then:
//
//	AUTH <id> <mech> service=<s> [secured] [valid-client-cert] [no-penalty]
//	     [lip=..] [lport=..] [rip=..] [rport=..] [local_name=..] [resp=<base64>]
//	CONT <id> <base64>        (both directions)
//	CANCEL <id>               (client gives up on a request)
//	OK <id> user=<u> [fields] | FAIL <id> [user=..] [temp] [nologin] [reason=..]
//
// Unknown AUTH fields (Dovecot clients send session=, nologin, ...) are kept
// in Request.Extra and passed on unchanged.
//
// cote's extension fields on AUTH, prefixed "cote_" so Dovecot's auth server
// (which ignores unknown fields) and Dovecot's tools are not confused:
//
//	cote_cbind_type=tls-exporter|tls-server-end-point
//	    the channel-binding type of the client's TLS connection (RFC 9266,
//	    RFC 5929 §4), computed by the login process that holds the TLS
//	    session; SCRAM-*-PLUS needs it.
//	cote_cbind=<base64>
//	    the channel-binding data itself; sent together with cote_cbind_type.
//	cote_cert_user=<name>
//	    the user name the login process took from a verified client
//	    certificate (sent with valid-client-cert); EXTERNAL needs it.
//
// # auth-master and auth-userdb (protocol 1.0)
//
// The client sends "VERSION 1 0"; the server greets with "VERSION 1 0" and
// "SPID <pid>". Then:
//
//	REQUEST <id> <client-pid> <auth-id> <cookie>  -> USER <id> <user> [fields] | NOTFOUND <id> | FAIL <id> [reason=..]
//	USER <id> <user> [service=..] [fields]         -> USER | NOTFOUND | FAIL
//	PASS <id> <user> [service=..] [fields]         -> PASS <id> [fields] | NOTFOUND | FAIL
//	LIST <id> [user=<mask>]                         -> LIST <id> <user> ... DONE <id> | FAIL
//
// auth-userdb serves USER and LIST only; that policy is the server's.
//
// # Imports and invariants
//
// authproto imports no cote package (it is a contract shared by login,
// post-login, lmtp, smtpd, coteadm and auth). It never logs: SASL payloads
// and passwords travel through it and must never reach a log line. Every
// read is bounded by MaxLineLength. Request ids are nonzero decimal uint32s.
package authproto
