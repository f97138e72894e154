package shard

import "sort"

// LeaseView is what a replica knows of one shard's Lease.
type LeaseView struct {
	// Holder is the replica that holds it; empty when released.
	Holder string
	// Expired is true when the holder has not renewed it within its lease
	// duration, as the observing replica's own clock measured.
	Expired bool
	// Shards is the shard count the holder runs with.
	Shards int
}

// Member is a live replica, as its own presence Lease announces it.
type Member struct {
	// ID is the replica's identity, the holder name it writes on Leases.
	ID string
	// Home is the shard it prefers, -1 for none.
	Home int
}

// View is a replica's snapshot of the shard Leases and the live replicas.
type View struct {
	// Shards is this replica's shard count.
	Shards int
	// Me is this replica's identity; Members must include it.
	Me string
	// Home is this replica's home shard, -1 for none.
	Home int
	// Leases are the shard Leases by shard; a missing shard has no Lease yet.
	Leases map[int]LeaseView
	// Foreign is true when some live Lease belongs to a replica running with
	// another shard count: its shards cover other buckets, so nothing new is
	// taken until it is gone.
	Foreign bool
	// Members are the live replicas.
	Members []Member
}

// Plan is what a replica does with the shard Leases in one pass.
type Plan struct {
	// Hold are the shards to hold after the pass (kept and acquired), ascending.
	Hold []int
	// Acquire are the free shards to take, ascending.
	Acquire []int
	// Release are the held shards to hand back, ascending.
	Release []int
	// Share is the most shards this replica keeps.
	Share int
}

// Decide plans one pass. A replica keeps or takes its home shard, hands a
// shard back to a live replica whose home it is, keeps at most
// ceil(shards/live replicas) and takes free shards (released, expired or never
// held) up to that share, its home first and then from an offset given by its
// rank among the live replicas. Every
// live replica applying it to the same view converges on each shard held
// once.
func Decide(v View) Plan {
	n := v.Shards
	live := len(v.Members)
	if live < 1 {
		live = 1
	}
	share := (n + live - 1) / live
	homeOfOther := map[int]bool{}
	for _, m := range v.Members {
		if m.ID != v.Me && m.Home >= 0 && m.Home < n {
			homeOfOther[m.Home] = true
		}
	}
	myHome := v.Home
	if myHome >= n {
		myHome = -1
	}
	// After its home, a replica looks first at the shards from its rank
	// among the live replicas times its share: replicas starting together
	// with the same view then reach for different shards.
	rank := 0
	for _, m := range v.Members {
		if m.ID < v.Me {
			rank++
		}
	}
	order := make([]int, 0, n)
	if myHome >= 0 {
		order = append(order, myHome)
	}
	for i := 0; i < n; i++ {
		if k := (rank*share + i) % n; k != myHome {
			order = append(order, k)
		}
	}
	// A shard another live replica calls home goes to that replica, unless
	// it is this replica's home too.
	yields := func(k int) bool { return k != myHome && homeOfOther[k] }

	var p Plan
	p.Share = share
	held := map[int]bool{}
	for _, k := range order {
		l, ok := v.Leases[k]
		if !ok || l.Holder != v.Me || l.Expired {
			continue
		}
		if yields(k) || len(held) >= share {
			p.Release = append(p.Release, k)
			continue
		}
		held[k] = true
	}
	if !v.Foreign {
		for _, k := range order {
			if len(held) >= share {
				break
			}
			l, ok := v.Leases[k]
			free := !ok || l.Holder == "" || l.Expired
			if !free || l.Holder == v.Me && !l.Expired || yields(k) {
				continue
			}
			held[k] = true
			p.Acquire = append(p.Acquire, k)
		}
	}
	for k := range held {
		p.Hold = append(p.Hold, k)
	}
	sort.Ints(p.Hold)
	sort.Ints(p.Acquire)
	sort.Ints(p.Release)
	return p
}
