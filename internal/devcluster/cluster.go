package devcluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// Defaults of Options.
const (
	DefaultName        = "kanaria"
	DefaultNodes       = 3
	DefaultPodsPerNode = 10000
	// DefaultStartTimeout bounds each wait of a start (a component coming
	// up, the nodes becoming ready). It is generous because a busy 2-core
	// machine may run several clusters at once.
	DefaultStartTimeout = 3 * time.Minute
)

// Client limits of the controllers and of RESTConfig. On a small machine
// the control plane itself is the bottleneck, and client-side throttling at
// the default 20 QPS would dominate every measurement.
const (
	componentQPS   = 1000
	componentBurst = 2000
	clientQPS      = 500
	clientBurst    = 1000
)

// serviceCIDR is the range of ClusterIPs, room for 65,000 Services (a
// blue-green benchmark of 10,000 Rollouts needs two each). Pod IPs come
// from per-node ranges outside it (see podCIDR).
const serviceCIDR = "10.0.0.0/16"

// Options configures Start. The zero value is a usable three-node cluster
// in a temporary directory.
type Options struct {
	// Name names the cluster, its kubeconfig context and, for a detached
	// cluster, its directory under the cache. Default DefaultName.
	Name string
	// Dir holds the cluster's data: etcd, keys, kubeconfig, logs and state.
	// A given Dir is kept on Stop. Default: a new temporary directory removed
	// on Stop, or NamedDir(Name) when Detached.
	Dir string
	// Nodes is the number of fake nodes. Default DefaultNodes.
	Nodes int
	// PodsPerNode is the pods capacity of each node. Default
	// DefaultPodsPerNode.
	PodsPerNode int
	// Log receives progress messages; nil discards them.
	Log io.Writer
	// Detached lets the processes outlive the caller: they run in their own
	// session and are stopped later with Down. Otherwise they are killed by
	// the kernel when the caller dies, so a killed test leaves no orphans.
	Detached bool
	// Binaries are the executables to run; nil means EnsureBinaries(Build).
	Binaries *Binaries
	// Build configures EnsureBinaries when Binaries is nil. Its Log
	// defaults to Log.
	Build BuildOptions
	// StartTimeout bounds each wait during the start. Default
	// DefaultStartTimeout.
	StartTimeout time.Duration
	// NoPods runs kube-controller-manager without its ReplicaSet
	// controller, so no Pod is ever created: ReplicaSets keep the status
	// someone else writes (`kanaria bench --fake-replicasets`). For
	// measuring a controller at a scale whose Pods the machine could not
	// carry.
	NoPods bool
}

func (o Options) withDefaults() (Options, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := validateName(o.Name); err != nil {
		return o, err
	}
	if o.Nodes == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Nodes < 0 {
		return o, fmt.Errorf("nodes must not be negative, got %d", o.Nodes)
	}
	if o.PodsPerNode <= 0 {
		o.PodsPerNode = DefaultPodsPerNode
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Build.Log == nil {
		o.Build.Log = o.Log
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	return o, nil
}

// validateName keeps names usable as directory and kubeconfig names.
func validateName(name string) error {
	for _, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return fmt.Errorf("cluster name %q may only hold lower-case letters, digits, '-', '_' and '.'", name)
		}
	}
	if name == "." || name == ".." || strings.HasPrefix(name, "-") {
		return fmt.Errorf("invalid cluster name %q", name)
	}
	return nil
}

// Cluster is a running local control plane, or an existing cluster that
// tests were pointed at (see Attach).
type Cluster struct {
	name       string
	dir        string
	removeDir  bool
	detached   bool
	kubeconfig string
	// registration is the per-name directory holding a copy of the state
	// of a detached cluster whose data lives elsewhere, so that Lookup and
	// Down find it by name.
	registration string
	config       *rest.Config
	bins         *Binaries
	procs        []*process
	state        State
	log          io.Writer

	done     chan struct{}
	doneOnce sync.Once
	errMu    sync.Mutex
	err      error

	stopOnce sync.Once
	stopErr  error

	// procsMu keeps a restart of one component and Stop apart; stopped
	// tells a later restart that the cluster is gone.
	procsMu sync.Mutex
	stopped bool
}

// errPortTaken marks a start that failed because another process bound one
// of the chosen ports first; Start then tries again with new ports.
var errPortTaken = errors.New("a chosen port was taken by another process")

// Start runs a local control plane and returns once it serves requests, its
// nodes are Ready and the default ServiceAccount exists. On failure nothing
// is left running and the error carries the end of the failing component's
// log. ctx bounds the start only; the cluster runs until Stop or Down.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	bins := opts.Binaries
	if bins == nil {
		if bins, err = EnsureBinaries(ctx, opts.Build); err != nil {
			return nil, err
		}
	}
	dir, removeDir, err := prepareDir(opts)
	if err != nil {
		return nil, err
	}

	for attempt := 1; ; attempt++ {
		c, err := start(ctx, opts, bins, dir, removeDir)
		if err == nil {
			return c, nil
		}
		if attempt < 3 && errors.Is(err, errPortTaken) && ctx.Err() == nil {
			fmt.Fprintf(opts.Log, "%v; retrying with other ports\n", errPortTaken)
			if cerr := clearDir(dir); cerr != nil {
				return nil, cerr
			}
			continue
		}
		// The logs stay for a post-mortem, even in a temporary directory;
		// the state file must not claim a running cluster.
		_ = os.Remove(filepath.Join(dir, stateFile))
		if removeDir {
			for _, name := range []string{kubeconfigFile, etcdDir, pkiDir, kwokDir} {
				_ = os.RemoveAll(filepath.Join(dir, name))
			}
			return nil, fmt.Errorf("%w\n(logs kept in %s)", err, filepath.Join(dir, logsDir))
		}
		return nil, err
	}
}

// Entries of a data directory, all owned by this package. Reusing a
// directory removes exactly these, so a Dir pointing somewhere with other
// files in it does not lose them.
const (
	stateFile      = "state.json"
	kubeconfigFile = "kubeconfig"
	etcdDir        = "etcd"
	pkiDir         = "pki"
	logsDir        = "logs"
	kwokDir        = "kwok"
)

func prepareDir(opts Options) (dir string, removeDir bool, err error) {
	switch {
	case opts.Dir != "":
		if dir, err = filepath.Abs(opts.Dir); err != nil {
			return "", false, fmt.Errorf("resolve data directory: %w", err)
		}
	case opts.Detached:
		if dir, err = NamedDir(opts.Name); err != nil {
			return "", false, err
		}
	default:
		dir, err = os.MkdirTemp("", "kanaria-"+opts.Name+"-")
		if err != nil {
			return "", false, fmt.Errorf("create data directory: %w", err)
		}
		return dir, true, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", false, fmt.Errorf("create data directory: %w", err)
	}
	if err := checkNotRunning(dir); err != nil {
		return "", false, err
	}
	if opts.Detached {
		named, err := NamedDir(opts.Name)
		if err != nil {
			return "", false, err
		}
		if err := checkNotRunning(named); err != nil {
			return "", false, err
		}
	}
	if err := clearDir(dir); err != nil {
		return "", false, err
	}
	return dir, false, nil
}

// checkNotRunning refuses to reuse a directory whose cluster still runs:
// two etcds on one data directory would corrupt it.
func checkNotRunning(dir string) error {
	if st, err := readState(dir); err == nil && st.Running() {
		return fmt.Errorf("a local cluster %q is already running with data in %s (stop it with `kanaria dev down --name %s`)", st.Name, st.Dir, st.Name)
	}
	return nil
}

// register records a detached cluster under its name when its data lives
// in another directory.
func (c *Cluster) register() error {
	if !c.detached {
		return nil
	}
	named, err := NamedDir(c.name)
	if err != nil {
		return err
	}
	if named == c.dir {
		return nil
	}
	if err := os.MkdirAll(named, 0o755); err != nil {
		return fmt.Errorf("register cluster %q: %w", c.name, err)
	}
	if err := writeState(named, c.state); err != nil {
		return fmt.Errorf("register cluster %q: %w", c.name, err)
	}
	c.registration = named
	return nil
}

func clearDir(dir string) error {
	for _, name := range []string{stateFile, kubeconfigFile, etcdDir, pkiDir, logsDir, kwokDir} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("clear data directory: %w", err)
		}
	}
	return nil
}

// start makes one attempt with fresh ports; on error it stops whatever it
// started.
func start(ctx context.Context, opts Options, bins *Binaries, dir string, removeDir bool) (_ *Cluster, err error) {
	c := &Cluster{
		name:       opts.Name,
		dir:        dir,
		removeDir:  removeDir,
		detached:   opts.Detached,
		kubeconfig: filepath.Join(dir, kubeconfigFile),
		bins:       bins,
		log:        opts.Log,
		done:       make(chan struct{}),
	}
	defer func() {
		if err != nil {
			_ = c.stopProcesses()
			if c.portConflict() {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
		}
	}()

	ports, err := freePorts(6)
	if err != nil {
		return nil, err
	}
	p := Ports{
		EtcdClient:        ports[0],
		EtcdPeer:          ports[1],
		APIServer:         ports[2],
		ControllerManager: ports[3],
		Scheduler:         ports[4],
		Kwok:              ports[5],
	}
	c.state = State{
		Name:       opts.Name,
		Dir:        dir,
		Kubeconfig: c.kubeconfig,
		Server:     "https://" + hostPort(p.APIServer),
		Detached:   opts.Detached,
		Ports:      p,
	}

	pki := filepath.Join(dir, pkiDir)
	if err := mkdirs(dir, etcdDir, logsDir, filepath.Join(kwokDir, "workdir"),
		filepath.Join(pkiDir, "apiserver"), filepath.Join(pkiDir, "controller-manager"), filepath.Join(pkiDir, "scheduler")); err != nil {
		return nil, err
	}
	token, err := randomToken()
	if err != nil {
		return nil, err
	}
	saKey, saPub := filepath.Join(pki, "sa.key"), filepath.Join(pki, "sa.pub")
	if err := writeServiceAccountKeys(saKey, saPub); err != nil {
		return nil, err
	}
	tokenFile := filepath.Join(pki, "tokens.csv")
	if err := writeTokenFile(tokenFile, token); err != nil {
		return nil, err
	}
	kwokConfigPath := filepath.Join(dir, kwokDir, "stages.yaml")
	stages, err := kwokConfig(opts.PodsPerNode)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(kwokConfigPath, stages, 0o644); err != nil {
		return nil, fmt.Errorf("write kwok stages: %w", err)
	}

	etcdURL := "http://" + hostPort(p.EtcdClient)
	peerURL := "http://" + hostPort(p.EtcdPeer)
	etcd := c.process("etcd", bins.Etcd, nil,
		"--name=default",
		"--data-dir="+filepath.Join(dir, etcdDir),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--initial-cluster-state=new",
		// A throwaway cluster does not need its writes on disk before
		// acknowledging them, and fsync is the slowest part of etcd.
		"--unsafe-no-fsync",
		"--quota-backend-bytes=8589934592",
		"--log-level=warn",
	)
	if err := c.launch(ctx, etcd, opts.StartTimeout, "etcd", httpCheck(etcdURL+"/health", "", `"health":"true"`)); err != nil {
		return nil, err
	}

	apiCertDir := filepath.Join(pki, "apiserver")
	apiserver := c.process("kube-apiserver", bins.APIServer, nil,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(p.APIServer),
		"--cert-dir="+apiCertDir,
		"--token-auth-file="+tokenFile,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range="+serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+saPub,
		"--service-account-signing-key-file="+saKey,
		"--allow-privileged=true",
		// The apiserver would publish its address as the endpoint of the
		// default/kubernetes Service, and Endpoints reject loopback
		// addresses; nothing runs in the fake Pods to need it.
		"--endpoint-reconciler-type=none",
		// Benchmarks push hundreds of objects at once; the default
		// in-flight limits would turn that into 429s, not measurements.
		"--max-requests-inflight=2000",
		"--max-mutating-requests-inflight=1000",
		"--profiling=false",
	)
	if err := c.launch(ctx, apiserver, opts.StartTimeout, "kube-apiserver", httpCheck(c.state.Server+"/readyz", token, "")); err != nil {
		return nil, err
	}

	ca, err := os.ReadFile(filepath.Join(apiCertDir, "apiserver.crt"))
	if err != nil {
		return nil, fmt.Errorf("read the apiserver's serving certificate: %w", err)
	}
	if err := writeKubeconfig(c.kubeconfig, opts.Name, c.state.Server, ca, token); err != nil {
		return nil, err
	}
	if c.config, err = restConfigFromKubeconfig(c.kubeconfig); err != nil {
		return nil, err
	}

	// No --authentication-kubeconfig: delegated authentication would watch
	// a client-CA ConfigMap that an apiserver without client certificates
	// never writes, and log about it forever. Health endpoints are open
	// anyway, which is all that is probed.
	clientFlags := []string{
		"--kubeconfig=" + c.kubeconfig,
		"--bind-address=127.0.0.1",
		"--leader-elect=false",
		"--kube-api-qps=" + strconv.Itoa(componentQPS),
		"--kube-api-burst=" + strconv.Itoa(componentBurst),
	}
	kcm := c.process("kube-controller-manager", bins.ControllerManager, nil, append(clientFlags,
		"--secure-port="+strconv.Itoa(p.ControllerManager),
		"--cert-dir="+filepath.Join(pki, "controller-manager"),
		"--controllers="+controllerList(opts.NoPods),
		"--root-ca-file="+filepath.Join(apiCertDir, "apiserver.crt"),
		"--concurrent-replicaset-syncs=20",
		"--concurrent-deployment-syncs=20",
		"--profiling=false",
	)...)
	scheduler := c.process("kube-scheduler", bins.Scheduler, nil, append(clientFlags,
		"--secure-port="+strconv.Itoa(p.Scheduler),
		"--cert-dir="+filepath.Join(pki, "scheduler"),
		"--profiling=false",
	)...)
	kwok := c.process("kwok", bins.Kwok,
		// kwok otherwise also reads ~/.kwok/kwok.yaml, whose stages
		// would mix with ours.
		[]string{"KWOK_WORKDIR=" + filepath.Join(dir, kwokDir, "workdir")},
		"--kubeconfig="+c.kubeconfig,
		"--config="+kwokConfigPath,
		"--manage-all-nodes=true",
		// Without leases the node lifecycle controller declares the
		// nodes dead after its grace period and evicts every Pod.
		"--node-lease-duration-seconds=40",
		"--server-address="+hostPort(p.Kwok),
		"--cidr=10.254.0.0/16",
	)
	for _, p := range []*process{kcm, scheduler, kwok} {
		if err := c.startProcess(p); err != nil {
			return nil, err
		}
	}
	checks := []struct {
		p     *process
		check func(context.Context) (bool, error)
	}{
		{kcm, httpCheck("https://"+hostPort(p.ControllerManager)+"/healthz", "", "")},
		{scheduler, httpCheck("https://"+hostPort(p.Scheduler)+"/healthz", "", "")},
		{kwok, httpCheck("http://"+hostPort(p.Kwok)+"/healthz", "", "")},
	}
	for _, ch := range checks {
		if err := waitFor(ctx, ch.p.name, ch.p, opts.StartTimeout, ch.check); err != nil {
			return nil, err
		}
	}

	fmt.Fprintf(c.log, "creating %d fake nodes\n", opts.Nodes)
	if err := c.createNodes(ctx, opts.Nodes, opts.PodsPerNode); err != nil {
		return nil, err
	}
	if err := c.waitUsable(ctx, opts.Nodes, opts.StartTimeout, apiserver, kwok, token); err != nil {
		return nil, err
	}

	c.state.StartedAt = time.Now().UTC()
	for _, p := range c.procs {
		c.state.Processes = append(c.state.Processes, ProcessState{Name: p.name, PID: p.pid(), Path: p.path})
	}
	if err := writeState(dir, c.state); err != nil {
		return nil, err
	}
	if err := c.register(); err != nil {
		return nil, err
	}
	fmt.Fprintf(c.log, "local cluster %q is ready at %s\n", c.name, c.state.Server)
	return c, nil
}

// process declares a component; it is started by launch or startProcess.
func (c *Cluster) process(name, path string, env []string, args ...string) *process {
	p := &process{
		name:    name,
		path:    path,
		args:    args,
		env:     env,
		logPath: filepath.Join(c.dir, logsDir, name+".log"),
	}
	c.procs = append(c.procs, p)
	return p
}

func (c *Cluster) startProcess(p *process) error {
	fmt.Fprintf(c.log, "starting %s\n", p.name)
	return p.start(c.detached, c.processExited)
}

// launch starts a component and waits until check passes.
func (c *Cluster) launch(ctx context.Context, p *process, timeout time.Duration, what string, check func(context.Context) (bool, error)) error {
	if err := c.startProcess(p); err != nil {
		return err
	}
	return waitFor(ctx, what, p, timeout, check)
}

// processExited records the first component that died on its own; a
// cluster missing a component is broken, and Done tells its user so.
func (c *Cluster) processExited(p *process) {
	c.errMu.Lock()
	if c.err == nil {
		c.err = p.exitError()
	}
	c.errMu.Unlock()
	c.doneOnce.Do(func() { close(c.done) })
}

// portConflict reports whether a component failed to bind its port.
func (c *Cluster) portConflict() bool {
	for _, p := range c.procs {
		if strings.Contains(readTail(p.logPath, 64<<10), "address already in use") {
			return true
		}
	}
	return false
}

// httpCheck returns a readiness probe for url: a 200 answer, optionally
// containing want. The components serve self-signed certificates made at
// start, so the probe does not verify them; it talks to 127.0.0.1 only.
func httpCheck(url, token, want string) func(context.Context) (bool, error) {
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // local self-signed endpoints
			Proxy:           nil,
		},
	}
	return func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, fmt.Errorf("build request: %w", err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			return false, fmt.Errorf("GET %s: %w", url, err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(tail(string(body), 5)))
		}
		if want != "" && !strings.Contains(string(body), want) {
			return false, fmt.Errorf("GET %s: unexpected answer %q", url, tail(string(body), 3))
		}
		return true, nil
	}
}

// RESTConfig returns a copy of the admin client configuration, with client
// limits raised so that tests and benchmarks are not throttled client-side.
func (c *Cluster) RESTConfig() *rest.Config {
	return rest.CopyConfig(c.config)
}

// KubeconfigPath returns the path of the admin kubeconfig, whose current
// context is named after the cluster.
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// Binaries returns the executables the cluster runs, including kubectl and
// controller-gen. It is nil for an attached cluster.
func (c *Cluster) Binaries() *Binaries { return c.bins }

// Dir returns the data directory; empty for an attached cluster.
func (c *Cluster) Dir() string { return c.dir }

// Name returns the cluster's name.
func (c *Cluster) Name() string { return c.name }

// State returns what is recorded about the running cluster in its state
// file; the zero value for an attached cluster.
func (c *Cluster) State() State { return c.state }

// Done is closed when a component of the cluster exits on its own, which
// leaves the cluster broken; Err then says which one and why. It is never
// closed for an attached cluster or by Stop.
func (c *Cluster) Done() <-chan struct{} { return c.done }

// Err returns the reason Done was closed, or nil.
func (c *Cluster) Err() error {
	c.errMu.Lock()
	defer c.errMu.Unlock()
	return c.err
}

// stopGrace is how long a component may take to shut down after SIGTERM.
const stopGrace = 5 * time.Second

// Stop shuts the cluster down, dependants first, and removes its data
// directory if Start created a temporary one. It is safe to call more than
// once and does nothing for an attached cluster.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		if len(c.procs) == 0 {
			return
		}
		err := c.stopProcesses()
		if c.removeDir {
			if rmErr := os.RemoveAll(c.dir); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("remove data directory: %w", rmErr))
			}
		} else if rmErr := os.Remove(filepath.Join(c.dir, stateFile)); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove state file: %w", rmErr))
		}
		if c.registration != "" {
			if rmErr := os.RemoveAll(c.registration); rmErr != nil {
				err = errors.Join(err, fmt.Errorf("remove registration: %w", rmErr))
			}
		}
		c.stopErr = err
	})
	return c.stopErr
}

// stopProcesses stops the components in reverse start order so that
// nothing keeps retrying against an apiserver or etcd that is already gone.
func (c *Cluster) stopProcesses() error {
	c.procsMu.Lock()
	defer c.procsMu.Unlock()
	c.stopped = true
	var errs []error
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].stop(stopGrace); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// controllerList is kube-controller-manager's --controllers. Token Secrets
// are legacy and need the signing key; the projected tokens Pods use come
// from the apiserver.
func controllerList(noPods bool) string {
	if noPods {
		return "*,-serviceaccount-token,-replicaset"
	}
	return "*,-serviceaccount-token"
}
