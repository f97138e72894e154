package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeFiles creates files below root from a map of relative path to content.
func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		path := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func toolsFiles() map[string]string {
	return map[string]string{
		"go.mod":       "module " + toolsModule + "\n",
		"go.sum":       "sum one\n",
		"etcd/main.go": "package main\n",
		"kwok/go.mod":  "module example/kwok\n",
		"kwok/go.sum":  "kwok sum\n",
	}
}

func TestCacheKey(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, toolsFiles())

	key, err := cacheKey(dir, "go1.26.8 linux amd64")
	if err != nil {
		t.Fatal(err)
	}
	if len(key) != 16 {
		t.Errorf("key %q: want 16 hex characters", key)
	}
	again, err := cacheKey(dir, "go1.26.8 linux amd64")
	if err != nil {
		t.Fatal(err)
	}
	if again != key {
		t.Errorf("same inputs gave %q and %q", key, again)
	}

	otherGo, err := cacheKey(dir, "go1.27.0 linux amd64")
	if err != nil {
		t.Fatal(err)
	}
	if otherGo == key {
		t.Error("a different Go version must give a different key")
	}

	for _, name := range keyFiles {
		t.Run(filepath.ToSlash(name), func(t *testing.T) {
			changed := t.TempDir()
			files := toolsFiles()
			files[filepath.ToSlash(name)] += "changed\n"
			writeFiles(t, changed, files)
			got, err := cacheKey(changed, "go1.26.8 linux amd64")
			if err != nil {
				t.Fatal(err)
			}
			if got == key {
				t.Errorf("changing %s did not change the key", name)
			}
		})
	}

	// Moving bytes between files must not collide.
	moved := t.TempDir()
	files := toolsFiles()
	files["go.mod"] += "sum one\n"
	files["go.sum"] = ""
	writeFiles(t, moved, files)
	if got, err := cacheKey(moved, "go1.26.8 linux amd64"); err != nil || got == key {
		t.Errorf("moving content between files: key %q, err %v", got, err)
	}
}

func TestCacheKeyMissingFile(t *testing.T) {
	dir := t.TempDir()
	files := toolsFiles()
	delete(files, "kwok/go.sum")
	writeFiles(t, dir, files)
	if _, err := cacheKey(dir, "go"); err == nil {
		t.Fatal("want an error when a pinned file is missing")
	}
}

func TestFindToolsDirFrom(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"hack/tools/go.mod": "// comment\nmodule " + toolsModule + "\n\ngo 1.26\n",
		// A hack/tools of another project nearer to the start is skipped.
		"a/hack/tools/go.mod": "module example.com/other/hack/tools\n",
		"a/b/c/.keep":         "",
	})

	got, ok := findToolsDirFrom(filepath.Join(root, "a", "b", "c"))
	if !ok {
		t.Fatal("tools dir not found")
	}
	if want := filepath.Join(root, "hack", "tools"); got != want {
		t.Errorf("found %s, want %s", got, want)
	}

	if _, ok := findToolsDirFrom(t.TempDir()); ok {
		t.Error("found a tools dir in an empty tree")
	}
}

func TestFindToolsDirEnv(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, toolsFiles())
	t.Setenv(EnvToolsDir, dir)
	got, err := FindToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	if got != dir {
		t.Errorf("got %s, want %s", got, dir)
	}

	t.Setenv(EnvToolsDir, t.TempDir())
	if _, err := FindToolsDir(); err == nil || !strings.Contains(err.Error(), EnvToolsDir) {
		t.Errorf("want an error naming %s, got %v", EnvToolsDir, err)
	}
}

func TestFindToolsDirOfThisRepository(t *testing.T) {
	t.Setenv(EnvToolsDir, "")
	got, err := FindToolsDir()
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := os.Getwd()
	if want := filepath.Join(wd, "..", "..", "hack", "tools"); filepath.Clean(want) != got {
		t.Errorf("got %s, want %s", got, filepath.Clean(want))
	}
}

func TestPrebuiltRequiresRuntimeBinaries(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		writeFiles(t, dir, map[string]string{name: "#!/bin/sh\n"})
	}
	if _, err := prebuilt(dir); err == nil || !strings.Contains(err.Error(), "kwok") {
		t.Fatalf("want an error naming kwok, got %v", err)
	}
	writeFiles(t, dir, map[string]string{"kwok": "#!/bin/sh\n"})
	bins, err := prebuilt(dir)
	if err != nil {
		t.Fatal(err)
	}
	if bins.Kubectl != "" || bins.ControllerGen != "" {
		t.Errorf("absent optional binaries should be empty, got %q and %q", bins.Kubectl, bins.ControllerGen)
	}
}

func TestKwokConfig(t *testing.T) {
	data, err := kwokConfig(42)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	kinds := map[string]int{}
	for _, doc := range bytes.Split(data, []byte("---\n")) {
		var s kwokStage
		if err := json.Unmarshal(doc, &s); err != nil {
			t.Fatalf("document is not a stage: %v\n%s", err, doc)
		}
		if seen[s.Metadata.Name] {
			t.Errorf("stage %s twice", s.Metadata.Name)
		}
		seen[s.Metadata.Name] = true
		kinds[s.Spec.ResourceRef.Kind]++
		if len(s.Spec.Selector.MatchExpressions) == 0 {
			t.Errorf("stage %s has no selector and would match everything", s.Metadata.Name)
		}
		for _, p := range s.Spec.Next.Patches {
			if strings.Contains(p.Template, `status: "true"`) || strings.Contains(p.Template, `status: "false"`) {
				t.Errorf("stage %s: condition statuses are True or False:\n%s", s.Metadata.Name, p.Template)
			}
			if strings.Contains(p.Template, "@") {
				t.Errorf("stage %s has an unfilled placeholder:\n%s", s.Metadata.Name, p.Template)
			}
		}
	}
	if kinds["Node"] == 0 || kinds["Pod"] == 0 {
		t.Errorf("want stages for nodes and pods, got %v", kinds)
	}
	if !bytes.Contains(data, []byte("pods: 42")) {
		t.Error("the node capacity fallback does not use PodsPerNode")
	}
}

func TestValidateName(t *testing.T) {
	for _, name := range []string{"kanaria", "e2e-1", "a.b_c"} {
		if err := validateName(name); err != nil {
			t.Errorf("%q: %v", name, err)
		}
	}
	for _, name := range []string{"..", "a/b", "Upper", "-x", "a b"} {
		if err := validateName(name); err == nil {
			t.Errorf("%q: want an error", name)
		}
	}
}

func TestPrefixWriter(t *testing.T) {
	var buf bytes.Buffer
	w := &prefixWriter{w: &buf, prefix: "> "}
	for _, s := range []string{"one\ntw", "o\n", "three\n"} {
		if _, err := w.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if want := "> one\n> two\n> three\n"; buf.String() != want {
		t.Errorf("got %q, want %q", buf.String(), want)
	}
}

func TestLockFileExcludes(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".lock")
	unlock, err := lockFile(context.Background(), path, nil)
	if err != nil {
		t.Fatal(err)
	}

	// flock locks belong to open files, so a second open in the same
	// process contends like another process would.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	waited := false
	if _, err := lockFile(ctx, path, func() { waited = true }); err == nil {
		t.Fatal("a second lock was granted while the first was held")
	}
	if !waited {
		t.Error("onWait was not called while waiting")
	}

	unlock()
	unlockAgain, err := lockFile(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlockAgain()
}

func TestNoPodsLeavesOutTheReplicaSetController(t *testing.T) {
	if got := controllerList(false); got != "*,-serviceaccount-token" {
		t.Errorf("controllers %q", got)
	}
	if got := controllerList(true); got != "*,-serviceaccount-token,-replicaset" {
		t.Errorf("no-pods controllers %q", got)
	}
}
