package shard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes"
)

// Lease labels and annotations. They live on coordination.k8s.io Leases
// only, never on argoproj.io objects.
const (
	// labelGroup names the controller whose shard Leases these are, so
	// several controllers (instance ids) share a namespace.
	labelGroup = "kanaria.dev/shard-group"
	// labelRole tells shard Leases from presence Leases.
	labelRole = "kanaria.dev/shard-lease"
	// annotationShards records the holder's shard count.
	annotationShards = "kanaria.dev/shards"
	// annotationHome records a replica's home shard on its presence Lease.
	annotationHome = "kanaria.dev/shard-home"

	roleShard  = "shard"
	roleMember = "member"
)

// RunFunc runs the controller for the held shards until ctx ends. It is
// called again, with the new set, whenever the held shards change.
type RunFunc func(ctx context.Context, held []int) error

// Config configures a Coordinator.
type Config struct {
	// Client writes the Leases.
	Client kubernetes.Interface
	// Namespace holds the Leases.
	Namespace string
	// Group prefixes the Lease names: <group>-shard-<k>, <group>-member-<id>.
	Group string
	// Identity names this replica on the Leases; empty picks the host
	// name with a random suffix.
	Identity string
	// Shards is the shard count.
	Shards int
	// Home is the shard this replica prefers, -1 for none.
	Home int
	// LeaseDuration is how long a Lease stays held without renewal.
	LeaseDuration time.Duration
	// RenewDeadline is how long a replica keeps acting on a shard whose
	// renewals fail.
	RenewDeadline time.Duration
	// RetryPeriod is the interval between passes over the Leases.
	RetryPeriod time.Duration
	// Run runs the controller for a set of shards.
	Run RunFunc
	// Log receives one line per change of the held shards.
	Log logr.Logger
	// OnHeld, when set, hears every change of the held shards, before the
	// controller restarts with them.
	OnHeld func(held []int)
}

// Coordinator holds this replica's share of the shard Leases and keeps one
// controller running for exactly the shards it holds.
type Coordinator struct {
	cfg Config
	// held are the shards whose Leases this replica holds, with the time
	// of each one's last successful write.
	held map[int]time.Time
	// seen is when each Lease last changed, as this replica observed it:
	// expiry is measured on the local clock, never against another
	// machine's timestamps.
	seen map[string]observation
	// running is the controller for runningSet.
	running    *runningController
	runningSet []int
}

type observation struct {
	version string
	at      time.Time
}

type runningController struct {
	cancel context.CancelFunc
	done   chan error
}

// NewCoordinator checks cfg and returns a Coordinator.
func NewCoordinator(cfg Config) (*Coordinator, error) {
	if err := ValidateCount(cfg.Shards); err != nil {
		return nil, err
	}
	if cfg.Client == nil || cfg.Run == nil || cfg.Namespace == "" || cfg.Group == "" {
		return nil, errors.New("shard coordinator needs a client, a run function, a namespace and a group")
	}
	if cfg.RetryPeriod <= 0 || cfg.RenewDeadline <= cfg.RetryPeriod || cfg.LeaseDuration <= cfg.RenewDeadline {
		return nil, fmt.Errorf("shard leases need lease duration (%s) > renew deadline (%s) > retry period (%s) > 0",
			cfg.LeaseDuration, cfg.RenewDeadline, cfg.RetryPeriod)
	}
	if cfg.Identity == "" {
		cfg.Identity = DefaultIdentity()
	}
	return &Coordinator{cfg: cfg, held: map[int]time.Time{}, seen: map[string]observation{}}, nil
}

// Identity is the name this replica writes on the Leases.
func (c *Coordinator) Identity() string { return c.cfg.Identity }

var notNameChars = regexp.MustCompile(`[^a-z0-9-]+`)

// DefaultIdentity is the host name (the Pod name in a cluster) with a random
// suffix, so a restarted process never mistakes its predecessor's Leases for
// its own.
func DefaultIdentity() string {
	host, _ := os.Hostname()
	host = strings.Trim(notNameChars.ReplaceAllString(strings.ToLower(host), "-"), "-")
	if len(host) > 40 {
		host = host[:40]
	}
	if host == "" {
		host = "kanaria"
	}
	return host + "-" + rand.String(6)
}

// Run takes part in the sharding until ctx ends, then stops the controller,
// hands back every held shard and withdraws this replica.
func (c *Coordinator) Run(ctx context.Context) error {
	log := c.cfg.Log
	log.Info("sharding", "identity", c.cfg.Identity, "shards", c.cfg.Shards, "home", c.cfg.Home, "namespace", c.cfg.Namespace)
	defer c.shutdown()
	if err := c.renewMember(ctx); err != nil {
		log.Error(err, "announcing this replica")
	}
	// Replicas started together see each other before anyone takes more
	// than its share.
	if !sleep(ctx, c.cfg.RetryPeriod) {
		return nil
	}
	for {
		if err := c.pass(ctx); err != nil {
			return err
		}
		if !sleep(ctx, c.cfg.RetryPeriod) {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// pass renews, releases and acquires Leases once, and restarts the
// controller when the held shards changed.
func (c *Coordinator) pass(ctx context.Context) error {
	if c.running != nil {
		select {
		case err := <-c.running.done:
			c.running = nil
			return fmt.Errorf("controller for shards %v stopped: %w", c.runningSet, err)
		default:
		}
	}
	if err := c.renewMember(ctx); err != nil {
		c.cfg.Log.Error(err, "renewing this replica's presence")
	}
	now := time.Now()
	leases, err := c.cfg.Client.CoordinationV1().Leases(c.cfg.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labelGroup + "=" + c.cfg.Group})
	if err != nil {
		c.cfg.Log.Error(err, "listing shard leases")
		c.dropStale(now)
		return c.converge(ctx)
	}
	view, byShard := c.view(leases.Items, now)
	plan := Decide(view)

	for k := range c.held {
		l, ok := byShard[k]
		if !ok || holder(l) != c.cfg.Identity {
			// Someone took it: this replica must stop acting on it now.
			c.cfg.Log.Info("shard lease lost", "shard", k, "holder", holderOrNone(l))
			delete(c.held, k)
		}
	}
	for _, k := range plan.Hold {
		if _, mine := c.held[k]; !mine || slices.Contains(plan.Acquire, k) {
			continue
		}
		if err := c.write(ctx, byShard[k], k, false); err != nil {
			c.cfg.Log.V(1).Info("renewing shard lease failed", "shard", k, "error", err.Error())
			if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
				delete(c.held, k)
			}
			continue
		}
		c.held[k] = time.Now()
	}
	c.dropStale(time.Now())
	for _, k := range plan.Acquire {
		if err := c.write(ctx, byShard[k], k, true); err != nil {
			c.cfg.Log.V(1).Info("taking shard lease failed", "shard", k, "error", err.Error())
			continue
		}
		c.held[k] = time.Now()
	}
	release := plan.Release
	for _, k := range release {
		delete(c.held, k)
	}
	if err := c.converge(ctx); err != nil {
		return err
	}
	// Only once the controller no longer acts on them are the shards
	// handed back.
	for _, k := range release {
		if l, ok := byShard[k]; ok {
			c.release(ctx, l)
		}
	}
	c.collectMembers(ctx, leases.Items, now)
	return nil
}

// dropStale forgets shards whose renewals have failed for longer than the
// renew deadline: another replica may take them after the lease duration.
func (c *Coordinator) dropStale(now time.Time) {
	for k, last := range c.held {
		if now.Sub(last) > c.cfg.RenewDeadline {
			c.cfg.Log.Info("shard lease not renewed in time, stopping work on it", "shard", k)
			delete(c.held, k)
		}
	}
}

// converge restarts the controller when the held shards differ from the
// ones it runs for.
func (c *Coordinator) converge(ctx context.Context) error {
	want := c.heldList()
	if c.running != nil && slices.Equal(want, c.runningSet) {
		return nil
	}
	if err := c.stopController(); err != nil {
		return err
	}
	c.cfg.Log.Info("holding shards", "shards", want, "of", c.cfg.Shards, "identity", c.cfg.Identity)
	if c.cfg.OnHeld != nil {
		c.cfg.OnHeld(want)
	}
	runCtx, cancel := context.WithCancel(ctx)
	rc := &runningController{cancel: cancel, done: make(chan error, 1)}
	go func() { rc.done <- c.cfg.Run(runCtx, want) }()
	c.running, c.runningSet = rc, want
	return nil
}

// stopController stops the running controller and waits for it.
func (c *Coordinator) stopController() error {
	if c.running == nil {
		return nil
	}
	c.running.cancel()
	err := <-c.running.done
	c.running = nil
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("controller for shards %v: %w", c.runningSet, err)
	}
	return nil
}

func (c *Coordinator) heldList() []int {
	out := make([]int, 0, len(c.held))
	for k := range c.held {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// view turns the listed Leases into the snapshot Decide reads.
func (c *Coordinator) view(items []coordinationv1.Lease, now time.Time) (View, map[int]*coordinationv1.Lease) {
	v := View{Shards: c.cfg.Shards, Me: c.cfg.Identity, Home: c.cfg.Home, Leases: map[int]LeaseView{}}
	byShard := map[int]*coordinationv1.Lease{}
	sawMe := false
	for i := range items {
		l := &items[i]
		expired := c.expired(l, now)
		switch l.Labels[labelRole] {
		case roleShard:
			k, ok := c.shardOfLease(l.Name)
			n, _ := strconv.Atoi(l.Annotations[annotationShards])
			if holder(l) != "" && !expired && n != c.cfg.Shards {
				v.Foreign = true
			}
			if !ok {
				continue
			}
			byShard[k] = l
			lv := LeaseView{Holder: holder(l), Expired: expired, Shards: n}
			if lv.Holder == c.cfg.Identity {
				// This replica's own Leases expire by its own renewals.
				_, mine := c.held[k]
				lv.Expired = !mine
			}
			v.Leases[k] = lv
		case roleMember:
			if expired && holder(l) != c.cfg.Identity {
				continue
			}
			home := -1
			if h, err := strconv.Atoi(l.Annotations[annotationHome]); err == nil {
				home = h
			}
			sawMe = sawMe || holder(l) == c.cfg.Identity
			v.Members = append(v.Members, Member{ID: holder(l), Home: home})
		}
	}
	if !sawMe {
		v.Members = append(v.Members, Member{ID: c.cfg.Identity, Home: c.cfg.Home})
	}
	return v, byShard
}

// expired tells whether a Lease has gone unrenewed for its duration since
// this replica last saw it change.
func (c *Coordinator) expired(l *coordinationv1.Lease, now time.Time) bool {
	if holder(l) == "" {
		return true
	}
	o, ok := c.seen[l.Name]
	if !ok || o.version != l.ResourceVersion {
		o = observation{version: l.ResourceVersion, at: now}
		c.seen[l.Name] = o
	}
	d := c.cfg.LeaseDuration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return now.Sub(o.at) > d
}

func holder(l *coordinationv1.Lease) string {
	if l == nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func holderOrNone(l *coordinationv1.Lease) string {
	if h := holder(l); h != "" {
		return h
	}
	return "(none)"
}

func (c *Coordinator) shardLeaseName(k int) string { return fmt.Sprintf("%s-shard-%d", c.cfg.Group, k) }

func (c *Coordinator) memberLeaseName() string { return c.cfg.Group + "-member-" + c.cfg.Identity }

func (c *Coordinator) shardOfLease(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, c.cfg.Group+"-shard-")
	if !ok {
		return 0, false
	}
	k, err := strconv.Atoi(rest)
	if err != nil || k < 0 || k >= c.cfg.Shards {
		return 0, false
	}
	return k, true
}

func (c *Coordinator) leaseSeconds() *int32 {
	s := int32((c.cfg.LeaseDuration + time.Second - 1) / time.Second)
	return &s
}

// write takes (acquire) or renews shard k's Lease. The update carries the
// listed resourceVersion, so of two replicas racing for a free shard only
// one wins.
func (c *Coordinator) write(ctx context.Context, listed *coordinationv1.Lease, k int, acquire bool) error {
	now := metav1.NewMicroTime(time.Now())
	id := c.cfg.Identity
	leases := c.cfg.Client.CoordinationV1().Leases(c.cfg.Namespace)
	if listed == nil {
		if !acquire {
			return apierrors.NewNotFound(coordinationv1.Resource("leases"), c.shardLeaseName(k))
		}
		l := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: c.shardLeaseName(k), Namespace: c.cfg.Namespace,
				Labels:      map[string]string{labelGroup: c.cfg.Group, labelRole: roleShard},
				Annotations: map[string]string{annotationShards: strconv.Itoa(c.cfg.Shards)}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: c.leaseSeconds(),
				AcquireTime: &now, RenewTime: &now},
		}
		_, err := leases.Create(ctx, l, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating lease %s: %w", l.Name, err)
		}
		return nil
	}
	l := listed.DeepCopy()
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	l.Annotations[annotationShards] = strconv.Itoa(c.cfg.Shards)
	if acquire && holder(l) != id {
		transitions := int32(0)
		if l.Spec.LeaseTransitions != nil {
			transitions = *l.Spec.LeaseTransitions + 1
		}
		l.Spec.LeaseTransitions = &transitions
		l.Spec.AcquireTime = &now
	}
	l.Spec.HolderIdentity = &id
	l.Spec.LeaseDurationSeconds = c.leaseSeconds()
	l.Spec.RenewTime = &now
	updated, err := leases.Update(ctx, l, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("writing lease %s: %w", l.Name, err)
	}
	// The next pass's list carries this version; seeing it unchanged must
	// not count as a stale renewal.
	c.seen[updated.Name] = observation{version: updated.ResourceVersion, at: time.Now()}
	listed.ResourceVersion = updated.ResourceVersion
	return nil
}

// release hands a shard's Lease back at once, so the next replica need not
// wait for it to expire.
func (c *Coordinator) release(ctx context.Context, listed *coordinationv1.Lease) {
	l := listed.DeepCopy()
	if holder(l) != c.cfg.Identity {
		return
	}
	empty := ""
	one := int32(1)
	now := metav1.NewMicroTime(time.Now())
	l.Spec.HolderIdentity = &empty
	l.Spec.LeaseDurationSeconds = &one
	l.Spec.RenewTime = &now
	if _, err := c.cfg.Client.CoordinationV1().Leases(c.cfg.Namespace).Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		c.cfg.Log.Info("releasing shard lease failed; it expires instead", "lease", l.Name, "error", err.Error())
		return
	}
	c.cfg.Log.Info("released shard lease", "lease", l.Name)
}

// renewMember announces this replica (and its home) to the others.
func (c *Coordinator) renewMember(ctx context.Context) error {
	leases := c.cfg.Client.CoordinationV1().Leases(c.cfg.Namespace)
	name := c.memberLeaseName()
	now := metav1.NewMicroTime(time.Now())
	id := c.cfg.Identity
	l, err := leases.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: c.cfg.Namespace,
				Labels:      map[string]string{labelGroup: c.cfg.Group, labelRole: roleMember},
				Annotations: map[string]string{annotationHome: strconv.Itoa(c.cfg.Home), annotationShards: strconv.Itoa(c.cfg.Shards)}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: &id, LeaseDurationSeconds: c.leaseSeconds(), AcquireTime: &now, RenewTime: &now},
		}
		if _, err := leases.Create(ctx, l, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("creating presence lease %s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading presence lease %s: %w", name, err)
	}
	l.Spec.RenewTime = &now
	if _, err := leases.Update(ctx, l, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("renewing presence lease %s: %w", name, err)
	}
	return nil
}

// memberGarbageAge is how many lease durations a dead replica's presence
// Lease stays before a live replica deletes it.
const memberGarbageAge = 20

// collectMembers deletes the presence Leases of replicas long gone.
func (c *Coordinator) collectMembers(ctx context.Context, items []coordinationv1.Lease, now time.Time) {
	for i := range items {
		l := &items[i]
		if l.Labels[labelRole] != roleMember || holder(l) == c.cfg.Identity {
			continue
		}
		o, ok := c.seen[l.Name]
		if !ok || now.Sub(o.at) < memberGarbageAge*c.cfg.LeaseDuration {
			continue
		}
		rv := l.ResourceVersion
		err := c.cfg.Client.CoordinationV1().Leases(c.cfg.Namespace).Delete(ctx, l.Name,
			metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
		if err == nil {
			c.cfg.Log.V(1).Info("deleted presence lease of a replica long gone", "lease", l.Name)
		}
	}
}

// shutdown stops the controller, then hands back the shards and withdraws
// this replica, so the others take over without waiting for expiry.
func (c *Coordinator) shutdown() {
	if err := c.stopController(); err != nil {
		c.cfg.Log.Error(err, "stopping the controller")
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.cfg.RenewDeadline)
	defer cancel()
	leases := c.cfg.Client.CoordinationV1().Leases(c.cfg.Namespace)
	for _, k := range c.heldList() {
		l, err := leases.Get(ctx, c.shardLeaseName(k), metav1.GetOptions{})
		if err == nil {
			c.release(ctx, l)
		}
	}
	c.held = map[int]time.Time{}
	if err := leases.Delete(ctx, c.memberLeaseName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		c.cfg.Log.Info("withdrawing this replica failed; its presence lease expires instead", "error", err.Error())
	}
}

// Holders reads who holds each shard of the controller whose Leases are
// group in namespace: shard to holder identity, for Leases held and not
// released. It reads the Leases' own renew times, so it suits tools and
// tests on one machine rather than fail-over decisions.
func Holders(ctx context.Context, client kubernetes.Interface, namespace, group string) (map[int]string, error) {
	list, err := client.CoordinationV1().Leases(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: labelGroup + "=" + group + "," + labelRole + "=" + roleShard})
	if err != nil {
		return nil, fmt.Errorf("listing the shard leases of %s: %w", group, err)
	}
	out := map[int]string{}
	for i := range list.Items {
		l := &list.Items[i]
		k, err := strconv.Atoi(strings.TrimPrefix(l.Name, group+"-shard-"))
		if err != nil || holder(l) == "" || l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
			continue
		}
		if time.Since(l.Spec.RenewTime.Time) > time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second {
			continue
		}
		out[k] = holder(l)
	}
	return out, nil
}

// DeleteLeases deletes every Lease of group in namespace, shard and
// presence Leases alike: for a group that no controller will run again,
// such as a benchmark's, whose stopped replicas leave their released shard
// Leases behind.
func DeleteLeases(ctx context.Context, client kubernetes.Interface, namespace, group string) error {
	leases := client.CoordinationV1().Leases(namespace)
	list, err := leases.List(ctx, metav1.ListOptions{LabelSelector: labelGroup + "=" + group})
	if err != nil {
		return fmt.Errorf("listing the leases of %s: %w", group, err)
	}
	var errs []error
	for _, l := range list.Items {
		if err := leases.Delete(ctx, l.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting lease %s: %w", l.Name, err))
		}
	}
	return errors.Join(errs...)
}
