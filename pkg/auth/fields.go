package auth

import (
	"fmt"
	"strings"

	"github.com/cote-mail/cote/pkg/authproto"
	"github.com/cote-mail/cote/pkg/settings"
)

// fieldGet returns the value of key in f and whether it is present.
func fieldGet(f authproto.Fields, key string) (string, bool) {
	for _, x := range f {
		if x.Key == key {
			return x.Value, true
		}
	}
	return "", false
}

// fieldSet replaces key's value in f, or appends it.
func fieldSet(f authproto.Fields, key, value string, hasValue bool) authproto.Fields {
	for i := range f {
		if f[i].Key == key {
			f[i].Value, f[i].HasValue = value, hasValue
			return f
		}
	}
	return append(f, authproto.Field{Key: key, Value: value, HasValue: hasValue})
}

// fieldDel removes key from f.
func fieldDel(f authproto.Fields, key string) authproto.Fields {
	out := f[:0]
	for _, x := range f {
		if x.Key != key {
			out = append(out, x)
		}
	}
	return out
}

// parseFieldList splits Dovecot's space-separated "key=value" extra-field
// syntax (passwd-file's last column, static args, default_fields). A word
// without '=' is a flag ("nopassword", "nologin"). An empty key is an error.
func parseFieldList(s string) (authproto.Fields, error) {
	var out authproto.Fields
	for _, w := range strings.Fields(s) {
		k, v, has := strings.Cut(w, "=")
		if k == "" {
			return nil, fmt.Errorf("extra field %q has no name", w)
		}
		out = append(out, authproto.Field{Key: k, Value: v, HasValue: has})
	}
	return out, nil
}

// expandFields expands `%` variables in every value.
func expandFields(f authproto.Fields, vars settings.Vars) (authproto.Fields, error) {
	out := make(authproto.Fields, 0, len(f))
	for _, x := range f {
		if strings.Contains(x.Value, "%") {
			v, err := settings.Expand(x.Value, vars)
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", x.Key, err)
			}
			x.Value = v
		}
		out = append(out, x)
	}
	return out, nil
}

// splitPassUser separates the fields a passdb returns into passdb fields
// and userdb fields (Dovecot's "userdb_" prefix, which the auth server keeps
// for the userdb lookup that follows, as the prefetch userdb would).
func splitPassUser(f authproto.Fields) (pass, user authproto.Fields) {
	for _, x := range f {
		if k, ok := strings.CutPrefix(x.Key, "userdb_"); ok {
			x.Key = k
			user = append(user, x)
			continue
		}
		pass = append(pass, x)
	}
	return pass, user
}

// refusedField names the extra fields cote refuses, with the reason; a
// lookup that returns one fails internally (logged) instead of silently
// dropping what the administrator asked for.
func refusedField(f authproto.Fields) (string, string) {
	for _, x := range f {
		switch x.Key {
		case "proxy", "proxy_maybe", "host", "proxy_always", "director_tag":
			return x.Key, "proxying is not supported"
		case "master", "master_user":
			return x.Key, "master users are not supported"
		}
	}
	return "", ""
}
