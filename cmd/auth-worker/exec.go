package main

import (
	"fmt"
	"os"
)

// Helpers of prepare (pam.go), kept in an untagged file so both builds
// compile and vet them.

func readExe() (string, error) {
	// /proc/self/exe survives the binary being replaced on disk.
	return "/proc/self/exe", nil
}

func osArgs() []string    { return os.Args }
func osEnviron() []string { return os.Environ() }

func fatal(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "auth-worker: "+format+"\n", args...)
	os.Exit(1)
}
