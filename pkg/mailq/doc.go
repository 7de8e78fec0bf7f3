// Package mailq formats the mail queue listing shared by `coteadm queue list`, `cote-sendmail
// -bp` and mailq, in the layout of Postfix's `postqueue -p` (showq) so scripts and admins
// that read Postfix's listing read cote's: one block per message with its queue ID followed
// by a status mark ('*' active, '!' held, ' ' deferred, '#' corrupt), the body size, the
// arrival time and the sender, then each recipient not yet delivered, preceded by the reason
// of its last deferral or failure in parentheses; a summary line ends the listing.
//
// It only formats pkg/queue's Entry values (queue.List reads the spool); it opens no file
// and imports nothing of cote but pkg/queue.
package mailq
