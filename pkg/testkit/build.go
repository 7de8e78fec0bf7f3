package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// MasterBinary is the name the master (cmd/master) is built under.
const MasterBinary = "cote"

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// ModuleRoot returns the directory holding cote's go.mod, found by walking up
// from the working directory (go test runs in the package directory).
func ModuleRoot(t testing.TB) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
			if err == nil && strings.Contains(string(data), "module github.com/cote-mail/cote\n") {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = errors.New("testkit: no go.mod of github.com/cote-mail/cote above the working directory")
				return
			}
			dir = parent
		}
	})
	if rootErr != nil {
		t.Fatal(rootErr)
	}
	return rootDir
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// Build builds every ./cmd/... binary with CGO_ENABLED=0 once per test
// process and returns the directory holding them; cmd/master is named
// MasterBinary. The result is cached under os.TempDir() keyed by a hash of
// the module's sources and the toolchain, so the packages of one `go test
// ./...` run (separate processes) share one build.
func Build(t testing.TB) string {
	t.Helper()
	root := ModuleRoot(t)
	buildOnce.Do(func() { buildDir, buildErr = build(root) })
	if buildErr != nil {
		t.Fatalf("testkit: build: %v", buildErr)
	}
	return buildDir
}

func build(root string) (string, error) {
	key, err := sourceHash(root)
	if err != nil {
		return "", err
	}
	cacheRoot := filepath.Join(os.TempDir(), fmt.Sprintf("cote-testkit-%d", os.Getuid()))
	if err := os.MkdirAll(cacheRoot, 0o700); err != nil {
		return "", err
	}
	dir := filepath.Join(cacheRoot, "bin-"+key[:16])
	if _, err := os.Stat(filepath.Join(dir, MasterBinary)); err == nil {
		return dir, nil
	}
	pruneOldBuilds(cacheRoot)
	tmp, err := os.MkdirTemp(cacheRoot, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "build", "-o", tmp+string(filepath.Separator), "./cmd/...")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/...: %v\n%s", err, msg)
	}
	if err := os.Rename(filepath.Join(tmp, "master"), filepath.Join(tmp, MasterBinary)); err != nil {
		return "", fmt.Errorf("cmd/master was not built: %w", err)
	}
	// Another test process may have finished the same build first: its
	// directory is as good as ours.
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(filepath.Join(dir, MasterBinary)); serr == nil {
			return dir, nil
		}
		return "", err
	}
	return dir, nil
}

// sourceHash hashes what a build depends on: go.mod, go.sum, every non-test
// .go file under cmd/ and pkg/, the toolchain version and the target.
func sourceHash(root string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s/%s cgo=0\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	var files []string
	for _, top := range []string{"go.mod", "go.sum", "cmd", "pkg", "internal"} {
		p := filepath.Join(root, top)
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" {
					return filepath.SkipDir
				}
				return nil
			}
			if path == p || isBuildInput(path) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	sort.Strings(files)
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\n", strings.TrimPrefix(f, root))
		_, err = io.Copy(h, fh)
		fh.Close()
		if err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// isBuildInput reports whether a file under cmd/ or pkg/ can change a
// binary: non-test Go sources, and data files a package may pull in with
// go:embed (a settings defaults table, say).
func isBuildInput(path string) bool {
	if strings.HasSuffix(path, "_test.go") {
		return false
	}
	switch filepath.Ext(path) {
	case ".md", ".tr":
		return false
	}
	return true
}

// pruneOldBuilds removes cached builds older than an hour, so edits during
// development do not fill the temp directory.
func pruneOldBuilds(cacheRoot string) {
	old, _ := filepath.Glob(filepath.Join(cacheRoot, "bin-*"))
	for _, d := range old {
		if st, err := os.Stat(d); err == nil && time.Since(st.ModTime()) > time.Hour {
			os.RemoveAll(d)
		}
	}
}
