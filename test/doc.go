// Package test holds repository-wide checks that belong to no one package:
// the import rules of ARCHITECTURE.md ("privilege separation is also an
// import rule") asserted with `go list -deps` per binary, and the build mode
// (CGO_ENABLED=0) of the binaries that drop privileges. The binary-level
// tests of the running suite live in test/e2e.
//
// It has no code outside its tests, imports nothing but pkg/testkit, and no
// package may import it.
package test
