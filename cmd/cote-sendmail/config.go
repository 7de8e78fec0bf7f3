package main

import (
	"errors"
	"io/fs"
	"os"

	"github.com/cote-mail/cote/pkg/config"
	"github.com/cote-mail/cote/pkg/settings"
)

// loadSettings is settings.Load for any local user. The shipped configuration names secrets
// with `key = <file` (ssl_key under a 0700 directory) that settings.Load reads and so fails
// on for an unprivileged user; sendmail needs none of them. When Load fails, the tree is
// parsed again without reading those files, the settings whose file this user may not read
// are left out, and the rest is validated as Load does.
func loadSettings(path string) (*settings.Config, error) {
	cfg, err := settings.Load(path)
	if err == nil {
		return cfg, nil
	}
	def := func(name string) (string, bool) { return settings.Default("", name), true }
	tree, perr := config.ParseFile(path, config.Options{Default: def, DeferFiles: true})
	if perr != nil || tree.Root == nil {
		return nil, err
	}
	if !pruneUnreadable(tree.Root) {
		return nil, err // not a permission problem: report Load's error
	}
	if cfg, ferr := settings.FromTree(tree); ferr == nil {
		return cfg, nil
	}
	return nil, err
}

// pruneUnreadable drops every `<file` setting whose file gives EACCES and says whether
// there was one.
func pruneUnreadable(n *config.Node) bool {
	pruned := false
	kept := n.Children[:0]
	for _, c := range n.Children {
		if c.Section {
			if pruneUnreadable(c) {
				pruned = true
			}
		} else if c.FromFile != "" {
			f, err := os.Open(c.FromFile)
			if errors.Is(err, fs.ErrPermission) {
				pruned = true
				continue
			}
			if f != nil {
				f.Close()
			}
		}
		kept = append(kept, c)
	}
	n.Children = kept
	return pruned
}
