package storage

// POP3Info is what a store keeps about a message for POP3 besides the
// message itself: the values of Dovecot's pop3_uidl_format variables %f
// and %g, and a UIDL and download order recorded by an earlier server
// (Dovecot's maildir keeps them in dovecot-uidlist, extensions P and O,
// written by pop3_save_uidl or a migration).
type POP3Info struct {
	// GUID is the message GUID (%g).
	GUID string
	// FileName is the store's name for the message (%f; Maildir: the
	// file name up to the ":2," info).
	FileName string
	// UIDL is the stored POP3 UIDL when HasUIDL; it is served as is,
	// ahead of X-UIDL headers and pop3_uidl_format, as Dovecot does.
	UIDL    string
	HasUIDL bool
	// Order is the stored POP3 message order, 0 for none: messages with
	// an order are listed first, by it, the others after them by UID.
	Order uint32
}

// POP3Mailbox is implemented by a Mailbox whose store keeps POP3Info
// (the maildir driver). A POP3 session type-asserts it; a store without
// it serves pop3_uidl_format with %u and %v only.
type POP3Mailbox interface {
	// POP3Info returns the POP3Info of the messages of uids (all of the
	// view if nil), by UID; expunged UIDs are left out.
	POP3Info(uids []uint32) (map[uint32]POP3Info, error)
	// SavePOP3UIDLs stores uidls (by UID) as the messages' POP3 UIDLs
	// where none is stored yet (Dovecot's pop3_save_uidl); UIDLs of
	// messages expunged meanwhile are dropped.
	SavePOP3UIDLs(uidls map[uint32]string) error
}
