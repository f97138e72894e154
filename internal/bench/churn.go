package bench

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// AnnotationRound is the pod-template annotation each churn round sets to
// its number. A new value makes a new pod-template-hash every round, so
// each round is a revision the controller has never seen, where swapping
// back and forth between two images would revisit two ReplicaSets and hide
// any state that grows per revision.
const AnnotationRound = "kanaria.dev/bench-round"

// churn releases all Rollouts again and again until cfg.Churn has passed,
// finishing the round in progress, and records the controller's memory
// and CPU after every round.
func (x *run) churn(ctx context.Context) error {
	c := &Churn{
		RequestedSeconds: x.cfg.Churn.Seconds(),
		Change:           fmt.Sprintf("pod-template annotation %s set to the round number", AnnotationRound),
		Rounds:           []ChurnRound{},
	}
	x.res.Churn = c
	x.logf("churn: releasing all %d Rollouts round after round for %s", len(x.rollouts), x.cfg.Churn)
	start, measured := x.sampleProc(ctx)
	if measured {
		c.Controller = &ChurnUsage{RSSStartBytes: start.rss, RSSEndBytes: start.rss, HWMBytes: start.hwm,
			AnonStartBytes: start.anon, AnonEndBytes: start.anon}
		if rt := x.readRuntimeMemory(ctx); rt != nil {
			c.Controller.HeapLiveStartBytes, c.Controller.HeapLiveEndBytes = rt.HeapLiveBytes, rt.HeapLiveBytes
		}
		x.note(memoryNote())
	}
	begin := x.clock.Now()
	for round := 1; x.clock.Now().Sub(begin) < x.cfg.Churn; round++ {
		p, err := x.churnRound(ctx, round)
		if p.Interrupted {
			c.Rounds = append(c.Rounds, ChurnRound{Round: round, Seconds: p.Seconds, Completions: p.Completions,
				Latency: p.Latency, Interrupted: true})
			c.Seconds = x.clock.Now().Sub(begin).Seconds()
		}
		if err != nil {
			return err
		}
		r := ChurnRound{Round: round, Seconds: p.Seconds, Completions: p.Completions, Latency: p.Latency}
		if pt, ok := x.sampleProc(ctx); ok && measured {
			r.Controller = &RoundUsage{RSSBytes: pt.rss, AnonBytes: pt.anon, CPUSeconds: pt.cpu - start.cpu}
			if rt := x.readRuntimeMemory(ctx); rt != nil {
				r.Controller.HeapLiveBytes = rt.HeapLiveBytes
			}
			c.Controller.update(r.Controller, pt.hwm)
		}
		c.Rounds = append(c.Rounds, r)
		elapsed := x.clock.Now().Sub(begin)
		c.Seconds = elapsed.Seconds()
		x.logf("churn: round %d done, %s of %s%s", round, elapsed.Round(time.Second), x.cfg.Churn, usageSuffix(r.Controller))
	}
	x.logf("churn: %d rounds in %s", len(c.Rounds), time.Duration(c.Seconds*float64(time.Second)).Round(time.Second))
	return nil
}

// update makes u end at the round just measured.
func (u *ChurnUsage) update(r *RoundUsage, hwm int64) {
	u.RSSEndBytes = r.RSSBytes
	u.AnonEndBytes = r.AnonBytes
	u.HeapLiveEndBytes = r.HeapLiveBytes
	u.HWMBytes = max(u.HWMBytes, hwm)
	u.CPUSeconds = r.CPUSeconds
	u.GrowthBytes, u.GrowthPercent = growth(u.RSSStartBytes, u.RSSEndBytes)
}

// usageSuffix is the controller's part of a round's progress line.
func usageSuffix(u *RoundUsage) string {
	if u == nil {
		return ""
	}
	heap := ""
	if u.HeapLiveBytes > 0 {
		heap = ", heap live " + iec(float64(u.HeapLiveBytes))
	}
	return fmt.Sprintf(", controller RSS %s, RssAnon %s%s, %.2f CPU seconds since the churn started",
		iec(float64(u.RSSBytes)), iec(float64(u.AnonBytes)), heap, u.CPUSeconds)
}

// churnRound sets every Rollout's round annotation and waits until each is
// Healthy on a revision other than the one it was Healthy on before.
func (x *run) churnRound(ctx context.Context, round int) (Phase, error) {
	value := strconv.Itoa(round)
	// The revision each Rollout left the previous round on; revHash itself
	// moves on as Rollouts finish this round.
	prev := maps.Clone(x.revHash)
	return x.measure(ctx, phaseSpec{
		name: "churn round " + value, workload: "Rollout", waited: "Healthy", names: x.rollouts,
		act: func(ctx context.Context) (map[string]time.Time, error) {
			return nil, x.forEach(ctx, x.rollouts, func(ctx context.Context, name string) error {
				return x.patchRound(ctx, name, value)
			})
		},
		poll: x.pollRollouts(func(ro *v1alpha1.Rollout) bool {
			ok := ro.Spec.Template.Annotations[AnnotationRound] == value &&
				ro.Status.CurrentPodHash != prev[ro.Name] && rolloutHealthy(ro)
			if ok {
				// Polls run one at a time, so no lock is needed.
				x.revHash[ro.Name] = ro.Status.StableRS
			}
			return ok
		}),
	})
}

// patchRound sets one Rollout's round annotation. A merge patch creates the
// annotations map when the template has none, which a JSON patch cannot.
func (x *run) patchRound(ctx context.Context, name, value string) error {
	ro := &v1alpha1.Rollout{}
	ro.SetName(name)
	ro.SetNamespace(x.cfg.Namespace)
	if err := x.Client.Patch(ctx, ro, client.RawPatch(types.MergePatchType, roundPatch(value))); err != nil {
		return fmt.Errorf("changing the template of %s: %w", name, err)
	}
	return nil
}

// roundPatch sets the pod-template annotation AnnotationRound to value.
func roundPatch(value string) []byte {
	return fmt.Appendf(nil, `{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, AnnotationRound, value)
}

// churnRowsAll is how many rounds the table prints in full; beyond it,
// churnRows picks a few.
const churnRowsAll = 15

// churnRows returns which of rounds 1..n the table prints: all of a short
// churn; of a long one the first 3, every 10th and the last 3, enough to
// see a trend without hundreds of rows (--json has them all).
func churnRows(n int) []int {
	var out []int
	for r := 1; r <= n; r++ {
		if n <= churnRowsAll || r <= 3 || r%10 == 0 || r > n-3 {
			out = append(out, r)
		}
	}
	return out
}
