package shard

import (
	"reflect"
	"testing"
)

func members(ids ...string) []Member {
	out := make([]Member, len(ids))
	for i, id := range ids {
		out[i] = Member{ID: id, Home: -1}
	}
	return out
}

func TestDecide(t *testing.T) {
	held := func(who string) LeaseView { return LeaseView{Holder: who, Shards: 2} }
	for _, c := range []struct {
		name string
		view View
		want Plan
	}{{
		name: "first start with homes takes the home only",
		view: View{Shards: 2, Me: "a", Home: 0, Members: []Member{{"a", 0}, {"b", 1}}},
		want: Plan{Hold: []int{0}, Acquire: []int{0}, Share: 1},
	}, {
		name: "the other replica takes its own home",
		view: View{Shards: 2, Me: "b", Home: 1, Members: []Member{{"a", 0}, {"b", 1}}},
		want: Plan{Hold: []int{1}, Acquire: []int{1}, Share: 1},
	}, {
		name: "without homes replicas reach for different shards by rank",
		view: View{Shards: 4, Me: "b", Home: -1, Members: members("a", "b")},
		want: Plan{Hold: []int{2, 3}, Acquire: []int{2, 3}, Share: 2},
	}, {
		name: "the lowest rank starts at shard 0",
		view: View{Shards: 4, Me: "a", Home: -1, Members: members("a", "b")},
		want: Plan{Hold: []int{0, 1}, Acquire: []int{0, 1}, Share: 2},
	}, {
		name: "holding its share it renews and takes nothing",
		view: View{Shards: 2, Me: "a", Home: 0, Members: []Member{{"a", 0}, {"b", 1}},
			Leases: map[int]LeaseView{0: held("a"), 1: held("b")}},
		want: Plan{Hold: []int{0}, Share: 1},
	}, {
		name: "a dead replica's expired shard is taken over",
		view: View{Shards: 2, Me: "b", Home: 1, Members: []Member{{"b", 1}},
			Leases: map[int]LeaseView{0: {Holder: "a", Expired: true, Shards: 2}, 1: held("b")}},
		want: Plan{Hold: []int{0, 1}, Acquire: []int{0}, Share: 2},
	}, {
		name: "a shard still held by a silent replica is not taken before it expires",
		view: View{Shards: 2, Me: "b", Home: 1, Members: []Member{{"b", 1}},
			Leases: map[int]LeaseView{0: held("a"), 1: held("b")}},
		want: Plan{Hold: []int{1}, Share: 2},
	}, {
		name: "a released shard is free at once",
		view: View{Shards: 2, Me: "b", Home: 1, Members: []Member{{"b", 1}},
			Leases: map[int]LeaseView{0: {Holder: ""}, 1: held("b")}},
		want: Plan{Hold: []int{0, 1}, Acquire: []int{0}, Share: 2},
	}, {
		name: "the home replica comes back: its shard is handed back",
		view: View{Shards: 2, Me: "b", Home: 1, Members: []Member{{"a", 0}, {"b", 1}},
			Leases: map[int]LeaseView{0: held("b"), 1: held("b")}},
		want: Plan{Hold: []int{1}, Release: []int{0}, Share: 1},
	}, {
		name: "the returning replica waits while its home is still held",
		view: View{Shards: 2, Me: "a", Home: 0, Members: []Member{{"a", 0}, {"b", 1}},
			Leases: map[int]LeaseView{0: held("b"), 1: held("b")}},
		want: Plan{Share: 1},
	}, {
		name: "a replica above its share hands back the extra shards",
		view: View{Shards: 3, Me: "a", Home: -1, Members: members("a", "b", "c"),
			Leases: map[int]LeaseView{0: held("a"), 1: held("a"), 2: held("a")}},
		want: Plan{Hold: []int{0}, Release: []int{1, 2}, Share: 1},
	}, {
		name: "a new replica without home takes a free shard, not a held one",
		view: View{Shards: 3, Me: "c", Home: -1, Members: members("a", "b", "c"),
			Leases: map[int]LeaseView{0: held("a"), 1: held("b"), 2: {Holder: ""}}},
		want: Plan{Hold: []int{2}, Acquire: []int{2}, Share: 1},
	}, {
		name: "a free shard that is a live replica's home is left to it",
		view: View{Shards: 2, Me: "b", Home: 1, Members: []Member{{"a", 0}, {"b", 1}},
			Leases: map[int]LeaseView{1: held("b")}},
		want: Plan{Hold: []int{1}, Share: 1},
	}, {
		name: "two replicas with the same home: the holder keeps it",
		view: View{Shards: 2, Me: "a", Home: 0, Members: []Member{{"a", 0}, {"c", 0}},
			Leases: map[int]LeaseView{0: held("a")}},
		want: Plan{Hold: []int{0}, Share: 1},
	}, {
		name: "the other replica with that home takes the remaining shard",
		view: View{Shards: 2, Me: "c", Home: 0, Members: []Member{{"a", 0}, {"c", 0}},
			Leases: map[int]LeaseView{0: held("a")}},
		want: Plan{Hold: []int{1}, Acquire: []int{1}, Share: 1},
	}, {
		name: "a live replica with another shard count blocks taking anything",
		view: View{Shards: 4, Me: "a", Home: 0, Members: members("a"), Foreign: true,
			Leases: map[int]LeaseView{0: {Holder: "a", Shards: 4}}},
		want: Plan{Hold: []int{0}, Share: 4},
	}, {
		name: "a home beyond the shard count counts as none",
		view: View{Shards: 2, Me: "a", Home: 5, Members: []Member{{"a", 5}}},
		want: Plan{Hold: []int{0, 1}, Acquire: []int{0, 1}, Share: 2},
	}, {
		name: "one shard: the single Lease goes to one replica",
		view: View{Shards: 1, Me: "b", Home: -1, Members: members("a", "b"),
			Leases: map[int]LeaseView{0: held("a")}},
		want: Plan{Share: 1},
	}} {
		t.Run(c.name, func(t *testing.T) {
			if got := Decide(c.view); !reflect.DeepEqual(got, c.want) {
				t.Errorf("Decide = %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestDecideConverges plays replicas that see each other's writes after
// every pass and checks that each shard ends held exactly once, with at
// most the share each, after a start, a death and a return.
func TestDecideConverges(t *testing.T) {
	const n = 5
	leases := map[int]LeaseView{}
	type replica struct {
		id   string
		home int
	}
	step := func(live []replica) {
		ms := make([]Member, len(live))
		for i, r := range live {
			ms[i] = Member{ID: r.id, Home: r.home}
		}
		for _, r := range live {
			p := Decide(View{Shards: n, Me: r.id, Home: r.home, Leases: leases, Members: ms})
			for _, k := range p.Release {
				leases[k] = LeaseView{}
			}
			for _, k := range p.Acquire {
				if l, ok := leases[k]; !ok || l.Holder == "" || l.Expired {
					leases[k] = LeaseView{Holder: r.id, Shards: n}
				}
			}
		}
	}
	check := func(live []replica, what string) {
		count := map[string]int{}
		for k := 0; k < n; k++ {
			l := leases[k]
			if l.Holder == "" || l.Expired {
				t.Fatalf("%s: shard %d not held: %+v", what, k, leases)
			}
			count[l.Holder]++
		}
		share := (n + len(live) - 1) / len(live)
		for _, r := range live {
			if count[r.id] > share {
				t.Fatalf("%s: %s holds %d shards, share %d: %+v", what, r.id, count[r.id], share, leases)
			}
		}
	}
	all := []replica{{"r0", 0}, {"r1", 1}, {"r2", -1}}
	for i := 0; i < 6; i++ {
		step(all)
	}
	check(all, "after start")
	// r1 dies: its Leases expire.
	for k, l := range leases {
		if l.Holder == "r1" {
			leases[k] = LeaseView{Holder: "r1", Expired: true, Shards: n}
		}
	}
	two := []replica{all[0], all[2]}
	for i := 0; i < 6; i++ {
		step(two)
	}
	check(two, "after r1 died")
	for i := 0; i < 6; i++ {
		step(all)
	}
	check(all, "after r1 came back")
	if leases[1].Holder != "r1" {
		t.Fatalf("r1 did not get its home back: %+v", leases)
	}
}
