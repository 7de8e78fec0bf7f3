package imap

// ReadLine reads one raw client line without its line ending, within the
// reader's line limit: the client's answer to a continuation request that
// is not a literal, such as a SASL response (RFC 9051 §6.2.2), which is a
// bare base64 line or "*". The slice is valid until the next read.
func (r *Reader) ReadLine() ([]byte, error) { return r.readLine() }
