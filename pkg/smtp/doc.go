// Package smtp holds the mail-address and routing primitives shared by the
// MTA processes (smtpd and queue): RFC 5321 address and path parsing,
// domain normalisation to IDNA A-labels, Postfix-style recipient-domain
// classification (mydestination, virtual_mailbox_domains, relay_domains) and
// alias tables in /etc/aliases and Postfix virtual_alias_maps formats.
//
// RFCs: 5321 (Mailbox, Path, Local-part, address literals), 6531 (UTF-8
// local parts and U-label domains under SMTPUTF8), 3492 (Punycode, used to
// turn U-labels into A-labels), 5890-5891 (IDNA labels).
//
// It imports nothing of cote: it is plain data and parsers, so every MTA
// process and the fuzz tests can use it without settings or sockets. The
// wire protocol itself is go-smtp's; this package never does I/O except
// LoadAliases/LoadVirtualAliases reading their files (and :include: files).
//
// Invariants: an Address's Domain is lower-case ASCII (A-label form) or an
// address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]"); its Local part is
// the decoded local part (quotes and quoted-pairs removed), so the same
// mailbox compares equal however the client quoted it. Routing characters in
// a local part ('%', '!', '@') are kept: the relay policy refuses them for
// local domains (Address.HasRoutingChars).
package smtp
