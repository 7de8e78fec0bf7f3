package master

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/cote-mail/cote/pkg/settings"
)

func TestServiceListeners(t *testing.T) {
	svc := settings.Service{
		Name: "imap-login",
		Inet: []settings.InetListener{
			{Name: "imap", Addresses: []string{"*", "::", "[::1]", "*"}, Port: 143},
			{Name: "imaps", Addresses: []string{"127.0.0.1"}, Port: 993, SSL: true, ReusePort: true},
			{Name: "off", Addresses: []string{"*"}, Port: 0},
		},
		Unix: []settings.UnixListener{{Name: "login/imap", Path: "/run/cote/login/imap", Mode: 0o666, User: "cote"}},
	}
	got := serviceListeners(svc)
	want := []listenerKey{
		{Service: "imap-login", Name: "imap", Address: "0.0.0.0", Port: 143},
		{Service: "imap-login", Name: "imap", Address: "::", Port: 143},
		{Service: "imap-login", Name: "imap", Address: "::1", Port: 143},
		{Service: "imap-login", Name: "imaps", Address: "127.0.0.1", Port: 993, SSL: true, ReusePort: true},
		{Service: "imap-login", Name: "login/imap", Unix: true, Path: "/run/cote/login/imap", Mode: 0o666, User: "cote"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if s := want[1].String(); s != "service imap-login: inet_listener imap: [::]:143" {
		t.Errorf("String() = %q", s)
	}
}

func TestDiffListeners(t *testing.T) {
	imap := listenerKey{Service: "imap-login", Name: "imap", Address: "127.0.0.1", Port: 143}
	imapNewPort := imap
	imapNewPort.Port = 10143
	imaps := listenerKey{Service: "imap-login", Name: "imaps", Address: "127.0.0.1", Port: 993, SSL: true}
	imapsNoSSL := imaps
	imapsNoSSL.SSL = false
	sock := listenerKey{Service: "auth", Name: "auth-client", Unix: true, Path: "/run/cote/auth-client", Mode: 0o600}
	sockMode := sock
	sockMode.Mode = 0o666
	bound := func(ks ...listenerKey) map[listenerKey]*boundListener {
		m := map[listenerKey]*boundListener{}
		for _, k := range ks {
			m[k] = &boundListener{key: k}
		}
		return m
	}
	tests := []struct {
		name                 string
		bound                map[listenerKey]*boundListener
		want                 []listenerKey
		kept, added, removed []listenerKey
	}{
		{name: "first start binds all", bound: bound(), want: []listenerKey{imap, imaps},
			added: []listenerKey{imap, imaps}},
		{name: "unchanged keeps all", bound: bound(imap, imaps), want: []listenerKey{imap, imaps},
			kept: []listenerKey{imap, imaps}},
		{name: "port change", bound: bound(imap, imaps), want: []listenerKey{imapNewPort, imaps},
			kept: []listenerKey{imaps}, added: []listenerKey{imapNewPort}, removed: []listenerKey{imap}},
		{name: "ssl flag change rebinds", bound: bound(imaps), want: []listenerKey{imapsNoSSL},
			added: []listenerKey{imapsNoSSL}, removed: []listenerKey{imaps}},
		{name: "unix mode change", bound: bound(sock), want: []listenerKey{sockMode},
			added: []listenerKey{sockMode}, removed: []listenerKey{sock}},
		{name: "service disabled", bound: bound(imap, imaps, sock), want: []listenerKey{sock},
			kept: []listenerKey{sock}, removed: []listenerKey{imap, imaps}},
		{name: "duplicates collapse", bound: bound(), want: []listenerKey{imap, imap},
			added: []listenerKey{imap}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, added, removed := diffListeners(tt.bound, tt.want)
			if !slices.Equal(kept, tt.kept) || !slices.Equal(added, tt.added) || !slices.Equal(removed, tt.removed) {
				t.Errorf("kept %v added %v removed %v\nwant kept %v added %v removed %v",
					kept, added, removed, tt.kept, tt.added, tt.removed)
			}
		})
	}
}

func TestBindPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	k := listenerKey{Service: "imap-login", Name: "imap", Address: "127.0.0.1", Port: port}
	_, err = bind(k, SystemUsers{}, false)
	want := "service imap-login: inet_listener imap: 127.0.0.1:" + strconv.Itoa(port) + ": address already in use"
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v\nwant %s", err, want)
	}
}

func TestBindWildcardsCoexist(t *testing.T) {
	v4 := listenerKey{Service: "s", Name: "l", Address: "0.0.0.0"}
	probe, err := bind(v4, SystemUsers{}, false)
	if err != nil {
		t.Fatal(err)
	}
	port := probe.ln.Addr().(*net.TCPAddr).Port
	probe.close()
	v4.Port = port
	v6 := v4
	v6.Address = "::"
	a, err := bind(v4, SystemUsers{}, false)
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", port, err)
	}
	defer a.close()
	b, err := bind(v6, SystemUsers{}, false)
	if errors.Is(err, errIPv6Unavailable) {
		t.Skip("no IPv6 here")
	}
	if err != nil {
		t.Fatalf("[::] next to 0.0.0.0 on one port: %v", err)
	}
	defer b.close()
}

func TestBindUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "sock")
	k := listenerKey{Service: "s", Name: "sock", Unix: true, Path: path, Mode: 0o660}
	// A stale socket from an earlier run is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err == nil {
		stale.SetUnlinkOnClose(false)
		stale.Close()
	} else {
		os.MkdirAll(filepath.Dir(path), 0o755)
		stale, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		stale.SetUnlinkOnClose(false)
		stale.Close()
	}
	bl, err := bind(k, SystemUsers{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer bl.close()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o660 || st.Mode().Type() != os.ModeSocket {
		t.Errorf("mode %v, want socket 0660", st.Mode())
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.Close()

	// A regular file in the way is an error, not something to delete.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	k.Path = file
	if _, err := bind(k, SystemUsers{}, false); err == nil || err.Error() != "service s: unix_listener sock: "+file+": exists and is not a socket" {
		t.Errorf("error = %v", err)
	}
}

func TestWaitReadable(t *testing.T) {
	bl, err := bind(listenerKey{Service: "s", Name: "l", Address: "127.0.0.1"}, SystemUsers{}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer bl.close()
	got := make(chan error, 1)
	go func() { got <- bl.waitReadable() }()
	c, err := net.Dial("tcp", bl.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// The client is still queued (not accepted): a second wait returns at
	// once, which is what makes the watch level-triggered.
	if err := bl.waitReadable(); err != nil {
		t.Fatal(err)
	}
	// Closing the listener ends a pending wait.
	bl2, err := bind(listenerKey{Service: "s", Name: "l2", Address: "127.0.0.1"}, SystemUsers{}, false)
	if err != nil {
		t.Fatal(err)
	}
	go func() { got <- bl2.waitReadable() }()
	bl2.close()
	if err := <-got; err == nil {
		t.Fatal("wait on a closed listener returned nil")
	}
}
