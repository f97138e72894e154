package replicas

// DesiredWeightedCounts returns the canary and stable Pod counts that best
// approximate weight percent of traffic when the Service spreads requests
// evenly over all ready Pods (no traffic router).
//
// The total is either replicas or, when surge > 0, replicas+1: one surge Pod
// can bring the split much closer (5 replicas at 10% gives 1 of 6 rather than
// 1 of 5). For a weight between 1 and 99 neither side is ever left with zero
// Pods unless only a single Pod can exist at all, because an empty side would
// turn a partial weight into 0% or 100%. Among equally close choices the one
// without the extra Pod wins, then the one with more canary Pods.
func DesiredWeightedCounts(replicas, weight, surge int32) (canary, stable int32) {
	if replicas <= 0 {
		return 0, 0
	}
	weight = clampWeight(weight)
	r := int64(replicas)
	totals := []int64{r}
	if surge > 0 {
		totals = append(totals, r+1)
	}
	// With one Pod and no surge, a split is impossible: round to the nearer end.
	emptySideOK := weight == 0 || weight == 100 || (replicas == 1 && surge <= 0)

	bestC, bestT, bestDiff := int64(-1), int64(1), int64(0)
	for _, t := range totals {
		exact := t * int64(weight) // canary Pods ×100
		for _, c := range []int64{(exact + 99) / 100, exact / 100} {
			if !emptySideOK && (c == 0 || c == t) {
				continue
			}
			diff := abs64(100*c - exact) // distance ×100·t
			// Compare diff/t against bestDiff/bestT without division.
			if bestC < 0 || diff*bestT < bestDiff*t {
				bestC, bestT, bestDiff = c, t, diff
			}
		}
	}
	if bestC < 0 {
		// Unreachable for valid inputs; staying on the stable is the safe answer.
		return 0, replicas
	}
	return int32(bestC), int32(bestT - bestC)
}

// BasicCanary computes the next replica counts for a canary Rollout without a
// traffic router, where the weight is made of Pod counts.
//
// Targets come from DesiredWeightedCounts (or all replicas to the canary when
// there is no separate stable; canary 0 and a full stable on abort). Each call
// moves toward them by at most what the Deployment-style bounds allow:
//
//   - scale-ups use only the room below replicas+maxSurge left by the spec
//     counts once this call's scale-downs are made, the stable served first
//     so an abort spends the room on production capacity. As for a
//     Deployment, a Pod that a scale-down leaves terminating does not count,
//     so one call both shrinks one side and grows the other; with Pods set
//     (the strict count) the Pods that still exist bound the room instead;
//   - Pods that are not available are removed freely (down to the target),
//     since losing them costs no availability;
//   - available Pods are removed only while at least replicas-maxUnavailable
//     available Pods remain across all ReplicaSets, older ReplicaSets first,
//     then the side the rollout is moving away from.
//
// setCanaryScale is ignored, as in Argo Rollouts: it only applies with a
// traffic router, because without one the Pod count is the weight.
func BasicCanary(in Input) Result {
	replicas := max(in.Replicas, 0)
	surge, unavailable := bounds(in, replicas)

	weight := clampWeight(in.Weight)
	if in.Aborted {
		weight = 0
	}

	// Working copies: current spec counts, updated as decisions are made.
	canary := max(in.Canary.Replicas, 0)
	var stable int32
	var wantCanary, wantStable int32
	if in.Stable == nil {
		wantCanary = replicas
	} else {
		stable = max(in.Stable.Replicas, 0)
		wantCanary, wantStable = DesiredWeightedCounts(replicas, weight, surge)
	}
	others := make([]int32, len(in.Others))
	for i, o := range in.Others {
		others[i] = max(o.Replicas, 0)
	}

	// Every shrinking ReplicaSet, in the order availability is spent on it:
	// older ReplicaSets first (they are obsolete), then the side the rollout
	// moves away from — the canary when its target dropped (abort, lower
	// weight), otherwise the stable.
	type shrink struct {
		cur   *int32
		want  int32
		state RSState
	}
	var order []shrink
	for i := range others {
		order = append(order, shrink{&others[i], 0, in.Others[i]})
	}
	canaryShrink := shrink{&canary, wantCanary, in.Canary}
	if in.Stable != nil {
		stableShrink := shrink{&stable, wantStable, *in.Stable}
		if wantCanary < max(in.Canary.Replicas, 0) {
			order = append(order, canaryShrink, stableShrink)
		} else {
			order = append(order, stableShrink, canaryShrink)
		}
	} else {
		order = append(order, canaryShrink)
	}

	// Free removals: Pods that are not available. This is what keeps a
	// healthy canary progressing when the stable itself is broken.
	for _, s := range order {
		if *s.cur > s.want {
			*s.cur -= min(*s.cur-s.want, s.state.unavailable())
		}
	}

	// Paid removals: available Pods, bounded by the availability floor. The
	// floor is checked against Pods available now, not ones just created.
	var avail int64
	avail += int64(in.Canary.available())
	if in.Stable != nil {
		avail += int64(in.Stable.available())
	}
	for _, o := range in.Others {
		avail += int64(o.available())
	}
	budget := avail - int64(replicas-unavailable)
	for _, s := range order {
		if budget <= 0 {
			break
		}
		if *s.cur > s.want {
			step := min(int64(*s.cur-s.want), budget)
			*s.cur -= int32(step)
			budget -= step
		}
	}

	// Scale up within the surge room left once the scale-downs above are
	// made: the sum of the ReplicaSets' desired replicas stays within
	// replicas+maxSurge, which is the bound a Deployment keeps. Growing in
	// the same call as the shrink spares the release a round trip per step
	// (the scale-down's watch event, then another decision). A side that
	// grows never also shrinks, so the order does not change what shrinks.
	// Under the strict count in.Pods still includes the Pods just scaled
	// away, which keeps their room closed until they are gone.
	total := int64(canary) + int64(stable)
	for _, o := range others {
		total += int64(o)
	}
	room := int64(replicas) + int64(surge) - max(total, int64(max(in.Pods, 0)))
	grow := func(cur, want int32) int32 {
		if cur >= want || room <= 0 {
			return cur
		}
		step := min(int64(want-cur), room)
		room -= step
		return cur + int32(step)
	}
	if in.Stable != nil {
		stable = grow(stable, wantStable)
	}
	canary = grow(canary, wantCanary)

	return Result{Canary: canary, Stable: stable, Others: others}
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
