package format

import (
	"reflect"
	"testing"
	"unicode/utf8"
)

// FuzzUidlist: parsing never panics; whatever parses re-encodes, and the
// re-encoding parses to the same content without problems.
func FuzzUidlist(f *testing.F) {
	f.Add([]byte("3 V1795798717 N3 Ge0f6721fbdb6096b9e65000083ecc375\n1 :1795798717.M527628P26014.vm,S=17,W=20\n2 :1795798717.M531891P26014.vm,S=19,W=21\n"))
	f.Add([]byte("1 1234 5\n1 a:2,S\n4 b\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUidlist(data)
		if err != nil {
			return
		}
		out, err := u.Marshal()
		if err != nil {
			t.Fatalf("parsed uidlist does not marshal: %v", err)
		}
		v, err := ParseUidlist(out)
		if err != nil {
			t.Fatalf("re-parse: %v\n%q", err, out)
		}
		if len(v.Problems) != 0 {
			t.Fatalf("re-parse problems %v\n%q", v.Problems, out)
		}
		if v.UIDValidity != u.UIDValidity || v.NextUID != u.NextUID || v.GUID != u.GUID ||
			!reflect.DeepEqual(v.HeaderExt, u.HeaderExt) || !equalRecords(v.Records, u.Records) {
			t.Fatalf("round trip changed content:\n%+v\n%+v", u, v)
		}
	})
}

func equalRecords(a, b []UidlistRecord) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].UID != b[i].UID || a[i].Base != b[i].Base || len(a[i].Ext) != len(b[i].Ext) {
			return false
		}
		for j := range a[i].Ext {
			if a[i].Ext[j] != b[i].Ext[j] {
				return false
			}
		}
	}
	return true
}

// FuzzFilename: parsing never panics and String is a fixed point.
func FuzzFilename(f *testing.F) {
	f.Add("1795798717.M527628P26014.vm,S=17,W=20:2,Sab")
	f.Add("1.x:1,abc")
	f.Fuzz(func(t *testing.T, name string) {
		p := ParseFilename(name)
		s := p.String()
		q := ParseFilename(s)
		if q.String() != s {
			t.Fatalf("String not stable: %q -> %q -> %q", name, s, q.String())
		}
		if p.HasInfo && (!reflect.DeepEqual(p.Keywords, q.Keywords) || p.Flags != q.Flags) {
			t.Fatalf("flags changed: %+v vs %+v", p, q)
		}
		if BaseOf(s) != p.Base {
			t.Fatalf("base changed: %q vs %q", BaseOf(s), p.Base)
		}
	})
}

// FuzzKeywords: parsing never panics and Marshal output parses back to the
// same mapping.
func FuzzKeywords(f *testing.F) {
	f.Add([]byte("0 $Forwarded\n1 work\n"))
	f.Add([]byte("25 z\nx\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k := ParseKeywords(data)
		out := k.Marshal()
		k2 := ParseKeywords(out)
		if k2.Names != k.Names || len(k2.Problems) != 0 {
			t.Fatalf("round trip: %q -> %q", data, out)
		}
	})
}

// FuzzMUTF7: decoding never panics; a decoded string re-encodes to a string
// that decodes to the same text; any valid UTF-8 round-trips through
// Encode and Decode.
func FuzzMUTF7(f *testing.F) {
	f.Add("~peter/mail/&U,BTFw-/&ZeVnLIqe-")
	f.Add("&AMQ-rger")
	f.Add("Tom &- Jerry")
	f.Fuzz(func(t *testing.T, s string) {
		if dec, err := DecodeMUTF7(s); err == nil {
			enc := EncodeMUTF7(dec)
			again, err := DecodeMUTF7(enc)
			if err != nil || again != dec {
				t.Fatalf("%q -> %q -> %q -> %q, %v", s, dec, enc, again, err)
			}
		}
		if utf8.ValidString(s) {
			enc := EncodeMUTF7(s)
			dec, err := DecodeMUTF7(enc)
			if err != nil || dec != s {
				t.Fatalf("%q -> %q -> %q, %v", s, enc, dec, err)
			}
		}
	})
}
