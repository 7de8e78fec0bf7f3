package auth

import (
	"context"
	"fmt"

	"github.com/cote-mail/cote/pkg/authproto"
)

// staticPassDB is Dovecot's static passdb: `args = password=SECRET [fields]`
// or `args = nopassword [fields]`; every user name exists.
type staticPassDB struct {
	password string
	fields   authproto.Fields
}

func newStaticPass(args string) (*staticPassDB, error) {
	f, err := parseFieldList(args)
	if err != nil {
		return nil, fmt.Errorf("static passdb: %w", err)
	}
	db := &staticPassDB{}
	pw, hasPw := fieldGet(f, "password")
	_, noPw := fieldGet(f, "nopassword")
	if !hasPw && !noPw {
		return nil, fmt.Errorf("static passdb: args need password=... or nopassword")
	}
	if k, why := refusedField(f); k != "" {
		return nil, fmt.Errorf("static passdb: %s: %s", k, why)
	}
	db.password = pw
	db.fields = fieldDel(f, "password")
	return db, nil
}

func (db *staticPassDB) lookup(ctx context.Context, r *Request) (*passEntry, Result, error) {
	f, err := expandFields(db.fields, r.vars())
	if err != nil {
		return nil, ResultInternal, fmt.Errorf("static passdb: %w", err)
	}
	pw := db.password
	if pw != "" {
		fp, err := expandFields(authproto.Fields{{Key: "password", Value: pw, HasValue: true}}, r.vars())
		if err != nil {
			return nil, ResultInternal, fmt.Errorf("static passdb: %w", err)
		}
		pw = fp[0].Value
	}
	return &passEntry{Password: pw, Scheme: "PLAIN", Fields: f}, ResultOK, nil
}

// staticUserDB is Dovecot's static userdb: `args = uid=vmail gid=vmail
// home=/var/vmail/%d/%n [allow_all_users=yes] [fields]`. Without
// allow_all_users, a USER lookup that no authentication preceded first
// checks with the passdbs that the user exists (Dovecot does the same), so
// lmtp does not accept mail for any name.
type staticUserDB struct {
	fields        authproto.Fields
	allowAllUsers bool
	exists        func(ctx context.Context, r *Request) (Result, error) // set by the chain
}

func newStaticUser(args string) (*staticUserDB, error) {
	f, err := parseFieldList(args)
	if err != nil {
		return nil, fmt.Errorf("static userdb: %w", err)
	}
	db := &staticUserDB{}
	if v, ok := fieldGet(f, "allow_all_users"); ok {
		switch v {
		case "yes", "":
			db.allowAllUsers = true
		case "no":
		default:
			return nil, fmt.Errorf("static userdb: allow_all_users=%q: use yes or no", v)
		}
		f = fieldDel(f, "allow_all_users")
	}
	if k, why := refusedField(f); k != "" {
		return nil, fmt.Errorf("static userdb: %s: %s", k, why)
	}
	db.fields = f
	return db, nil
}

func (db *staticUserDB) lookup(ctx context.Context, r *Request) (authproto.Fields, Result, error) {
	if !db.allowAllUsers && db.exists != nil {
		res, err := db.exists(ctx, r)
		if res != ResultOK {
			return nil, res, err
		}
	}
	f, err := expandFields(db.fields, r.vars())
	if err != nil {
		return nil, ResultInternal, fmt.Errorf("static userdb: %w", err)
	}
	return f, ResultOK, nil
}
