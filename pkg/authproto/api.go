package authproto

import (
	"errors"
	"net/netip"
)

// Protocol versions cote speaks. Dovecot 2.3's auth-client protocol is 1.2
// (the minor number only adds fields); auth-master and auth-userdb are 1.0.
const (
	ClientMajor = 1
	ClientMinor = 2
	MasterMajor = 1
	MasterMinor = 0
)

// MaxLineLength caps one protocol line, LF included. Dovecot's
// AUTH_CLIENT_MAX_LINE_LENGTH is 16 KiB: enough for an 8 KiB SASL response in
// base64 plus the request fields.
const MaxLineLength = 16 * 1024

// MaxSASLResponse caps a decoded SASL response (issue 3 "Bad input"). A
// larger resp= or CONT payload is a protocol error.
const MaxSASLResponse = 8 * 1024

// Errors. Every one of them closes the connection it came from: a peer that
// sends a malformed line cannot be resynchronised.
var (
	ErrLineTooLong = errors.New("authproto: line too long")
	ErrMalformed   = errors.New("authproto: malformed line")
	ErrVersion     = errors.New("authproto: unsupported protocol version")
	ErrTooLarge    = errors.New("authproto: SASL response too large")
	// ErrNotFound is returned by Master.User and Master.Pass for NOTFOUND.
	ErrNotFound = errors.New("authproto: user not found")
	// ErrClosed is returned once a connection is closed or broken.
	ErrClosed = errors.New("authproto: connection closed")
)

// FailError is a FAIL reply to a master request (REQUEST, USER, PASS, LIST).
type FailError struct {
	Reason string
}

func (e *FailError) Error() string {
	if e.Reason == "" {
		return "authproto: auth server failed the request"
	}
	return "authproto: auth server failed the request: " + e.Reason
}

// Field is one protocol argument: "key=value", or a bare flag such as
// "secured" (HasValue false).
type Field struct {
	Key, Value string
	HasValue   bool
}

// Fields is an ordered list of fields, as the protocol carries them.
// Methods: Get, Has, Add, AddFlag, Del, Args (in fields.go).
type Fields []Field

// Mech is one MECH line of the auth-client handshake.
type Mech struct {
	Name string
	// Security flags, as Dovecot names them on the wire: plaintext,
	// dictionary, active, forward-secrecy, mutual-auth, private.
	Plaintext, Dictionary, Active, ForwardSecrecy, MutualAuth, Private bool
}

// Handshake is what the auth server sends a new auth-client connection:
// VERSION, MECH..., SPID, CUID, COOKIE, DONE. WriteClientHandshake writes it,
// the Client reads it.
type Handshake struct {
	Mechs []Mech
	// SPID is the auth server's pid, CUID the connection's unique id.
	SPID int
	CUID uint32
	// Cookie is the server's 32 hex digit (16 random bytes) connection
	// cookie.
	Cookie string
}

// cote's extension fields on AUTH. The "cote_" prefix keeps them apart from
// Dovecot's names; Dovecot's auth server ignores unknown fields, so a login
// process may send them to either server.
const (
	FieldCBindType = "cote_cbind_type" // tls-exporter | tls-server-end-point
	FieldCBind     = "cote_cbind"      // base64 channel-binding data
	FieldCertUser  = "cote_cert_user"  // user name taken from a verified client certificate
)

// Request is one AUTH command (auth-client protocol), as a login process
// sends it and as the auth server parses it.
type Request struct {
	// Mech is the SASL mechanism, Service the protocol ("imap", "smtp").
	Mech, Service string
	// Secured: the client connection is TLS (or trusted local).
	// ValidClientCert: the client presented a certificate that verified.
	// NoPenalty: do not apply the per-IP failure penalty.
	Secured, ValidClientCert, NoPenalty bool
	// Local, Remote: lip/lport and rip/rport (zero value: absent).
	Local, Remote netip.AddrPort
	LocalName     string
	// InitialResponse is resp=; nil means none was sent (an empty but
	// present response is a zero-length non-nil slice, resp=).
	InitialResponse []byte
	// CBindType/CBind: channel binding of the client's TLS connection.
	CBindType string
	CBind     []byte
	// CertUser: user name from a verified client certificate (EXTERNAL).
	CertUser string
	// Extra holds the fields this type has no member for, in order; they
	// are sent and parsed through unchanged.
	Extra Fields
}

// Reply kinds of the auth-client protocol.
const (
	KindCont = "CONT"
	KindOK   = "OK"
	KindFail = "FAIL"
)

// Reply is one server reply to an AUTH exchange: CONT (Data is the decoded
// challenge), OK (User, Fields, and Data: success data sent as resp=, e.g.
// SCRAM's server-final message) or FAIL (Reason, Temp, NoLogin, User,
// Fields).
type Reply struct {
	Kind string
	Data []byte
	User string
	// Fields holds every field other than user=, reason=, temp, nologin
	// and (on OK) resp=.
	Fields        Fields
	Temp, NoLogin bool
	Reason        string
}

// Commands a client sends on auth-client, as ParseClientCommand returns them.
const (
	CmdVersion = "VERSION"
	CmdCPID    = "CPID"
	CmdAuth    = "AUTH"
	CmdCont    = "CONT"
	CmdCancel  = "CANCEL"
)

// ClientCommand is one parsed line a client sent on auth-client.
type ClientCommand struct {
	Kind         string // CmdVersion, CmdCPID, CmdAuth, CmdCont, CmdCancel
	Major, Minor int    // VERSION
	PID          int    // CPID
	ID           uint32 // AUTH, CONT, CANCEL
	Auth         *Request
	Data         []byte // CONT, decoded
}

// Commands a client sends on auth-master / auth-userdb.
const (
	CmdRequest = "REQUEST"
	CmdUser    = "USER"
	CmdPass    = "PASS"
	CmdList    = "LIST"
)

// MasterCommand is one parsed line a client sent on auth-master or
// auth-userdb.
type MasterCommand struct {
	Kind         string // CmdVersion, CmdCPID, CmdRequest, CmdUser, CmdPass, CmdList
	Major, Minor int    // VERSION
	PID          int    // CPID
	ID           uint32
	// REQUEST: the login process's pid, the id of its AUTH request, and the
	// connection cookie.
	ClientPID int
	AuthID    uint32
	Cookie    string
	// USER, PASS: the user; LIST: the user= mask ("" for all).
	User   string
	Fields Fields
}

// Function and method surface (implemented in the other files):
//
//	func Escape(s string) string
//	func Unescape(s string) (string, error)
//	func ParseLine(line []byte) ([]string, error)
//	func FormatLine(args ...string) []byte
//	func ParseFields(args []string) Fields
//	func (f Fields) Get(key string) (string, bool); Has(key) bool; Args() []string
//	func (f *Fields) Add(key, value string); AddFlag(key); Set(key, value); Del(key)
//	func ValidCookie(s string) bool
//	func NewConn(rw io.ReadWriter) *Conn       // bounded line reader + writer
//	func (c *Conn) ReadLine() ([]string, error)
//	func (c *Conn) WriteLine(args ...string) error
//	func (c *Conn) Write(line []byte) error    // a FormatLine result
//
//	func WriteClientHandshake(w io.Writer, h Handshake) error
//	func ParseClientCommand(args []string) (*ClientCommand, error)
//	func (r *Request) Args(id uint32) []string // AUTH line arguments
//	func (r Reply) Line(id uint32) []byte      // CONT/OK/FAIL line
//	func ParseReply(args []string) (uint32, Reply, error)
//	func (m Mech) Line() []byte                // one MECH line
//	func ParseMasterCommand(args []string) (*MasterCommand, error)
//	func MasterHandshake(spid int) []byte
//	func UserLine(id uint32, user string, f Fields) []byte
//	func PassLine(id uint32, f Fields) []byte
//	func NotFoundLine(id uint32) []byte
//	func FailLine(id uint32, reason string) []byte
//	func ListLine(id uint32, user string) []byte
//	func DoneLine(id uint32) []byte
//
//	func DialClient(ctx context.Context, path string, pid int) (*Client, error)
//	func NewClient(ctx context.Context, conn net.Conn, pid int) (*Client, error)
//	func (c *Client) Mechanisms() []Mech; ServerPID() int; ConnectUID() uint32; Cookie() string; Err() error; Close() error
//	func (c *Client) Start(ctx context.Context, r Request) (*Exchange, error)
//	// An Exchange is used by one goroutine at a time; a Client by many.
//	func (e *Exchange) ID() uint32
//	func (e *Exchange) Next(ctx context.Context) (Reply, error)
//	func (e *Exchange) Continue(resp []byte) error
//	func (e *Exchange) Abort()
//
//	func DialMaster(ctx context.Context, path string) (*Master, error)
//	func NewMaster(ctx context.Context, conn net.Conn) (*Master, error)
//	func (m *Master) Request(ctx context.Context, clientPID int, authID uint32, cookie string) (string, Fields, error)
//	func (m *Master) User(ctx context.Context, user, service string, f Fields) (string, Fields, error)
//	func (m *Master) Pass(ctx context.Context, user, service string, f Fields) (Fields, error)
//	func (m *Master) List(ctx context.Context, mask string, fn func(user string) error) error
//	func (m *Master) Close() error
