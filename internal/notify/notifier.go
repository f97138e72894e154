package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/argoproj/notifications-engine/pkg/services"
	"github.com/argoproj/notifications-engine/pkg/subscriptions"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/rolloutview"
)

// subscribePrefix and subscriptionsKey are the engine's two forms of
// subscription annotation: subscribe.<trigger>.<service>, and a YAML list.
const (
	subscribePrefix  = "notifications.argoproj.io/subscribe."
	subscriptionsKey = "notifications.argoproj.io/subscriptions"
)

// Notice is one decision to announce.
type Notice struct {
	// Type is Normal or Warning, as the decision's event.
	Type string
	// Reason is the decision's event reason; it names the trigger.
	Reason string
	// Message is the decision's event message.
	Message string
}

// Sink receives the decisions of a reconcile after its writes succeeded.
// It must return at once; a nil *Notifier is a valid Sink that drops all.
// owned are the objects obj controls as the reconcile observed them (a
// Rollout's ReplicaSets, Pods, AnalysisRuns and Experiments); templates see
// them through the shared read model.
type Sink interface {
	Notify(obj client.Object, owned rolloutview.Owned, notices []Notice)
}

// Options configure a Notifier.
type Options struct {
	// Namespace holds the controller-wide ConfigMap and Secret.
	Namespace string
	// SelfService also reads the ConfigMap and Secret of each object's own
	// namespace (the reference's --self-service-notification-enabled).
	SelfService bool
	// Workers is the number of concurrent senders; each object's
	// notifications go through one of them, in order.
	Workers int
	// QueueSize bounds the notifications waiting per worker; beyond it new
	// ones are dropped and counted as errors rather than slow a reconcile.
	QueueSize int
	// Attempts is how often a send is tried before it counts as failed.
	Attempts int
	// Backoff is the wait after the first failed attempt; it doubles after
	// each further one.
	Backoff time.Duration
}

// DefaultOptions returns the settings the controller runs with.
func DefaultOptions(namespace string) Options {
	return Options{Namespace: namespace, Workers: 4, QueueSize: 256, Attempts: 5, Backoff: time.Second}
}

// Notifier watches the notification configuration and sends what the
// reconcilers hand it. It is a manager Runnable that runs on the leader.
type Notifier struct {
	opts     Options
	kube     kubernetes.Interface
	writer   client.Client
	reader   client.Reader
	recorder record.EventRecorder
	log      logr.Logger
	metrics  *Metrics

	configMaps, secrets cache.SharedIndexInformer

	// reloading serialises reloads: the ConfigMap's and the Secret's
	// informers call reload from their own goroutines, and a slower parse
	// of older contents must not overwrite a newer one.
	reloading sync.Mutex
	mu        sync.Mutex
	configs   map[string]*Config
	warned    map[string]bool
	// anyGlobal is whether some configuration subscribes by label
	// selector; without it only annotated objects need looking at.
	anyGlobal atomic.Bool

	queues []chan job
}

// job is one decision to announce for one object.
type job struct {
	gvk       string
	kind      string
	namespace string
	name      string
	uid       types.UID
	labels    map[string]string
	annots    map[string]string
	obj       map[string]interface{}
	event     client.Object
	notice    Notice
	trigger   string
	key       string
	clear     bool
}

// New builds a Notifier. writer patches the dedupe record; reader reads the
// object fresh from the API server before it does.
func New(kube kubernetes.Interface, writer client.Client, reader client.Reader, recorder record.EventRecorder, metrics *Metrics, log logr.Logger, opts Options) *Notifier {
	if opts.Workers < 1 {
		opts.Workers = 1
	}
	if opts.QueueSize < 1 {
		opts.QueueSize = 1
	}
	if opts.Attempts < 1 {
		opts.Attempts = 1
	}
	n := &Notifier{
		opts: opts, kube: kube, writer: writer, reader: reader, recorder: recorder,
		log: log, metrics: metrics, configs: map[string]*Config{}, warned: map[string]bool{},
	}
	watchNS := opts.Namespace
	if opts.SelfService {
		watchNS = metav1.NamespaceAll
	}
	// Only the two named objects are listed and watched: Secrets in
	// particular are never cached beyond these.
	n.configMaps = newNamedInformer(kube, "configmaps", watchNS, ConfigMapName, &corev1.ConfigMap{})
	n.secrets = newNamedInformer(kube, "secrets", watchNS, SecretName, &corev1.Secret{})
	for _, inf := range []cache.SharedIndexInformer{n.configMaps, n.secrets} {
		_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o interface{}) { n.reload(namespaceOf(o)) },
			UpdateFunc: func(_, o interface{}) { n.reload(namespaceOf(o)) },
			DeleteFunc: func(o interface{}) { n.reload(namespaceOf(o)) },
		})
	}
	n.queues = make([]chan job, opts.Workers)
	for i := range n.queues {
		n.queues[i] = make(chan job, opts.QueueSize)
	}
	return n
}

func newNamedInformer(kube kubernetes.Interface, resource, namespace, name string, obj runtime.Object) cache.SharedIndexInformer {
	lw := cache.NewListWatchFromClient(kube.CoreV1().RESTClient(), resource, namespace, fields.OneTermEqualSelector("metadata.name", name))
	return cache.NewSharedIndexInformer(lw, obj, 0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
}

func namespaceOf(o interface{}) string {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if m, ok := o.(metav1.Object); ok {
		return m.GetNamespace()
	}
	return ""
}

// NeedLeaderElection reports true: only the acting replica announces.
func (n *Notifier) NeedLeaderElection() bool { return true }

// Start watches the configuration and runs the senders until ctx ends.
func (n *Notifier) Start(ctx context.Context) error {
	go n.configMaps.Run(ctx.Done())
	go n.secrets.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), n.configMaps.HasSynced, n.secrets.HasSynced) {
		return nil
	}
	var wg sync.WaitGroup
	for _, q := range n.queues {
		wg.Add(1)
		go func(q chan job) {
			defer wg.Done()
			for {
				select {
				case <-ctx.Done():
					n.drain(q)
					return
				case j := <-q:
					n.process(ctx, j)
				}
			}
		}(q)
	}
	wg.Wait()
	return nil
}

// drainTimeout bounds how long a stopping controller keeps sending what
// its queues still hold; it stays well inside the manager's graceful
// shutdown period.
const drainTimeout = 10 * time.Second

// drain sends what q still holds when the controller stops (SIGTERM, or
// leadership lost): those decisions are written and no other replica will
// announce them. Each is still recorded on its object before it is sent,
// so a replica that took over never repeats one.
func (n *Notifier) drain(q chan job) {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	for {
		select {
		case j := <-q:
			n.process(ctx, j)
		default:
			return
		}
	}
}

// reload parses namespace's configuration again after a change.
func (n *Notifier) reload(namespace string) {
	n.reloading.Lock()
	defer n.reloading.Unlock()
	key := namespace + "/"
	cmObj, cmOK, _ := n.configMaps.GetIndexer().GetByKey(key + ConfigMapName)
	secObj, secOK, _ := n.secrets.GetIndexer().GetByKey(key + SecretName)
	var cfg *Config
	if cmOK {
		var secret *corev1.Secret
		if secOK {
			secret, _ = secObj.(*corev1.Secret)
		}
		cm, _ := cmObj.(*corev1.ConfigMap)
		parsed, err := Parse(cm, secret)
		if err != nil {
			n.log.Error(err, "notification configuration unusable", "namespace", namespace)
		} else {
			cfg = parsed
			for _, p := range parsed.Problems {
				n.log.Info("notification configuration entry left out", "namespace", namespace, "key", p.Key, "error", parsed.mask(p.Err.Error()))
			}
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if cfg == nil {
		delete(n.configs, namespace)
	} else {
		n.configs[namespace] = cfg
	}
	// A changed configuration deserves a fresh round of warnings.
	n.warned = map[string]bool{}
	global := false
	for _, c := range n.configs {
		if len(c.API.GetConfig().Subscriptions) > 0 {
			global = true
		}
	}
	n.anyGlobal.Store(global)
}

// configsFor are the configurations that apply to an object in namespace.
func (n *Notifier) configsFor(namespace string) []*Config {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*Config
	if c := n.configs[n.opts.Namespace]; c != nil {
		out = append(out, c)
	}
	if n.opts.SelfService && namespace != n.opts.Namespace {
		if c := n.configs[namespace]; c != nil {
			out = append(out, c)
		}
	}
	return out
}

// Notify queues the notices for obj, the object as the decision left it,
// and the objects it owns. It reads them only while it runs, so a caller
// may pass a shallow copy and cached objects. It never blocks: a full queue
// drops the notice, logged and counted.
func (n *Notifier) Notify(obj client.Object, owned rolloutview.Owned, notices []Notice) {
	if n == nil || len(notices) == 0 {
		return
	}
	annots := obj.GetAnnotations()
	subscribed := n.anyGlobal.Load()
	for k := range annots {
		if strings.HasPrefix(k, subscribePrefix) || k == subscriptionsKey {
			subscribed = true
			break
		}
	}
	hasRecord := annots[SentAnnotation] != ""
	gvk, kind, position := identify(obj)
	var m map[string]interface{}
	for _, nc := range notices {
		clear := nc.Reason == reasonAborted && hasRecord
		if !subscribed && !clear {
			continue
		}
		if m == nil {
			var err error
			if m, err = templateData(obj, owned, gvk, kind, time.Now()); err != nil {
				n.log.Error(err, "cannot convert object for notifications", "kind", kind, "namespace", obj.GetNamespace(), "name", obj.GetName())
				return
			}
		}
		trigger := TriggerFor(nc.Reason)
		j := job{
			gvk: gvk, kind: kind, namespace: obj.GetNamespace(), name: obj.GetName(), uid: obj.GetUID(),
			labels: maps.Clone(obj.GetLabels()), annots: maps.Clone(annots), obj: runtime.DeepCopyJSON(m), event: eventRef(obj),
			notice: nc, trigger: trigger, key: decisionKey(trigger, obj.GetUID(), position, nc.Message), clear: clear,
		}
		h := fnv.New32a()
		_, _ = h.Write([]byte(obj.GetUID()))
		select {
		case n.queues[int(h.Sum32())%len(n.queues)] <- j:
		default:
			n.log.Info("notification queue full; notice dropped", "kind", kind, "namespace", j.namespace, "name", j.name, "trigger", trigger)
			n.metrics.failed(j)
		}
	}
}

// templateData is what the engine hands to getVars for obj: the object
// itself and, for a Rollout, its read model and the AnalysisRuns of its
// current revision, each as plain JSON values.
func templateData(obj client.Object, owned rolloutview.Owned, gvk, kind string, now time.Time) (map[string]interface{}, error) {
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("converting %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	m["apiVersion"], m["kind"] = gvk, kind
	data := map[string]interface{}{dataObject: m}
	ro, ok := obj.(*v1alpha1.Rollout)
	if !ok {
		return data, nil
	}
	v := rolloutview.Build(ro, owned, now)
	view, err := jsonValue(v)
	if err != nil {
		return nil, fmt.Errorf("encoding the view of rollout %s/%s: %w", ro.Namespace, ro.Name, err)
	}
	data[dataView] = view
	runs := []interface{}{}
	if rev := v.Revision(v.CurrentRevision); rev != nil && v.CurrentRevision != 0 {
		byName := map[string]*v1alpha1.AnalysisRun{}
		for _, run := range owned.AnalysisRuns {
			byName[run.Name] = run
		}
		for _, rv := range rev.AnalysisRuns {
			run := byName[rv.Name]
			if run == nil {
				continue
			}
			u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(run)
			if err != nil {
				return nil, fmt.Errorf("converting AnalysisRun %s/%s: %w", run.Namespace, run.Name, err)
			}
			u["apiVersion"], u["kind"] = v1alpha1.GroupVersion.String(), "AnalysisRun"
			runs = append(runs, u)
		}
	}
	data[dataAnalysisRuns] = runs
	return data, nil
}

// jsonValue turns v into the maps, lists and scalars its JSON encodes, the
// form templates and expressions index into.
func jsonValue(v any) (map[string]interface{}, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding: %w", err)
	}
	var out map[string]interface{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return out, nil
}

// reasonAborted is the decision after which a retried update may announce
// its steps again.
const reasonAborted = "RolloutAborted"

// identify returns the object's apiVersion, kind, and where a Rollout's
// release stands (the version and step), which a decision key includes.
func identify(obj client.Object) (gvk, kind, position string) {
	gv := v1alpha1.GroupVersion.String()
	switch o := obj.(type) {
	case *v1alpha1.Rollout:
		step := "-"
		if o.Status.CurrentStepIndex != nil {
			step = fmt.Sprint(*o.Status.CurrentStepIndex)
		}
		return gv, "Rollout", o.Status.CurrentPodHash + "/" + step
	case *v1alpha1.AnalysisRun:
		return gv, "AnalysisRun", ""
	}
	k := obj.GetObjectKind().GroupVersionKind()
	return k.GroupVersion().String(), k.Kind, ""
}

// eventRef is what a Warning Event about obj needs, detached from the
// caller's object.
func eventRef(obj client.Object) client.Object {
	meta := metav1.ObjectMeta{Name: obj.GetName(), Namespace: obj.GetNamespace(), UID: obj.GetUID(), ResourceVersion: obj.GetResourceVersion()}
	switch obj.(type) {
	case *v1alpha1.Rollout:
		return &v1alpha1.Rollout{ObjectMeta: meta}
	case *v1alpha1.AnalysisRun:
		return &v1alpha1.AnalysisRun{ObjectMeta: meta}
	}
	return obj.DeepCopyObject().(client.Object)
}

// delivery is one notification to one destination.
type delivery struct {
	cfg       *Config
	templates []string
	dest      services.Destination
}

// process announces one decision: it finds the destinations subscribed to
// its trigger, runs the trigger's conditions, records the decision on the
// object, then sends.
func (n *Notifier) process(ctx context.Context, j job) {
	log := n.log.WithValues("kind", j.kind, "namespace", j.namespace, "name", j.name, "trigger", j.trigger)
	var deliveries []delivery
	for _, cfg := range n.configsFor(j.namespace) {
		deliveries = append(deliveries, n.plan(j, cfg, log)...)
	}
	if len(deliveries) == 0 && !j.clear {
		return
	}
	fresh, err := n.record(ctx, j, len(deliveries) > 0)
	if err != nil {
		log.Error(err, "cannot record the notification; not sending it")
		for range deliveries {
			n.metrics.failed(j)
		}
		return
	}
	if !fresh {
		log.V(1).Info("decision already announced", "key", j.key)
		return
	}
	for _, d := range deliveries {
		n.deliver(ctx, j, d, log)
	}
}

// plan lists what cfg sends for j, warning on the object about
// configuration problems that a subscription runs into.
func (n *Notifier) plan(j job, cfg *Config, log logr.Logger) []delivery {
	c := cfg.API.GetConfig()
	dests := c.GetGlobalDestinations(j.labels)
	dests.Merge(subscriptions.NewAnnotations(j.annots).GetDestinations(c.DefaultTriggers, c.ServiceDefaultTriggers))
	targets := dests.Dedup()[j.trigger]
	if len(targets) == 0 {
		return nil
	}
	svcs := cfg.API.GetNotificationServices()
	var usable []services.Destination
	for _, d := range targets {
		probs := cfg.problemFor(j.trigger, d.Service)
		if _, ok := svcs[d.Service]; !ok && len(probs) == 0 {
			probs = append(probs, Problem{Key: "service." + d.Service, Err: errors.New("no such service is configured")})
		}
		if len(probs) > 0 {
			n.warn(j, cfg, probs)
			n.metrics.failed(j)
			continue
		}
		usable = append(usable, d)
	}
	conds, ok := c.Triggers[j.trigger]
	if !ok {
		if len(cfg.problemFor(j.trigger, "")) == 0 {
			n.warn(j, cfg, []Problem{{Key: "trigger." + j.trigger, Err: errors.New("no such trigger is configured")}})
		}
		for range usable {
			n.metrics.failed(j)
		}
		return nil
	}
	if len(usable) == 0 {
		return nil
	}
	results, err := cfg.API.RunTrigger(j.trigger, j.obj)
	if err != nil {
		log.Info("cannot run the trigger", "error", cfg.mask(err.Error()))
		n.metrics.failed(j)
		return nil
	}
	var out []delivery
	for i, r := range results {
		// A condition without when: always sends, as in the reference.
		if !r.Triggered && (i >= len(conds) || conds[i].When != "") {
			continue
		}
		for _, d := range usable {
			out = append(out, delivery{cfg: cfg, templates: r.Templates, dest: d})
		}
	}
	return out
}

// warn reports configuration problems as a Warning Event on the object,
// once per object and problem until the configuration changes.
func (n *Notifier) warn(j job, cfg *Config, probs []Problem) {
	for _, p := range probs {
		msg := cfg.mask(fmt.Sprintf("notification configuration in namespace %s: %s (trigger %s)", cfg.Namespace, p, j.trigger))
		n.mu.Lock()
		seen := n.warned[string(j.uid)+msg]
		if !seen {
			if len(n.warned) > 4096 {
				n.warned = map[string]bool{}
			}
			n.warned[string(j.uid)+msg] = true
		}
		n.mu.Unlock()
		n.log.Info("notification configuration problem", "kind", j.kind, "namespace", j.namespace, "name", j.name, "trigger", j.trigger, "key", p.Key, "error", cfg.mask(p.Err.Error()))
		if !seen && n.recorder != nil {
			n.recorder.Event(j.event, corev1.EventTypeWarning, "NotificationConfigError", msg)
		}
	}
}

// record writes the decision's key into the object's SentAnnotation before
// anything is sent, and reports false when the key was already there. An
// abort clears the record first, so a retried update is announced again.
// Writing before sending makes a crash lose a notification rather than
// send it twice.
func (n *Notifier) record(ctx context.Context, j job, add bool) (bool, error) {
	for attempt := 0; ; attempt++ {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(j.gvk)
		u.SetKind(j.kind)
		if err := n.reader.Get(ctx, types.NamespacedName{Namespace: j.namespace, Name: j.name}, u); err != nil {
			return false, fmt.Errorf("reading %s %s/%s: %w", j.kind, j.namespace, j.name, err)
		}
		if u.GetUID() != j.uid {
			return false, nil
		}
		keys := parseSent(u.GetAnnotations()[SentAnnotation])
		if j.clear {
			keys = nil
		}
		if add {
			for _, k := range keys {
				if k == j.key {
					return false, nil
				}
			}
			keys = withSent(keys, j.key)
		}
		body, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{
			"resourceVersion": u.GetResourceVersion(),
			"annotations":     map[string]string{SentAnnotation: formatSent(keys)},
		}})
		if err != nil {
			return false, fmt.Errorf("encoding the record: %w", err)
		}
		err = n.writer.Patch(ctx, u, client.RawPatch(types.MergePatchType, body))
		if err == nil {
			return add, nil
		}
		if !apierrors.IsConflict(err) || attempt >= 5 {
			return false, fmt.Errorf("recording the notification on %s %s/%s: %w", j.kind, j.namespace, j.name, err)
		}
	}
}

// deliver sends one notification, retrying with back-off.
func (n *Notifier) deliver(ctx context.Context, j job, d delivery, log logr.Logger) {
	wait := n.opts.Backoff
	log = log.WithValues("service", d.dest.Service, "recipient", d.dest.Recipient, "configNamespace", d.cfg.Namespace)
	for attempt := 1; ; attempt++ {
		err := d.cfg.API.Send(j.obj, d.templates, d.dest)
		if err == nil {
			n.metrics.sent(j)
			log.Info("notification sent", "templates", d.templates, "attempt", attempt)
			return
		}
		if attempt >= n.opts.Attempts {
			n.metrics.failed(j)
			log.Info("notification failed; giving up", "error", d.cfg.mask(err.Error()), "attempts", attempt)
			return
		}
		log.Info("notification failed; retrying", "error", d.cfg.mask(err.Error()), "attempt", attempt, "after", wait.String())
		select {
		case <-ctx.Done():
			n.metrics.failed(j)
			return
		case <-time.After(wait):
		}
		wait *= 2
	}
}
