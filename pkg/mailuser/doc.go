// Package mailuser turns a service's settings and a user's userdb fields
// into the storage.UserConfig that opens the user's mail: mail_location
// (or the userdb `mail` field), the home directory, the `namespace {}`
// and `mailbox {}` sections, and the quota (mail_plugins = quota, the
// `plugin { quota = ...; quota_rule = ... }` settings and the userdb
// quota_rule fields, which override the plugin's as in Dovecot).
//
// It exists so that pkg/storage does not import pkg/settings: the store
// is configured with plain data, and the post-login services (imap, pop3,
// lmtp) call Config with the root their protocol sees
// (settings.Config.Protocol).
//
// Imports: pkg/settings and pkg/storage only. It must not import
// protocol packages, auth, or storage drivers.
//
// Invariants:
//   - Every setting read here is honoured by storage.OpenUser; a quota
//     setting cote cannot honour is an error, never dropped.
package mailuser
