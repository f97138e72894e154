// Package ambassador splits traffic with Ambassador (Emissary-ingress)
// Mappings. Ambassador weighs Mappings that share a prefix, so for every
// base Mapping the Rollout names the router keeps a canary Mapping,
// "<base>-canary": the base's spec, sent to the canary Service, carrying the
// canary weight. The base Mapping, which sends to the stable Service, takes
// the rest of the traffic and is never written.
package ambassador

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/trafficrouting"
)

// Type is the router's name in logs and messages.
const Type = "ambassador"

// GVKs are the Mapping kinds looked in, in order. Argo Rollouts takes one
// from its --ambassador-api-version flag: getambassador.io/v2 by default,
// getambassador.io/v3alpha1 for Emissary 2 and later, or
// x.getambassador.io/v3alpha1, whose kind is AmbassadorMapping. Here the
// first kind that holds the base Mapping wins, so no flag is needed;
// v3alpha1 comes before v2 because Emissary 2+ stores v3alpha1 and serves
// v2 only through its conversion webhook.
var GVKs = []schema.GroupVersionKind{
	{Group: "getambassador.io", Version: "v3alpha1", Kind: "Mapping"},
	{Group: "getambassador.io", Version: "v2", Kind: "Mapping"},
	{Group: "x.getambassador.io", Version: "v3alpha1", Kind: "AmbassadorMapping"},
}

// maxBaseName keeps "<base>-canary" within the 253 characters of an
// object name.
const maxBaseName = 253 - len(canarySuffix)

const canarySuffix = "-canary"

// CanaryMappingName is the name of the canary Mapping of base: Argo
// Rollouts' name, so a Rollout moved between the controllers finds its
// canary Mappings.
func CanaryMappingName(base string) string {
	if len(base) > maxBaseName {
		base = base[:maxBaseName]
	}
	return base + canarySuffix
}

// Router keeps the canary Mappings of a Rollout.
type Router struct {
	env trafficrouting.Env
}

var _ trafficrouting.Router = (*Router)(nil)

// New returns the Ambassador router of env's Rollout.
func New(env trafficrouting.Env) *Router { return &Router{env: env} }

// Type returns "ambassador".
func (r *Router) Type() string { return Type }

// Check reports a missing base Mapping, a base Mapping with a weight of its
// own (Ambassador would then not give the base the rest of the traffic), and
// a "<base>-canary" Mapping this Rollout does not control.
func (r *Router) Check(ctx context.Context) error {
	if err := r.config(); err != nil {
		return err
	}
	var errs []error
	for _, name := range r.env.Routing().Ambassador.Mappings {
		base, err := r.base(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := r.canary(ctx, base); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Sync creates or updates the canary Mapping of every base Mapping while
// the update runs, and deletes it once the update is over (no canary weight
// and the canary is the stable). A canary Mapping that does not exist is
// not created at weight 0, as in Argo Rollouts; one that exists stays at
// weight 0, e.g. after an abort, until the update is over. Ambassador has
// no header or mirror routes here.
func (r *Router) Sync(ctx context.Context, d trafficrouting.Desired) error {
	if len(d.HeaderRoutes) > 0 || len(d.MirrorRoutes) > 0 {
		return trafficrouting.Errorf(Type, "Ambassador supports neither setHeaderRoute nor setMirrorRoute; remove those steps")
	}
	if err := r.config(); err != nil {
		return err
	}
	over := d.CanaryWeight == 0 && d.CanaryHash == d.StableHash
	var errs []error
	for _, name := range r.env.Routing().Ambassador.Mappings {
		if err := r.syncOne(ctx, name, d.CanaryWeight, over); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Router) syncOne(ctx context.Context, name string, weight int32, over bool) error {
	base, err := r.base(ctx, name)
	if err != nil {
		return err
	}
	before, err := r.canary(ctx, base)
	if err != nil {
		return err
	}
	switch {
	case before == nil && (over || weight == 0):
		return nil
	case before == nil:
		u := r.build(base, weight)
		if err := r.env.Writer.Create(ctx, u); err != nil {
			return fmt.Errorf("creating canary %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
		}
		return nil
	case over:
		uid, rv := before.GetUID(), before.GetResourceVersion()
		err := r.env.Writer.Delete(ctx, before, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting canary %s %s/%s: %w", before.GetKind(), before.GetNamespace(), before.GetName(), err)
		}
		return nil
	default:
		// The whole spec follows the base, so a prefix or host changed
		// during the update reaches the canary too; the canary's metadata
		// is left as it is.
		after := before.DeepCopy()
		after.Object["spec"] = r.build(base, weight).Object["spec"]
		_, err := trafficrouting.UpdateIfChanged(ctx, r.env.Writer, before, after)
		return err
	}
}

// config reports what is missing from the Rollout itself.
func (r *Router) config() error {
	var errs []error
	if a := r.env.Routing().Ambassador; a == nil || len(a.Mappings) == 0 {
		errs = append(errs, trafficrouting.Errorf(Type, "trafficRouting.ambassador.mappings needs at least one Mapping"))
	}
	if r.env.Canary().CanaryService == "" {
		errs = append(errs, trafficrouting.Errorf(Type, "canaryService is required"))
	}
	return errors.Join(errs...)
}

// base reads the base Mapping name and refuses one that sets a weight.
func (r *Router) base(ctx context.Context, name string) (*unstructured.Unstructured, error) {
	u, err := getFirst(ctx, r.env.Reader, GVKs, r.env.Rollout.Namespace, name)
	if err != nil {
		return nil, err
	}
	if w, found, _ := unstructured.NestedFieldNoCopy(u.Object, "spec", "weight"); found && w != nil && !isZero(w) {
		return nil, trafficrouting.Errorf(Type, "%s %s/%s sets spec.weight; remove it, the canary Mapping carries the weight and the base takes the rest", u.GetKind(), u.GetNamespace(), name)
	}
	return u, nil
}

// canary reads the canary Mapping of base, in base's kind. It returns nil
// when there is none, and a *trafficrouting.ConfigError when one exists that
// this Rollout does not control, since the router must not take over or
// delete someone else's Mapping.
func (r *Router) canary(ctx context.Context, base *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(base.GroupVersionKind())
	name := CanaryMappingName(base.GetName())
	err := r.env.Reader.Get(ctx, client.ObjectKey{Namespace: base.GetNamespace(), Name: name}, u)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("reading canary %s %s/%s: %w", u.GetKind(), base.GetNamespace(), name, err)
	case !metav1.IsControlledBy(u, r.env.Rollout):
		return nil, trafficrouting.Errorf(Type, "%s %s/%s exists and is not controlled by this Rollout; the router keeps the canary Mapping of %q under that name, so rename or delete it", u.GetKind(), u.GetNamespace(), name, base.GetName())
	}
	return u, nil
}

// build makes the canary Mapping of base: base's spec with the canary
// Service and weight. No labels or annotations are copied, as in Argo
// Rollouts: Argo CD's tracking label would make the canary look like part
// of the application and be pruned.
func (r *Router) build(base *unstructured.Unstructured, weight int32) *unstructured.Unstructured {
	spec, _ := runtime.DeepCopyJSONValue(base.Object["spec"]).(map[string]any)
	if spec == nil {
		spec = map[string]any{}
	}
	svc, _ := spec["service"].(string)
	spec["service"] = canaryService(svc, r.env.Canary().CanaryService, base.GetNamespace())
	spec["weight"] = int64(weight)
	u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
	u.SetGroupVersionKind(base.GroupVersionKind())
	u.SetNamespace(base.GetNamespace())
	u.SetName(CanaryMappingName(base.GetName()))
	u.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(r.env.Rollout, v1alpha1.GroupVersion.WithKind("Rollout"))})
	return u
}

// canaryService rewrites a Mapping's service, "[scheme://]name[.namespace
// [.rest]][:port]", to name the canary Service instead, keeping the form.
// Argo Rollouts keeps only a numeric port; the scheme and a namespace
// suffix are kept here as well, because dropping "https://" would send TLS
// traffic in the clear. The canary Service lives in the Rollout's
// namespace, which a namespace suffix therefore names.
func canaryService(base, canary, ns string) string {
	scheme := ""
	if i := strings.Index(base, "://"); i >= 0 {
		scheme, base = base[:i+3], base[i+3:]
	}
	port := ""
	if i := strings.LastIndex(base, ":"); i >= 0 {
		if _, err := strconv.Atoi(base[i+1:]); err == nil {
			port = base[i:]
		}
		base = base[:i]
	}
	host := canary
	if labels := strings.SplitN(base, ".", 3); len(labels) >= 2 {
		host += "." + ns
		if len(labels) == 3 {
			host += "." + labels[2]
		}
	}
	return scheme + host + port
}

func isZero(v any) bool {
	switch n := v.(type) {
	case int64:
		return n == 0
	case int:
		return n == 0
	case int32:
		return n == 0
	case float64:
		return n == 0
	}
	return false
}

// getFirst reads ns/name in the first of gvks that holds it. A kind the
// cluster does not serve is skipped; when no kind holds the object the
// result is a *trafficrouting.ConfigError, as nothing can be written until
// someone creates it.
func getFirst(ctx context.Context, rd client.Reader, gvks []schema.GroupVersionKind, ns, name string) (*unstructured.Unstructured, error) {
	served := false
	for _, gvk := range gvks {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		err := rd.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)
		switch {
		case err == nil:
			return u, nil
		case apierrors.IsNotFound(err):
			served = true
		case trafficrouting.IsNoKind(err):
		default:
			return nil, fmt.Errorf("reading %s %s/%s: %w", gvk.Kind, ns, name, err)
		}
	}
	if served {
		return nil, trafficrouting.Errorf(Type, "Mapping %s/%s does not exist", ns, name)
	}
	var gvs []string
	for _, g := range gvks {
		gvs = append(gvs, g.GroupVersion().String())
	}
	return nil, trafficrouting.Errorf(Type, "the cluster serves no Mapping kind (%s); install Ambassador's CustomResourceDefinitions", strings.Join(gvs, ", "))
}
