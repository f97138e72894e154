// Package replicas decides how many Pods the canary, stable and older
// ReplicaSets of a canary Rollout should have right now.
//
// It is pure arithmetic over a plain snapshot: the reconciler reads the
// ReplicaSets, fills an Input, calls BasicCanary (Service-only canary) or
// TrafficRoutedCanary (a traffic router splits requests), and scales each
// ReplicaSet to the Result. Calling it again after Pods change state walks the
// Rollout one safe step further, the way a Deployment's rolling update does.
package replicas

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// DefaultMaxSurge and DefaultMaxUnavailable are applied when the Rollout
// leaves spec.strategy.canary.maxSurge / maxUnavailable unset, matching the
// defaults Argo Rollouts (and Deployments) document.
var (
	DefaultMaxSurge       = intstr.FromString("25%")
	DefaultMaxUnavailable = intstr.FromString("25%")
)

// RSState is what the calculation needs to know about one ReplicaSet.
type RSState struct {
	// Replicas is the ReplicaSet's spec.replicas.
	Replicas int32
	// Available is the ReplicaSet's status.availableReplicas.
	Available int32
}

// available returns the Pods of rs that can be relied on to keep serving.
// When a ReplicaSet is already shrinking, Available can briefly exceed
// Replicas; the surplus is about to disappear, so it must not be counted.
func (rs RSState) available() int32 {
	a := min(rs.Available, rs.Replicas)
	return max(a, 0)
}

// unavailable returns the Pods of rs that serve nothing yet (starting,
// crash-looping, unschedulable). Removing them costs no availability because
// the ReplicaSet controller deletes not-ready Pods before ready ones.
func (rs RSState) unavailable() int32 {
	return max(rs.Replicas, 0) - rs.available()
}

// Scale is a setCanaryScale override in effect for the current step.
type Scale struct {
	// Replicas is an explicit canary Pod count.
	Replicas *int32
	// Weight is a percentage of spec.replicas (rounded up); it may exceed 100.
	Weight *int32
}

// Weights is the traffic split a router currently applies, in percent.
type Weights struct {
	// Canary is the share of requests sent to the canary.
	Canary int32
	// Stable is the share of requests sent to the stable.
	Stable int32
}

// Input is a snapshot of one canary Rollout and its ReplicaSets.
type Input struct {
	// Replicas is spec.replicas, the desired total once the rollout is done.
	Replicas int32
	// MaxSurge and MaxUnavailable are the canary strategy's bounds; nil
	// means the 25% defaults.
	MaxSurge, MaxUnavailable *intstr.IntOrString
	// Weight is the desired canary traffic weight (0..100) of the current
	// setWeight step, or 100 past the last step or on full promotion.
	Weight int32
	// CanaryScale is the setCanaryScale override in effect, or nil. Only
	// TrafficRoutedCanary honours it (see BasicCanary).
	CanaryScale *Scale
	// Canary is the ReplicaSet of the current pod template (zero value if
	// it does not exist yet).
	Canary RSState
	// Stable is the stable ReplicaSet, or nil when there is none distinct
	// from Canary (first rollout, or the canary already is the stable). The
	// canary then simply takes all the replicas.
	Stable *RSState
	// Others are older ReplicaSets that are neither canary nor stable. They
	// always go to zero; Result.Others is index-aligned with this slice.
	Others []RSState
	// MinPodsPerReplicaSet raises any non-zero count (traffic-routed only).
	MinPodsPerReplicaSet *int32
	// DynamicStableScale shrinks the stable as traffic leaves it
	// (traffic-routed only).
	DynamicStableScale bool
	// Traffic is the split the router applies right now, or nil if unknown
	// (traffic-routed with DynamicStableScale only).
	Traffic *Weights
	// Aborted sends the rollout back to a full stable: Weight and
	// CanaryScale are then ignored.
	Aborted bool
	// Pods is how many Pods of the Rollout exist now, terminating ones
	// included (0 when unknown). A scale-down leaves its Pods terminating
	// for a while; the surge room is measured against them too, so the
	// next call does not start new Pods while the old ones still run.
	Pods int32
}

// Result holds the spec.replicas each ReplicaSet should be scaled to now.
type Result struct {
	// Canary is the canary ReplicaSet's new replica count.
	Canary int32
	// Stable is the stable ReplicaSet's new replica count (0 when Input.Stable
	// is nil).
	Stable int32
	// Others holds the new counts of Input.Others, in the same order.
	Others []int32
}

// ResolveSurgeUnavailable turns maxSurge and maxUnavailable into Pod counts
// for the given replicas. Nil means the 25% default. Percentages round up for
// surge and down for unavailable, so a rollout errs towards more capacity. If
// both come to zero, unavailable becomes 1, as Deployments do, because
// otherwise no Pod could ever be replaced. Unavailable never exceeds
// replicas. A string without "%" is read as a percentage, as Argo Rollouts
// does.
func ResolveSurgeUnavailable(maxSurge, maxUnavailable *intstr.IntOrString, replicas int32) (surge, unavailable int32, err error) {
	replicas = max(replicas, 0)
	surge, err = resolveBound(maxSurge, DefaultMaxSurge, replicas, true)
	if err != nil {
		return 0, 0, fmt.Errorf("maxSurge: %w", err)
	}
	unavailable, err = resolveBound(maxUnavailable, DefaultMaxUnavailable, replicas, false)
	if err != nil {
		return 0, 0, fmt.Errorf("maxUnavailable: %w", err)
	}
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, min(unavailable, replicas), nil
}

// resolveBound converts one IntOrString bound using integer arithmetic so
// that large replica counts do not suffer float rounding.
func resolveBound(v *intstr.IntOrString, def intstr.IntOrString, replicas int32, roundUp bool) (int32, error) {
	if v == nil {
		v = &def
	}
	if v.Type == intstr.Int {
		if v.IntVal < 0 {
			return 0, fmt.Errorf("must not be negative, got %d", v.IntVal)
		}
		return v.IntVal, nil
	}
	s := strings.TrimSpace(v.StrVal)
	pct, err := strconv.ParseInt(strings.TrimSuffix(s, "%"), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("invalid value %q", v.StrVal)
	}
	if pct < 0 {
		return 0, fmt.Errorf("must not be negative, got %q", v.StrVal)
	}
	n := pct * int64(replicas)
	q := n / 100
	if roundUp && n%100 != 0 {
		q++
	}
	if q > int64(^uint32(0)>>1) {
		return 0, fmt.Errorf("value %q too large", v.StrVal)
	}
	return int32(q), nil
}

// bounds resolves the input's surge and unavailable counts. An unparsable
// value (which admission validation should already reject) falls back to its
// default rather than stalling or over-scaling the rollout; callers that want
// to report it use ResolveSurgeUnavailable directly.
func bounds(in Input, replicas int32) (surge, unavailable int32) {
	ms, mu := in.MaxSurge, in.MaxUnavailable
	if _, err := resolveBound(ms, DefaultMaxSurge, replicas, true); err != nil {
		ms = nil
	}
	if _, err := resolveBound(mu, DefaultMaxUnavailable, replicas, false); err != nil {
		mu = nil
	}
	surge, unavailable, _ = ResolveSurgeUnavailable(ms, mu, replicas)
	return surge, unavailable
}

// WeightFromCounts returns the canary's share of canary+stable Pods as a
// percentage rounded to the nearest integer (halves round up), which is the
// weight a Service-only canary actually achieves; 0 when there are no Pods.
func WeightFromCounts(canary, stable int32) int32 {
	c, s := int64(max(canary, 0)), int64(max(stable, 0))
	total := c + s
	if total == 0 {
		return 0
	}
	return int32((200*c + total) / (2 * total))
}

// clampWeight keeps a traffic weight within 0..100.
func clampWeight(w int32) int32 {
	return min(max(w, 0), 100)
}

// ceilPercent returns ceil(weight% of replicas) for a non-negative weight;
// rounding up guarantees a non-zero weight never maps to zero Pods.
func ceilPercent(replicas, weight int32) int32 {
	n := int64(max(replicas, 0)) * int64(max(weight, 0))
	return int32((n + 99) / 100)
}
