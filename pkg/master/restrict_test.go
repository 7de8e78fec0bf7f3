package master

import (
	"os/user"
	"slices"
	"strconv"
	"testing"

	"github.com/cote-mail/cote/pkg/ipc"
	"github.com/cote-mail/cote/pkg/settings"
)

func lookupIDs(t *testing.T) (nobodyUID, nogroupGID int) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Skipf("no user nobody: %v", err)
	}
	g, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Skipf("no group nogroup: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(g.Gid)
	return uid, gid
}

func TestBuildRestrict(t *testing.T) {
	uid, gid := lookupIDs(t)
	u, _ := user.Lookup("nobody")
	primary, _ := strconv.Atoi(u.Gid)
	rootGroup := 0
	tests := []struct {
		name    string
		svc     settings.Service
		privsep bool
		want    ipc.Restrict
		wantErr string
	}{
		{
			name:    "login service as nobody with chroot and vsz_limit",
			svc:     settings.Service{Name: "imap-login", Protocol: "imap", User: "nobody", Chroot: "/run/cote/login", VszLimit: 256 << 20},
			privsep: true,
			want: ipc.Restrict{UID: uid, GID: primary, Groups: []int{primary}, Chroot: "/run/cote/login",
				RlimitData: 256 << 20, GoMemLimit: (256 << 20) / 100 * 90},
		},
		{
			name:    "group and extra_groups",
			svc:     settings.Service{Name: "imap-login", Protocol: "imap", User: "nobody", Group: "nogroup", ExtraGroups: []string{"root"}},
			privsep: true,
			want:    ipc.Restrict{UID: uid, GID: gid, Groups: sortedUniq(primary, gid, rootGroup)},
		},
		{
			name:    "numeric extra group",
			svc:     settings.Service{Name: "anvil", User: "nobody", ExtraGroups: []string{"4242"}},
			privsep: true,
			want:    ipc.Restrict{UID: uid, GID: primary, Groups: sortedUniq(primary, 4242)},
		},
		{
			name:    "internal service without user keeps root",
			svc:     settings.Service{Name: "auth-worker"},
			privsep: true,
			want:    ipc.NoRestrict,
		},
		{
			name:    "login service as root",
			svc:     settings.Service{Name: "imap-login", Protocol: "imap", User: "root"},
			privsep: true,
			wantErr: "service imap-login: user root: login and mail processes must not run as root",
		},
		{
			name:    "lmtp as root by choice",
			svc:     settings.Service{Name: "lmtp", Protocol: "lmtp", User: "root"},
			privsep: true,
			want:    ipc.Restrict{UID: 0, GID: 0, Groups: sortedUniq(0)},
		},
		{
			name:    "login service without user",
			svc:     settings.Service{Name: "pop3-login"},
			privsep: true,
			wantErr: "service pop3-login: user: not set; login and mail processes must not run as root",
		},
		{
			name:    "unknown user",
			svc:     settings.Service{Name: "imap-login", Protocol: "imap", User: "no-such-user-here"},
			privsep: true,
			wantErr: "service imap-login: user no-such-user-here: no such user",
		},
		{
			name:    "unknown extra group",
			svc:     settings.Service{Name: "imap-login", Protocol: "imap", User: "nobody", ExtraGroups: []string{"no-such-group-here"}},
			privsep: true,
			wantErr: "service imap-login: extra_groups no-such-group-here: no such group",
		},
		{
			name:    "unprivileged master: only limits",
			svc:     settings.Service{Name: "imap-login", Protocol: "imap", User: "nobody", Chroot: "/run/cote/login", VszLimit: 1000},
			privsep: false,
			want:    ipc.Restrict{UID: -1, GID: -1, RlimitData: 1000, GoMemLimit: 900},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := BuildRestrict(tt.svc, SystemUsers{}, tt.privsep)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Encode() != tt.want.Encode() {
				t.Errorf("restrict:\n got %s\nwant %s", got.Encode(), tt.want.Encode())
			}
			// The record survives the environment round trip unchanged.
			back, err := ipc.ParseRestrict(got.Encode())
			if err != nil || back.Encode() != got.Encode() {
				t.Errorf("round trip: %v %s", err, back.Encode())
			}
		})
	}
}

func sortedUniq(xs ...int) []int {
	slices.Sort(xs)
	return slices.Compact(xs)
}

func TestFindExecutable(t *testing.T) {
	dir := t.TempDir()
	bin := dir + "/svc"
	writeExec(t, bin)
	tests := []struct {
		name, bin string
		dirs      []string
		wantPath  string
		wantErr   string
	}{
		{name: "absolute", bin: bin, wantPath: bin},
		{name: "relative found in second dir", bin: "svc", dirs: []string{"/nonexistent", dir}, wantPath: bin},
		{name: "missing absolute", bin: dir + "/nope", wantErr: "executable " + dir + "/nope: not found or not executable"},
		{name: "missing relative", bin: "nope", dirs: []string{"/a", "/b"}, wantErr: "executable nope: not found in /a, /b"},
		{name: "empty", bin: "", wantErr: "executable: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := findExecutable(tt.bin, tt.dirs)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || p != tt.wantPath {
				t.Errorf("got %q %v, want %q", p, err, tt.wantPath)
			}
		})
	}
}
