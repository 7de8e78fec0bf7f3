package message

import "strings"

// Envelope is the IMAP ENVELOPE of a message (RFC 9051 §7.5.2) as data.
// Strings are the raw header values (encoded words are not decoded); nil
// means the header is absent. Address lists are nil when the header is
// absent or holds no address.
type Envelope struct {
	Date, Subject         *string
	From, Sender, ReplyTo []Address
	To, Cc, Bcc           []Address
	InReplyTo, MessageID  *string
}

// envelopeOf builds the envelope from a header the way Dovecot's
// imap-envelope.c does: a repeated string field (Subject, Date,
// Message-ID, In-Reply-To) keeps its last occurrence, a repeated address
// field appends to the list. Sender and Reply-To default to From
// (RFC 9051 §7.5.2) when they are absent or hold no address.
func envelopeOf(fields []Field) *Envelope {
	e := &Envelope{}
	const (
		fDate = 1 << iota
		fSubject
		fFrom
		fSender
		fReplyTo
		fTo
		fCc
		fBcc
		fInReplyTo
		fMessageID
	)
	for _, f := range fields {
		var bit uint
		switch strings.ToLower(f.Name) {
		case "date":
			bit = fDate
		case "subject":
			bit = fSubject
		case "from":
			bit = fFrom
		case "sender":
			bit = fSender
		case "reply-to":
			bit = fReplyTo
		case "to":
			bit = fTo
		case "cc":
			bit = fCc
		case "bcc":
			bit = fBcc
		case "in-reply-to":
			bit = fInReplyTo
		case "message-id":
			bit = fMessageID
		default:
			continue
		}
		v := f.Value
		switch bit {
		case fDate:
			e.Date = hstr(v)
		case fSubject:
			e.Subject = hstr(v)
		case fFrom:
			e.From = append(e.From, ParseAddressList(*hstr(v))...)
		case fSender:
			e.Sender = append(e.Sender, ParseAddressList(*hstr(v))...)
		case fReplyTo:
			e.ReplyTo = append(e.ReplyTo, ParseAddressList(*hstr(v))...)
		case fTo:
			e.To = append(e.To, ParseAddressList(*hstr(v))...)
		case fCc:
			e.Cc = append(e.Cc, ParseAddressList(*hstr(v))...)
		case fBcc:
			e.Bcc = append(e.Bcc, ParseAddressList(*hstr(v))...)
		case fInReplyTo:
			e.InReplyTo = hstr(v)
		case fMessageID:
			e.MessageID = hstr(v)
		}
	}
	if e.Sender == nil {
		e.Sender = e.From
	}
	if e.ReplyTo == nil {
		e.ReplyTo = e.From
	}
	return e
}
