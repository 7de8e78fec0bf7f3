package anvil

import (
	"errors"
	"net/netip"
	"strings"
	"time"
)

// Handshake is the first line a client sends: Dovecot 2.3's anvil protocol,
// major version 1, minor 0. The server answers nothing to it.
const Handshake = "VERSION\tanvil\t1\t0"

// DefaultPenaltyExpire is how long an IP's penalty is remembered after its
// last update (Dovecot's PENALTY_DEFAULT_EXPIRE_SECS, one hour), unless a
// client sends PENALTY-SET-EXPIRE-SECS.
const DefaultPenaltyExpire = time.Hour

// MaxLine caps a request or reply line. Dovecot's anvil MAX_INBUF_SIZE is
// 1024; cote allows 2048 so that a user name up to a login process's
// command-line limit still fits in an ident.
const MaxLine = 2048

// ErrUnavailable wraps every error that comes from not reaching the anvil
// service (dial, write or read failures): callers treat anvil as advisory
// and carry on, as Dovecot's processes do when anvil is down.
var ErrUnavailable = errors.New("anvil: service unavailable")

// Conn is one entry of the connection table, as `coteadm who` lists it:
// Count connections of (Service, IP, User) held by process PID.
type Conn struct {
	Service string
	User    string
	IP      netip.Addr // the zero Addr when the connection had no IP (a local socket)
	PID     int
	Count   int
}

// Ident returns the connection-limit identity "service/ip/user" that
// CONNECT, DISCONNECT and LOOKUP carry (Dovecot's ident for
// mail_max_userip_connections, which doveadm who splits the same way).
func Ident(service, user string, ip netip.Addr) string {
	s := ""
	if ip.IsValid() {
		s = ip.Unmap().String()
	}
	return service + "/" + s + "/" + user
}

// ParseIdent splits an ident made by Ident. The user is everything after
// the second '/', so a user name may itself contain '/'. An ident that is
// not of this shape (Dovecot's processes send others too) is reported with
// ok = false.
func ParseIdent(ident string) (service, user string, ip netip.Addr, ok bool) {
	service, rest, ok1 := strings.Cut(ident, "/")
	ipStr, user, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 {
		return "", "", netip.Addr{}, false
	}
	if ipStr != "" {
		a, err := netip.ParseAddr(ipStr)
		if err != nil {
			return "", "", netip.Addr{}, false
		}
		ip = a
	}
	return service, user, ip, true
}

// The client API (client.go). Every method is safe for concurrent use; the
// requests of one Client share one connection, which is redialled after an
// error. Connections registered with Connect are sent again after a
// redial, because the server forgets a client's entries when its
// connection closes (a crashed process leaks no counts).
//
//	func Dial(ctx context.Context, path string) (*Client, error)
//	func (c *Client) Close() error
//	func (c *Client) Connect(pid int, service, user string, ip netip.Addr) error
//	func (c *Client) Disconnect(pid int, service, user string, ip netip.Addr) error
//	func (c *Client) Lookup(service, user string, ip netip.Addr) (int, error)
//	func (c *Client) Rate(service, user string, ip netip.Addr, window time.Duration) (int, error)
//	func (c *Client) Kill(pid int) error
//	func (c *Client) PenaltyGet(ip netip.Addr) (penalty int, last time.Time, err error)
//	func (c *Client) PenaltyInc(ip netip.Addr, checksum uint32, value int) error
//	func (c *Client) PenaltySetExpire(d time.Duration) error
//	func (c *Client) Who(ctx context.Context) ([]Conn, error)
//
// The server API (server.go), which cmd/anvil runs under pkg/service:
//
//	func NewServer(log *zap.Logger) *Server
//	func (s *Server) ServeConn(ctx context.Context, c net.Conn)
//	func (s *Server) Sweep()
