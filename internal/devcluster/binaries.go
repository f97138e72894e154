package devcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Environment variables that steer where binaries come from and where they
// are cached.
const (
	// EnvToolsDir points at the hack/tools module when it cannot be found by
	// walking up from the working directory or the executable.
	EnvToolsDir = "KANARIA_TOOLS_DIR"
	// EnvCacheDir overrides the cache root (default: os.UserCacheDir()/kanaria).
	// Built binaries and the data of named dev clusters live below it.
	EnvCacheDir = "KANARIA_CACHE_DIR"
	// EnvBinDir names a directory of prebuilt binaries that are used as they
	// are, with no build and no cache.
	EnvBinDir = "KANARIA_BIN_DIR"
)

// toolsModule is the module path that identifies the right hack/tools
// directory, so that an unrelated project's hack/tools is never picked up.
const toolsModule = "github.com/kanaria-rollouts/kanaria/hack/tools"

// Binaries holds the absolute paths of the control-plane executables.
type Binaries struct {
	// Dir is the directory that holds the binaries.
	Dir string
	// Paths of the executables. Kubectl and ControllerGen are empty when
	// a prebuilt directory (KANARIA_BIN_DIR) lacks them.
	Etcd              string
	APIServer         string
	ControllerManager string
	Scheduler         string
	Kubectl           string
	Kwok              string
	ControllerGen     string
}

// BuildOptions tells EnsureBinaries where to look and where to report. Every
// field is optional.
type BuildOptions struct {
	// ToolsDir is the hack/tools module directory. Default: $KANARIA_TOOLS_DIR,
	// else found by walking up from the working directory, then from the
	// directory of the running executable.
	ToolsDir string
	// CacheDir is the cache root. Default: $KANARIA_CACHE_DIR, else
	// os.UserCacheDir()/kanaria.
	CacheDir string
	// BinDir is a directory of prebuilt binaries used as they are.
	// Default: $KANARIA_BIN_DIR.
	BinDir string
	// Log receives progress messages; nil discards them.
	Log io.Writer
}

// buildStep is one `go build` invocation; each produces one binary so that
// progress can be shown per binary.
type buildStep struct {
	binary string
	// module is the directory below the tools dir to run the build in,
	// because kwok is pinned in its own nested module.
	module string
	pkg    string
}

var buildSteps = []buildStep{
	{binary: "etcd", module: ".", pkg: "./etcd"},
	{binary: "kube-apiserver", module: ".", pkg: "k8s.io/kubernetes/cmd/kube-apiserver"},
	{binary: "kube-controller-manager", module: ".", pkg: "k8s.io/kubernetes/cmd/kube-controller-manager"},
	{binary: "kube-scheduler", module: ".", pkg: "k8s.io/kubernetes/cmd/kube-scheduler"},
	{binary: "kubectl", module: ".", pkg: "k8s.io/kubernetes/cmd/kubectl"},
	{binary: "controller-gen", module: ".", pkg: "sigs.k8s.io/controller-tools/cmd/controller-gen"},
	{binary: "kwok", module: "kwok", pkg: "sigs.k8s.io/kwok/cmd/kwok"},
}

// keyFiles are the inputs that decide what gets built; any change to them
// selects a new cache directory instead of reusing stale binaries.
var keyFiles = []string{
	"go.mod",
	"go.sum",
	filepath.Join("etcd", "main.go"),
	filepath.Join("kwok", "go.mod"),
	filepath.Join("kwok", "go.sum"),
}

// binariesIn returns the binary paths inside dir, whether or not they exist.
func binariesIn(dir string) *Binaries {
	p := func(name string) string { return filepath.Join(dir, name+exeSuffix()) }
	return &Binaries{
		Dir:               dir,
		Etcd:              p("etcd"),
		APIServer:         p("kube-apiserver"),
		ControllerManager: p("kube-controller-manager"),
		Scheduler:         p("kube-scheduler"),
		Kubectl:           p("kubectl"),
		Kwok:              p("kwok"),
		ControllerGen:     p("controller-gen"),
	}
}

func exeSuffix() string {
	if runtime.GOOS == "windows" {
		return ".exe"
	}
	return ""
}

// required lists the binaries a running cluster cannot do without.
func (b *Binaries) required() map[string]string {
	return map[string]string{
		"etcd":                    b.Etcd,
		"kube-apiserver":          b.APIServer,
		"kube-controller-manager": b.ControllerManager,
		"kube-scheduler":          b.Scheduler,
		"kwok":                    b.Kwok,
	}
}

// missing returns the names of the binaries in want that are not regular
// files, sorted for stable messages.
func missing(want map[string]string) []string {
	var out []string
	for name, path := range want {
		if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (b *Binaries) all() map[string]string {
	m := b.required()
	m["kubectl"] = b.Kubectl
	m["controller-gen"] = b.ControllerGen
	return m
}

// EnsureBinaries returns the control-plane binaries, building them first if
// the cache does not hold them for the current hack/tools pins and Go
// version. A cached set is returned in well under a second; a cold build takes
// several minutes. Concurrent callers (test packages run in parallel) wait
// for one build instead of repeating it.
func EnsureBinaries(ctx context.Context, opts BuildOptions) (*Binaries, error) {
	log := opts.Log
	if log == nil {
		log = io.Discard
	}

	binDir := opts.BinDir
	if binDir == "" {
		binDir = os.Getenv(EnvBinDir)
	}
	if binDir != "" {
		return prebuilt(binDir)
	}

	toolsDir := opts.ToolsDir
	if toolsDir == "" {
		var err error
		if toolsDir, err = FindToolsDir(); err != nil {
			return nil, err
		}
	}
	cacheRoot, err := cacheDirOr(opts.CacheDir)
	if err != nil {
		return nil, err
	}

	goCmd, err := goCommand()
	if err != nil {
		return nil, fmt.Errorf("the control-plane binaries must be built, but %w; install Go or set %s to prebuilt binaries", err, EnvBinDir)
	}
	goEnv, err := goEnvironment(ctx, goCmd, toolsDir)
	if err != nil {
		return nil, err
	}
	key, err := cacheKey(toolsDir, goEnv)
	if err != nil {
		return nil, err
	}

	toolsCache := filepath.Join(cacheRoot, "tools")
	dest := filepath.Join(toolsCache, key)
	bins := binariesIn(dest)
	if len(missing(bins.all())) == 0 {
		return bins, nil
	}

	if err := os.MkdirAll(toolsCache, 0o755); err != nil {
		return nil, fmt.Errorf("create binary cache: %w", err)
	}
	unlock, err := lockFile(ctx, filepath.Join(toolsCache, ".lock"), func() {
		fmt.Fprintln(log, "waiting for another process that is building the local control plane...")
	})
	if err != nil {
		return nil, fmt.Errorf("lock binary cache: %w", err)
	}
	defer unlock()

	// Another process may have finished the build while this one waited.
	if len(missing(bins.all())) == 0 {
		return bins, nil
	}
	if err := build(ctx, goCmd, toolsDir, toolsCache, key, log); err != nil {
		return nil, err
	}
	return bins, nil
}

// prebuilt accepts a directory of binaries as it is. kubectl and
// controller-gen may be absent because a cluster runs without them.
func prebuilt(dir string) (*Binaries, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", EnvBinDir, err)
	}
	bins := binariesIn(abs)
	if miss := missing(bins.required()); len(miss) > 0 {
		return nil, fmt.Errorf("prebuilt binary directory %s lacks %s", abs, strings.Join(miss, ", "))
	}
	if _, err := os.Stat(bins.Kubectl); err != nil {
		bins.Kubectl = ""
	}
	if _, err := os.Stat(bins.ControllerGen); err != nil {
		bins.ControllerGen = ""
	}
	return bins, nil
}

// build runs every build step into a fresh temporary directory and renames
// it into place, so that an interrupted build never leaves a directory that
// looks complete. The caller holds the cache lock.
func build(ctx context.Context, goCmd, toolsDir, toolsCache, key string, log io.Writer) error {
	// Leftovers of builds that crashed are never reused; drop them.
	if old, err := filepath.Glob(filepath.Join(toolsCache, "*.tmp-*")); err == nil {
		for _, dir := range old {
			_ = os.RemoveAll(dir)
		}
	}
	dest := filepath.Join(toolsCache, key)
	// A final directory with files missing was damaged by hand; rebuild it.
	if err := os.RemoveAll(dest); err != nil {
		return fmt.Errorf("remove incomplete binary cache %s: %w", dest, err)
	}
	tmp, err := os.MkdirTemp(toolsCache, key+".tmp-")
	if err != nil {
		return fmt.Errorf("create build directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(tmp) }()

	fmt.Fprintf(log, "building the local control plane (first time only, takes several minutes on %d cores)...\n", runtime.NumCPU())
	fmt.Fprintf(log, "  sources: %s\n  cache:   %s\n", toolsDir, dest)
	began := time.Now()
	for i, step := range buildSteps {
		stepBegan := time.Now()
		fmt.Fprintf(log, "  [%d/%d] %s (%s)\n", i+1, len(buildSteps), step.binary, step.pkg)
		var out bytes.Buffer
		cmd := exec.CommandContext(ctx, goCmd, "build", "-buildvcs=false", "-o", tmp+string(filepath.Separator), step.pkg)
		cmd.Dir = filepath.Join(toolsDir, step.module)
		cmd.Env = goBuildEnv()
		cmd.Stdout = &out
		cmd.Stderr = &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s in %s: %w\n%s", step.pkg, cmd.Dir, err, tail(out.String(), 40))
		}
		fmt.Fprintf(log, "        done in %s\n", time.Since(stepBegan).Round(time.Second))
	}
	if miss := missing(binariesIn(tmp).all()); len(miss) > 0 {
		return fmt.Errorf("build finished but did not produce %s", strings.Join(miss, ", "))
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("move built binaries into the cache: %w", err)
	}
	fmt.Fprintf(log, "local control plane built in %s\n", time.Since(began).Round(time.Second))
	return nil
}

// goBuildEnv keeps a go.work file somewhere above the tools module from
// pulling other modules, and so other versions, into the pinned build.
func goBuildEnv() []string {
	return append(os.Environ(), "GOWORK=off")
}

// goCommand finds the go tool: PATH first, then the toolchain this binary
// was built with, which is often the one a developer has anyway.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go"+exeSuffix())
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	return "", errors.New("no go command was found in PATH")
}

// goEnvironment returns what of the Go toolchain changes the binaries. It
// runs inside the tools module so a toolchain switch requested by its go.mod
// is taken into account.
func goEnvironment(ctx context.Context, goCmd, toolsDir string) (string, error) {
	cmd := exec.CommandContext(ctx, goCmd, "env", "GOVERSION", "GOOS", "GOARCH")
	cmd.Dir = toolsDir
	cmd.Env = goBuildEnv()
	out, err := cmd.Output()
	if err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return "", fmt.Errorf("go env in %s: %w: %s", toolsDir, err, strings.TrimSpace(string(exitErr.Stderr)))
		}
		return "", fmt.Errorf("go env in %s: %w", toolsDir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// cacheKey is a short digest of the pinned sources and the toolchain. The
// file names are hashed along with the contents so that moving bytes from one
// file to another cannot produce the same key.
func cacheKey(toolsDir, goEnv string) (string, error) {
	h := sha256.New()
	for _, name := range keyFiles {
		data, err := os.ReadFile(filepath.Join(toolsDir, name))
		if err != nil {
			return "", fmt.Errorf("read %s for the binary cache key: %w", name, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(name), len(data))
		h.Write(data)
	}
	fmt.Fprintf(h, "go\x00%s", goEnv)
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// FindToolsDir locates the hack/tools module: $KANARIA_TOOLS_DIR if set,
// else the first hack/tools directory of the right module found walking up
// from the working directory, then from the running executable's directory.
func FindToolsDir() (string, error) {
	if dir := os.Getenv(EnvToolsDir); dir != "" {
		if !isToolsModule(dir) {
			return "", fmt.Errorf("%s=%s does not hold the module %s", EnvToolsDir, dir, toolsModule)
		}
		return filepath.Abs(dir)
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(exe); err == nil {
			exe = resolved
		}
		starts = append(starts, filepath.Dir(exe))
	}
	for _, start := range starts {
		if dir, ok := findToolsDirFrom(start); ok {
			return dir, nil
		}
	}
	return "", fmt.Errorf("cannot find hack/tools (module %s) above %s; run from a Kanaria checkout, or set %s to that directory or %s to prebuilt binaries",
		toolsModule, strings.Join(starts, " or "), EnvToolsDir, EnvBinDir)
}

// findToolsDirFrom walks from start up to the file system root.
func findToolsDirFrom(start string) (string, bool) {
	dir, err := filepath.Abs(start)
	if err != nil {
		return "", false
	}
	for {
		candidate := filepath.Join(dir, "hack", "tools")
		if isToolsModule(candidate) {
			return candidate, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// isToolsModule reports whether dir/go.mod declares the tools module.
func isToolsModule(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == toolsModule
		}
	}
	return false
}

// CacheDir returns the cache root: $KANARIA_CACHE_DIR, else
// os.UserCacheDir()/kanaria. It is not created.
func CacheDir() (string, error) {
	return cacheDirOr("")
}

func cacheDirOr(explicit string) (string, error) {
	dir := explicit
	if dir == "" {
		dir = os.Getenv(EnvCacheDir)
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("find the user cache directory (set %s): %w", EnvCacheDir, err)
		}
		dir = filepath.Join(base, "kanaria")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve cache directory: %w", err)
	}
	return abs, nil
}
