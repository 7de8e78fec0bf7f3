//go:build !pam

package main

import "github.com/cote-mail/cote/pkg/auth"

// pamAuth is nil: this binary was built without PAM.
var pamAuth auth.PAMFunc

// prepare has nothing to do in a binary without cgo: the service runtime
// sets no_new_privs on every thread itself.
func prepare() {}
