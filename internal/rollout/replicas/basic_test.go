package replicas

import (
	"fmt"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func rs(replicas, available int32) RSState { return RSState{Replicas: replicas, Available: available} }
func st(replicas, available int32) *RSState {
	s := rs(replicas, available)
	return &s
}

func TestBasicCanary(t *testing.T) {
	tests := []struct {
		name           string
		in             Input
		canary, stable int32
		others         []int32
	}{
		// Kanaria's users' 5-replica example (maxSurge 1, maxUnavailable 0).
		{"5r w10 first step uses the surge Pod",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 10, Canary: rs(0, 0), Stable: st(5, 5)}, 1, 5, nil},
		{"5r w10 reached",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 10, Canary: rs(1, 1), Stable: st(5, 5)}, 1, 5, nil},
		{"5r w50 from w10: the stable gives up its one spare available Pod, the canary takes its room",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Canary: rs(1, 1), Stable: st(5, 5)}, 2, 4, nil},
		{"5r w50 canary not yet available: hold",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Canary: rs(2, 1), Stable: st(4, 4)}, 2, 4, nil},
		{"5r w50 reached 3/3",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Canary: rs(3, 3), Stable: st(3, 3)}, 3, 3, nil},
		{"5r w100 canary full and available: stable to 0",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 100, Canary: rs(5, 5), Stable: st(1, 1)}, 5, 0, nil},
		{"10r w1 never zero canary Pods",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(1), Weight: 1, Canary: rs(0, 0), Stable: st(9, 9)}, 1, 9, nil},

		// Argo Rollouts' published fixtures. The end states are the
		// reference's; where its first call only scales one side down (it
		// measures the surge room before its scale-downs), Kanaria also
		// grows the other side into the room the scale-down frees, within
		// the same bounds. TestBasicCanaryStrictMatchesOneDirection keeps
		// the reference's first call under the strict count.
		{"surge int scales canary up",
			Input{Replicas: 10, MaxSurge: num(2), MaxUnavailable: num(0), Weight: 20, Stable: st(10, 10)}, 2, 10, nil},
		{"surge percent scales canary up",
			Input{Replicas: 10, MaxSurge: str("20%"), MaxUnavailable: num(0), Weight: 20, Stable: st(10, 10)}, 2, 10, nil},
		{"scale down extra stable",
			Input{Replicas: 10, MaxSurge: str("20%"), MaxUnavailable: num(0), Weight: 20, Canary: rs(2, 2), Stable: st(10, 10)}, 2, 8, nil},
		{"do not go past max surge",
			Input{Replicas: 10, MaxSurge: num(2), MaxUnavailable: num(0), Weight: 30, Stable: st(10, 10)}, 2, 10, nil},
		{"max unavailable int scales stable down, canary into its room",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(2), Weight: 20, Stable: st(10, 10)}, 2, 8, nil},
		{"max unavailable percent scales stable down, canary into its room",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: str("20%"), Weight: 20, Stable: st(10, 10)}, 2, 8, nil},
		{"do not go past max unavailable",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(2), Weight: 30, Stable: st(10, 10)}, 2, 8, nil},
		{"surge and unavailable together",
			Input{Replicas: 10, MaxSurge: num(2), MaxUnavailable: num(1), Weight: 50, Stable: st(10, 10)}, 3, 9, nil},
		{"weight 0 scales canary to zero",
			Input{Replicas: 10, MaxSurge: num(1), MaxUnavailable: num(1), Weight: 0, Canary: rs(1, 1), Stable: st(10, 10)}, 0, 10, nil},
		{"weight 100 scales stable to zero",
			Input{Replicas: 10, MaxSurge: num(1), MaxUnavailable: num(1), Weight: 100, Canary: rs(10, 10), Stable: st(1, 1)}, 10, 0, nil},
		{"1 replica w20 keeps one canary Pod",
			Input{Replicas: 1, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 20, Stable: st(1, 1)}, 1, 1, nil},
		{"1 replica w90 keeps one stable Pod",
			Input{Replicas: 1, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 90, Stable: st(1, 1)}, 1, 1, nil},
		{"scale up stable before canary, older RS kept while unavailable floor not met",
			Input{Replicas: 10, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 30, Stable: st(1, 1), Others: []RSState{rs(3, 3)}}, 1, 7, []int32{3}},
		{"scale down canary and stable",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(3), Weight: 30, Canary: rs(4, 4), Stable: st(8, 5)}, 3, 7, nil},
		{"uneven weight does not round past maxSurge",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(1), Weight: 5, Stable: st(10, 10)}, 1, 9, nil},
		{"uneven weight part 2",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(1), Weight: 5, Stable: st(9, 9)}, 1, 9, nil},
		{"0%/0% resolves unavailable to 1",
			Input{Replicas: 10, MaxSurge: str("0%"), MaxUnavailable: str("0%"), Weight: 10, Stable: st(10, 10)}, 1, 9, nil},
		{"setCanaryScale ignored without a router",
			Input{Replicas: 10, MaxSurge: str("20%"), MaxUnavailable: num(0), Weight: 20, Stable: st(10, 10), CanaryScale: &Scale{Replicas: i32(9)}}, 2, 10, nil},
		{"3r w99 scale down to maxUnavailable within surge 0",
			Input{Replicas: 3, MaxSurge: num(0), MaxUnavailable: num(2), Weight: 99, Stable: st(3, 3)}, 2, 1, nil},
		{"3r w99 part 2",
			Input{Replicas: 3, MaxSurge: num(0), MaxUnavailable: num(2), Weight: 99, Stable: st(1, 1)}, 2, 1, nil},
		{"spec below available: surplus not counted",
			Input{Replicas: 10, MaxSurge: num(3), MaxUnavailable: num(0), Weight: 100, Canary: rs(6, 3), Stable: st(7, 8)}, 6, 7, nil},
		{"weight lowered: stable surges first",
			Input{Replicas: 4, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 0, Canary: rs(4, 4), Stable: st(0, 0)}, 4, 1, nil},
		{"weight lowered: wait for new stable Pod",
			Input{Replicas: 4, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 0, Canary: rs(4, 4), Stable: st(1, 0)}, 4, 1, nil},
		{"weight lowered: canary shrinks by one, stable grows into its room",
			Input{Replicas: 4, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 0, Canary: rs(4, 4), Stable: st(1, 1)}, 3, 2, nil},
		{"no separate stable: canary takes all replicas",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(1), Weight: 10, Canary: rs(9, 9)}, 10, 0, nil},

		// Percent bounds and sizes.
		{"defaults 25%/25%, 4r w50 from scratch",
			Input{Replicas: 4, Weight: 50, Stable: st(4, 4)}, 2, 3, nil},
		{"33% surge, 10r w33",
			Input{Replicas: 10, MaxSurge: str("33%"), MaxUnavailable: num(0), Weight: 33, Stable: st(10, 10)}, 3, 10, nil},
		{"33% surge, 10r w33 canary available",
			Input{Replicas: 10, MaxSurge: str("33%"), MaxUnavailable: num(0), Weight: 33, Canary: rs(3, 3), Stable: st(10, 10)}, 3, 7, nil},
		{"100r 25%/25% w1",
			Input{Replicas: 100, Weight: 1, Stable: st(100, 100)}, 1, 99, nil},
		{"100r 25%/25% w99 first call",
			Input{Replicas: 100, Weight: 99, Stable: st(100, 100)}, 50, 75, nil},
		{"2r w50 surge 1",
			Input{Replicas: 2, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Stable: st(2, 2)}, 1, 2, nil},
		{"2r w50 surge 1 canary available",
			Input{Replicas: 2, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Canary: rs(1, 1), Stable: st(2, 2)}, 1, 1, nil},
		{"0 replicas scales everything away",
			Input{Replicas: 0, Weight: 50, Canary: rs(2, 2), Stable: st(3, 3), Others: []RSState{rs(1, 1)}}, 0, 0, []int32{0}},

		// Older ReplicaSets.
		{"older RS scaled down before stable",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 100, Canary: rs(5, 4), Stable: st(1, 1), Others: []RSState{rs(2, 2)}}, 5, 1, []int32{0}},
		{"older RS unavailable Pods removed for free",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 10, Canary: rs(1, 1), Stable: st(5, 5), Others: []RSState{rs(3, 0)}}, 1, 5, []int32{0}},
		{"older RS available counts toward the floor",
			Input{Replicas: 5, MaxSurge: num(0), MaxUnavailable: num(1), Weight: 0, Stable: st(3, 3), Others: []RSState{rs(3, 3)}}, 0, 4, []int32{1}},
		{"no stable: older RS drained like a Deployment",
			Input{Replicas: 4, MaxSurge: num(1), MaxUnavailable: num(1), Canary: rs(2, 2), Others: []RSState{rs(3, 3)}}, 4, 0, []int32{1}},

		// Replicas changed mid-step.
		{"HPA scales 5 to 10 at w50",
			Input{Replicas: 10, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Canary: rs(3, 3), Stable: st(3, 3)}, 5, 5, nil},
		{"kubectl scale 5 to 2 at w50",
			Input{Replicas: 2, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Canary: rs(3, 3), Stable: st(3, 3)}, 1, 1, nil},

		// Abort.
		{"abort: canary shrinks within budget, stable grows into its room",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Aborted: true, Canary: rs(3, 3), Stable: st(3, 3)}, 2, 4, nil},
		{"abort: stable scaled up first",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Aborted: true, Canary: rs(2, 2), Stable: st(3, 3)}, 2, 4, nil},
		{"abort: canary never available goes to zero at once",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 10, Aborted: true, Canary: rs(1, 0), Stable: st(5, 5)}, 0, 5, nil},
		{"abort: unavailable canary Pods go, available ones wait",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Aborted: true, Canary: rs(3, 1), Stable: st(4, 4)}, 1, 5, nil},
		{"abort ignores weight 100",
			Input{Replicas: 4, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 100, Aborted: true, Canary: rs(4, 4), Stable: st(1, 1)}, 3, 2, nil},

		// Broken stable (upstream got stuck here).
		{"stable 5 of which 2 available: canary surges, broken stable Pods dropped",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 100, Stable: st(5, 2)}, 4, 2, nil},
		{"broken stable 4/1 with canary 1 available",
			Input{Replicas: 4, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 100, Canary: rs(1, 1), Stable: st(4, 1)}, 4, 1, nil},
		{"broken stable, mostly-available canary over cap",
			Input{Replicas: 10, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 100, Canary: rs(10, 8), Stable: st(10, 2)}, 10, 2, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := BasicCanary(tc.in)
			if got.Canary != tc.canary || got.Stable != tc.stable {
				t.Fatalf("got canary %d stable %d, want %d %d", got.Canary, got.Stable, tc.canary, tc.stable)
			}
			if len(got.Others) != len(tc.in.Others) {
				t.Fatalf("Others has %d entries for %d inputs", len(got.Others), len(tc.in.Others))
			}
			if tc.others != nil && !slices.Equal(got.Others, tc.others) {
				t.Fatalf("got others %v, want %v", got.Others, tc.others)
			}
		})
	}
}

// simRS is a ReplicaSet in the simulation. healthy caps how many of its Pods
// can ever become available (-1: all), modelling a broken image or config.
type simRS struct {
	spec, avail, healthy int32
}

func (s *simRS) state() RSState { return RSState{Replicas: s.spec, Available: s.avail} }

// scaleTo applies a new spec count. Scaling down removes not-available Pods
// first, as the ReplicaSet controller does; new Pods start unavailable.
func (s *simRS) scaleTo(n int32) {
	s.spec = n
	s.avail = min(s.avail, n)
}

// becomeReady makes every Pod that can be available, available.
func (s *simRS) becomeReady() {
	s.avail = s.spec
	if s.healthy >= 0 {
		s.avail = min(s.spec, s.healthy)
		s.healthy = min(s.healthy, s.spec) // deleted healthy Pods do not come back healthy
	}
}

type world struct {
	replicas           int32
	surge, unavailable *intstr.IntOrString
	canary, stable     simRS
	others             []simRS
	// strict passes the Pods that exist (Input.Pods), as the strict surge
	// count does; the simulation's removed Pods are gone by the next call.
	strict bool
}

// drive calls BasicCanary until it asks for no change, checking after every
// call that the ReplicaSets' desired replicas never add up to more than
// replicas+surge (in strict mode: that no more Pods than that exist, old
// ones still terminating included) and available Pods never drop below
// replicas-maxUnavailable (or, if they already were below, never drop
// further). It returns the number of calls.
func (w *world) drive(t *testing.T, weight int32, aborted bool) int {
	t.Helper()
	surge, unav := bounds(Input{MaxSurge: w.surge, MaxUnavailable: w.unavailable}, w.replicas)
	maxPods := int64(w.replicas + surge)
	floor := int64(w.replicas - unav)
	for call := 1; call <= 500; call++ {
		in := Input{Replicas: w.replicas, MaxSurge: w.surge, MaxUnavailable: w.unavailable,
			Weight: weight, Aborted: aborted, Canary: w.canary.state()}
		stable := w.stable.state()
		in.Stable = &stable
		all := []*simRS{&w.canary, &w.stable}
		for i := range w.others {
			in.Others = append(in.Others, w.others[i].state())
			all = append(all, &w.others[i])
		}
		if w.strict {
			for _, r := range all {
				in.Pods += r.spec
			}
		}
		res := BasicCanary(in)
		next := append([]int32{res.Canary, res.Stable}, res.Others...)

		var before, desired, peak, availBefore, availAfter int64
		changed := false
		for i, r := range all {
			before += int64(r.spec)
			desired += int64(next[i])
			peak += int64(max(r.spec, next[i])) // old Pods may still be terminating
			availBefore += int64(r.avail)
			availAfter += int64(min(r.avail, next[i]))
			changed = changed || r.spec != next[i]
		}
		if before <= maxPods && desired > maxPods {
			t.Fatalf("call %d: desired replicas add up to %d, max %d (%+v -> %v)", call, desired, maxPods, in, next)
		}
		if w.strict && before <= maxPods && peak > maxPods {
			t.Fatalf("call %d: %d Pods exist, max %d (%+v -> %v)", call, peak, maxPods, in, next)
		}
		if availAfter < min(floor, availBefore) {
			t.Fatalf("call %d: available drops to %d, floor %d (%+v -> %v)", call, availAfter, floor, in, next)
		}
		if !changed {
			return call
		}
		for i, r := range all {
			r.scaleTo(next[i])
		}
		for _, r := range all {
			r.becomeReady()
		}
	}
	t.Fatalf("no fixed point after 500 calls: livelock")
	return 0
}

func (w *world) expect(t *testing.T, canary, stable int32) {
	t.Helper()
	if w.canary.spec != canary || w.stable.spec != stable {
		t.Fatalf("ended at canary %d stable %d, want %d %d", w.canary.spec, w.stable.spec, canary, stable)
	}
	for i, o := range w.others {
		if o.spec != 0 {
			t.Fatalf("older RS %d still has %d replicas", i, o.spec)
		}
	}
}

func TestSimulationFiveReplicas(t *testing.T) {
	w := &world{replicas: 5, surge: num(1), unavailable: num(0),
		stable: simRS{5, 5, -1}, canary: simRS{0, 0, -1}}
	w.drive(t, 10, false)
	w.expect(t, 1, 5)
	w.drive(t, 50, false)
	w.expect(t, 3, 3)
	w.drive(t, 100, false)
	w.expect(t, 5, 0)
}

// TestSimulationAllShapes runs every step sequence from a full stable for
// many sizes and bounds, then aborts back, asserting the invariants on every
// intermediate state and that each target is reached.
func TestSimulationAllShapes(t *testing.T) {
	bounds := []struct{ surge, unav *intstr.IntOrString }{
		{num(1), num(0)}, {num(0), num(1)}, {nil, nil}, {str("33%"), num(0)},
		{str("25%"), str("33%")}, {num(2), num(2)}, {str("0%"), str("0%")}, {num(0), str("100%")},
	}
	for _, replicas := range []int32{1, 2, 3, 5, 10, 100} {
		for _, b := range bounds {
			for _, strict := range []bool{false, true} {
				surge, _ := resolveOrZero(b.surge, b.unav, replicas)
				name := fmt.Sprintf("r%d_surge%v_unav%v_strict%v", replicas, b.surge, b.unav, strict)
				t.Run(name, func(t *testing.T) {
					w := &world{replicas: replicas, surge: b.surge, unavailable: b.unav,
						stable: simRS{replicas, replicas, -1}, canary: simRS{0, 0, -1},
						others: []simRS{{1, 1, -1}}, strict: strict}
					for _, weight := range []int32{1, 10, 33, 50, 99} {
						w.drive(t, weight, false)
						c, s := DesiredWeightedCounts(replicas, weight, surge)
						w.expect(t, c, s)
					}
					w.drive(t, 0, true)
					w.expect(t, 0, replicas)
					for _, weight := range []int32{50, 100} {
						w.drive(t, weight, false)
						c, s := DesiredWeightedCounts(replicas, weight, surge)
						w.expect(t, c, s)
					}
				})
			}
		}
	}
}

func resolveOrZero(s, u *intstr.IntOrString, r int32) (int32, int32) {
	surge, unav, err := ResolveSurgeUnavailable(s, u, r)
	if err != nil {
		return 0, 0
	}
	return surge, unav
}

// TestSimulationBrokenStable is the upstream bug Kanaria must not have: the
// stable has 5 replicas but only 2 can be available, and a healthy canary
// must still reach every target and complete.
func TestSimulationBrokenStable(t *testing.T) {
	for _, weight := range []int32{10, 50, 100} {
		t.Run(fmt.Sprint(weight), func(t *testing.T) {
			w := &world{replicas: 5, surge: num(1), unavailable: num(0),
				stable: simRS{5, 2, 2}, canary: simRS{0, 0, -1}}
			w.drive(t, weight, false)
			c, s := DesiredWeightedCounts(5, weight, 1)
			w.expect(t, c, s)
			w.drive(t, 100, false)
			w.expect(t, 5, 0)
		})
	}
}

// TestSimulationAbortWithBrokenCanary checks an abort takes effect when the
// canary never became available (e.g. image pull failure).
func TestSimulationAbortWithBrokenCanary(t *testing.T) {
	w := &world{replicas: 5, surge: num(1), unavailable: num(0),
		stable: simRS{5, 5, -1}, canary: simRS{0, 0, 0}}
	w.drive(t, 50, false) // canary gets stuck at the surge Pod
	if w.canary.spec != 1 || w.stable.spec != 5 {
		t.Fatalf("broken canary progressed: %d/%d", w.canary.spec, w.stable.spec)
	}
	if calls := w.drive(t, 50, true); calls != 2 {
		t.Fatalf("abort took %d calls, want 1 change", calls)
	}
	w.expect(t, 0, 5)
}

// TestSimulationReplicasChangeMidStep rescales while a step is in flight.
func TestSimulationReplicasChangeMidStep(t *testing.T) {
	w := &world{replicas: 5, surge: num(1), unavailable: num(0),
		stable: simRS{5, 5, -1}, canary: simRS{0, 0, -1}}
	w.drive(t, 50, false)
	w.replicas = 10
	w.drive(t, 50, false)
	w.expect(t, 5, 5)
	w.replicas = 3
	w.drive(t, 50, false)
	w.expect(t, 2, 2)
}

// TestBasicCanaryLeavesRoomForTerminatingPods: right after the stable was
// scaled from 5 to 4, its fifth Pod still terminates; the canary must not
// grow into that room until the Pod is gone.
func TestBasicCanaryLeavesRoomForTerminatingPods(t *testing.T) {
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	in := Input{
		Replicas: 5, MaxSurge: &one, MaxUnavailable: &zero, Weight: 50,
		Canary: RSState{Replicas: 1, Available: 1}, Stable: &RSState{Replicas: 4, Available: 4},
	}
	in.Pods = 6
	if got := BasicCanary(in); got.Canary != 1 {
		t.Fatalf("with a Pod still terminating the canary grew to %d", got.Canary)
	}
	in.Pods = 5
	if got := BasicCanary(in); got.Canary != 2 {
		t.Fatalf("once the Pod is gone the canary is %d, want 2", got.Canary)
	}
}

// TestBasicCanaryStrictMatchesOneDirection: under the strict count the Pods
// a scale-down leaves behind still exist when the next call comes, so the
// room they free is not reused in the same call and each call moves one
// direction, as the reference's first call does.
func TestBasicCanaryStrictMatchesOneDirection(t *testing.T) {
	tests := []struct {
		name           string
		in             Input
		canary, stable int32
	}{
		{"5r w50 from w10",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Canary: rs(1, 1), Stable: st(5, 5)}, 1, 4},
		{"max unavailable int scales stable down",
			Input{Replicas: 10, MaxSurge: num(0), MaxUnavailable: num(2), Weight: 20, Stable: st(10, 10)}, 0, 8},
		{"2r w75 from w25",
			Input{Replicas: 2, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 75, Canary: rs(1, 1), Stable: st(2, 2)}, 1, 1},
		{"abort at the cap",
			Input{Replicas: 5, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 50, Aborted: true, Canary: rs(3, 3), Stable: st(3, 3)}, 2, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Pods = in.Canary.Replicas + in.Stable.Replicas
			got := BasicCanary(in)
			if got.Canary != tc.canary || got.Stable != tc.stable {
				t.Fatalf("strict: got canary %d stable %d, want %d %d", got.Canary, got.Stable, tc.canary, tc.stable)
			}
		})
	}
}

// TestBasicCanaryGrowsIntoRoomItFrees is the benchmark's 75% step (2
// replicas, maxSurge 1): from 1 canary and 2 stable Pods, all available,
// one call gives up a stable Pod and adds the canary Pod, the desired
// replicas staying at 3 and the available ones at 3 until the new Pod is up.
func TestBasicCanaryGrowsIntoRoomItFrees(t *testing.T) {
	in := Input{Replicas: 2, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 75, Canary: rs(1, 1), Stable: st(2, 2)}
	got := BasicCanary(in)
	if got.Canary != 2 || got.Stable != 1 {
		t.Fatalf("got canary %d stable %d, want 2 1", got.Canary, got.Stable)
	}
	// Not yet available: the stable keeps its last Pod.
	in = Input{Replicas: 2, MaxSurge: num(1), MaxUnavailable: num(0), Weight: 75, Canary: rs(1, 0), Stable: st(2, 2)}
	if got := BasicCanary(in); got.Canary != 1 || got.Stable != 2 {
		t.Fatalf("canary not available: got canary %d stable %d, want 1 2", got.Canary, got.Stable)
	}
}
