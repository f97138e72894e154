package faults

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// Invariant names a safety property the checker enforces.
type Invariant string

// The invariants of the suite.
const (
	// InvPodRemoved: a Pod of a Rollout was removed while no other revision
	// of it had all its replicas available, so capacity was lost before its
	// replacement was ready.
	InvPodRemoved Invariant = "pod-removed-before-replacement-available"
	// InvTrafficToUnavailable: a Service (or, for the canary Service, the
	// router's weight) sent traffic to a revision with no available Pod.
	InvTrafficToUnavailable Invariant = "traffic-to-revision-without-available-pods"
	// InvExtraReplicaSet: a Rollout got more ReplicaSets than templates it
	// was given, or two live ones for one pod-template hash.
	InvExtraReplicaSet Invariant = "extra-replicaset"
	// InvDuplicateAnalysisRun: two AnalysisRuns for the same Rollout,
	// revision and purpose (background, step N, pre- or post-promotion).
	InvDuplicateAnalysisRun Invariant = "duplicate-analysisrun"
	// InvReleaseOutcome: a release ended otherwise than scripted, or not
	// within its deadline.
	InvReleaseOutcome Invariant = "release-outcome"
)

// Violation is one breach of an invariant, with what the cluster showed.
type Violation struct {
	Invariant Invariant `json:"invariant"`
	Rollout   string    `json:"rollout"`
	// ResourceVersion is the write at which the breach showed, for finding
	// it in the API server's history; 0 for outcome violations.
	ResourceVersion int64  `json:"resourceVersion,omitempty"`
	Detail          string `json:"detail"`
}

// String is the violation as the report prints it.
func (v Violation) String() string {
	rv := ""
	if v.ResourceVersion > 0 {
		rv = fmt.Sprintf(" at resourceVersion %d", v.ResourceVersion)
	}
	return fmt.Sprintf("%s: rollout %s%s: %s", v.Invariant, v.Rollout, rv, v.Detail)
}

// eventKind tells which of the watched kinds an event is about.
type eventKind int

const (
	kindPod eventKind = iota
	kindService
	kindIngress
	kindReplicaSet
	kindAnalysisRun
	// kindRollout events only time the controller's writes.
	kindRollout
)

// event is one change of a watched object as the checker replays it. Obj
// is the object after the change, or the last known state for a deletion.
type event struct {
	kind    eventKind
	deleted bool
	// unknownDeletion marks a deletion the watch missed (it happened while
	// the watch was broken); when it happened is not known.
	unknownDeletion bool
	// late marks an event that arrived after later writes were judged
	// (a watch that reconnected slowly): its state is applied, but the
	// state around it is no longer that of its moment, so it is not judged.
	late bool
	rv   int64
	obj  any
}

// podState is what the checker keeps of a Pod.
type podState struct {
	rollout, hash string
	available     bool
	removing      bool
}

// checker replays the watched changes of one namespace in the API
// server's write order and checks the invariants after each. It is pure:
// the watcher feeds it, tests feed it by hand.
type checker struct {
	// replicas is every Rollout's spec.replicas; the suite never changes it.
	replicas int
	// armed turns the Pod and traffic checks on once the suite's Rollouts
	// are all Healthy: before that, Services and routers legitimately wait
	// for the first revision's Pods.
	armed bool

	pods      map[string]podState
	services  map[string]map[string]string // name -> selector
	ingresses map[string]int               // canary Service name -> weight
	// rsByUID and rsHash are the live ReplicaSets of the Rollouts.
	rsByUID map[string]rsState
	// rsCreated counts ReplicaSets ever seen per Rollout; templates is how
	// many pod templates the runner gave each Rollout.
	rsCreated map[string]int
	templates map[string]int
	runs      map[string]string // run key -> UID of the first run seen
	seenUID   map[string]bool

	violations []Violation
	// unobservedDeletions counts Pod removals the watches missed or
	// delivered late while the API server was away; their moment is
	// unknown, so they are not judged.
	unobservedDeletions int
	// reported keeps one violation per (invariant, rollout, detail) so a
	// state that stays wrong for many events is reported once.
	reported map[string]bool
}

type rsState struct {
	rollout, hash string
}

func newChecker(replicas int) *checker {
	return &checker{
		replicas:  replicas,
		pods:      map[string]podState{},
		services:  map[string]map[string]string{},
		ingresses: map[string]int{},
		rsByUID:   map[string]rsState{},
		rsCreated: map[string]int{},
		templates: map[string]int{},
		runs:      map[string]string{},
		seenUID:   map[string]bool{},
		reported:  map[string]bool{},
	}
}

// expectTemplate records that the runner gave the Rollout one more pod
// template, so one more ReplicaSet is expected.
func (c *checker) expectTemplate(rollout string) { c.templates[rollout]++ }

func (c *checker) violate(inv Invariant, rollout string, rv int64, format string, args ...any) {
	detail := fmt.Sprintf(format, args...)
	key := string(inv) + "/" + rollout + "/" + detail
	if c.reported[key] {
		return
	}
	c.reported[key] = true
	c.violations = append(c.violations, Violation{Invariant: inv, Rollout: rollout, ResourceVersion: rv, Detail: detail})
}

// apply replays one event and checks the invariants it can affect.
func (c *checker) apply(ev event) {
	switch o := ev.obj.(type) {
	case *corev1.Pod:
		c.applyPod(ev, o)
	case *corev1.Service:
		c.applyService(ev, o)
	case *networkingv1.Ingress:
		c.applyIngress(ev, o)
	case *appsv1.ReplicaSet:
		c.applyReplicaSet(ev, o)
	case *v1alpha1.AnalysisRun:
		c.applyRun(ev, o)
	}
}

func (c *checker) applyPod(ev event, p *corev1.Pod) {
	ro, hash := p.Labels[LabelApp], p.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
	if ro == "" || hash == "" {
		return
	}
	key := p.Name
	prev, known := c.pods[key]
	removing := ev.deleted || p.DeletionTimestamp != nil
	if ev.deleted {
		delete(c.pods, key)
	} else {
		c.pods[key] = podState{rollout: ro, hash: hash, available: !removing && podReady(p), removing: removing}
	}
	startsRemoval := removing && (!known || !prev.removing)
	judged := !ev.unknownDeletion && !ev.late
	if startsRemoval && !judged {
		c.unobservedDeletions++
	} else if startsRemoval && c.armed && known {
		// The Pod itself no longer counts; another revision must carry
		// the Rollout in full.
		counts := c.availableByHash(ro)
		full := false
		for h, n := range counts {
			if h != hash && n >= c.replicas {
				full = true
			}
		}
		if !full {
			c.violate(InvPodRemoved, ro, ev.rv, "pod %s of revision %s removed while no other revision had %d available pods (available: %s)",
				p.Name, hash, c.replicas, describeCounts(counts))
		}
	}
	// A Pod that loses its readiness on its own (its node went away) is
	// not the controller's doing; one that is removed is.
	if startsRemoval && judged {
		c.checkTraffic(ro, ev.rv)
	}
}

func (c *checker) applyService(ev event, s *corev1.Service) {
	ro, _ := serviceRole(s.Name)
	if ro == "" {
		return
	}
	if ev.deleted {
		delete(c.services, s.Name)
		return
	}
	c.services[s.Name] = s.Spec.Selector
	if !ev.late {
		c.checkTraffic(ro, ev.rv)
	}
}

func (c *checker) applyIngress(ev event, ing *networkingv1.Ingress) {
	if ing.Annotations[nginxCanaryAnnotation] != "true" {
		return
	}
	svc := canaryBackend(ing)
	ro, _ := serviceRole(svc)
	if ro == "" {
		return
	}
	if ev.deleted {
		delete(c.ingresses, svc)
		return
	}
	w, _ := strconv.Atoi(ing.Annotations[nginxCanaryWeightAnnotation])
	c.ingresses[svc] = w
	if !ev.late {
		c.checkTraffic(ro, ev.rv)
	}
}

func (c *checker) applyReplicaSet(ev event, rs *appsv1.ReplicaSet) {
	ro := ownerRollout(rs.OwnerReferences)
	if ro == "" {
		return
	}
	uid := string(rs.UID)
	if ev.deleted {
		delete(c.rsByUID, uid)
		return
	}
	hash := rs.Labels[v1alpha1.DefaultRolloutUniqueLabelKey]
	if !c.seenUID[uid] {
		c.seenUID[uid] = true
		c.rsCreated[ro]++
		if c.rsCreated[ro] > c.templates[ro] {
			c.violate(InvExtraReplicaSet, ro, ev.rv, "replicaset %s (hash %s) is number %d for %d pod templates",
				rs.Name, hash, c.rsCreated[ro], c.templates[ro])
		}
	}
	c.rsByUID[uid] = rsState{rollout: ro, hash: hash}
	for other, st := range c.rsByUID {
		if other != uid && st.rollout == ro && st.hash == hash {
			c.violate(InvExtraReplicaSet, ro, ev.rv, "two live replicasets for hash %s", hash)
		}
	}
}

func (c *checker) applyRun(ev event, run *v1alpha1.AnalysisRun) {
	ro := ownerRollout(run.OwnerReferences)
	if ro == "" || ev.deleted {
		return
	}
	kind := run.Labels[v1alpha1.RolloutTypeLabel]
	if kind == "" {
		return
	}
	key := strings.Join([]string{ro, run.Labels[v1alpha1.DefaultRolloutUniqueLabelKey], kind,
		run.Labels[v1alpha1.RolloutCanaryStepIndexLabel]}, "/")
	uid := string(run.UID)
	first, ok := c.runs[key]
	if !ok {
		c.runs[key] = uid
		return
	}
	if first != uid {
		c.violate(InvDuplicateAnalysisRun, ro, ev.rv, "analysisrun %s duplicates an earlier %s run of hash %s",
			run.Name, kind, run.Labels[v1alpha1.DefaultRolloutUniqueLabelKey])
	}
}

// checkTraffic checks every Service of the Rollout that carries traffic:
// stable, active and preview always, the canary Service while its router
// weight is above zero.
func (c *checker) checkTraffic(ro string, rv int64) {
	if !c.armed {
		return
	}
	counts := c.availableByHash(ro)
	for _, role := range []string{roleStable, roleCanary, roleActive, rolePreview} {
		svc := ro + role
		sel, ok := c.services[svc]
		if !ok {
			continue
		}
		hash := sel[v1alpha1.DefaultRolloutUniqueLabelKey]
		if hash == "" {
			continue
		}
		if role == roleCanary && c.ingresses[svc] == 0 {
			continue
		}
		if counts[hash] == 0 {
			why := "selects"
			if role == roleCanary {
				why = fmt.Sprintf("gets weight %d and selects", c.ingresses[svc])
			}
			c.violate(InvTrafficToUnavailable, ro, rv, "service %s %s revision %s, which has no available pod (available: %s)",
				svc, why, hash, describeCounts(counts))
		}
	}
}

func (c *checker) availableByHash(ro string) map[string]int {
	out := map[string]int{}
	for _, p := range c.pods {
		if p.rollout == ro && p.available {
			out[p.hash]++
		}
	}
	return out
}

func describeCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

// Service roles are the suffixes the suite gives a Rollout's Services.
const (
	roleStable  = "-stable"
	roleCanary  = "-canary"
	roleActive  = "-active"
	rolePreview = "-preview"
)

// serviceRole splits a Service name of the suite into its Rollout and role.
func serviceRole(name string) (rollout, role string) {
	for _, r := range []string{roleStable, roleCanary, roleActive, rolePreview} {
		if strings.HasSuffix(name, r) && strings.HasPrefix(name, rolloutPrefix) {
			return strings.TrimSuffix(name, r), r
		}
	}
	return "", ""
}

func canaryBackend(ing *networkingv1.Ingress) string {
	for _, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for _, p := range rule.HTTP.Paths {
			if p.Backend.Service != nil {
				return p.Backend.Service.Name
			}
		}
	}
	return ""
}

func ownerRollout(refs []metav1.OwnerReference) string {
	for _, r := range refs {
		if r.Kind == "Rollout" && r.Controller != nil && *r.Controller {
			return r.Name
		}
	}
	return ""
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}
