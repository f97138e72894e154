package replicas

// TrafficRoutedCanary computes the replica counts for a canary Rollout whose
// traffic is split by a router (mesh, ingress, gateway).
//
// The router, not the Pod ratio, decides the weight, so the counts are
// targets to scale to directly rather than steps bounded by maxSurge and
// maxUnavailable:
//
//   - canary = ceil(weight% of replicas), or the setCanaryScale override
//     (explicit replicas, or ceil(scale weight% of replicas)); 0 on abort;
//   - stable = replicas, unless DynamicStableScale: then stable is sized to
//     the traffic it must still carry, ceil((100-weight)% of replicas), and
//     never below its current traffic share (Traffic) so Pods are removed
//     only after the router has moved requests away. On abort the canary
//     likewise keeps Pods for the traffic it still receives;
//   - MinPodsPerReplicaSet raises any non-zero count to that minimum;
//   - Others go to 0 because the router sends them nothing; honouring
//     scaleDownDelaySeconds is the caller's job.
//
// With no separate stable (Input.Stable nil) the canary takes all replicas.
func TrafficRoutedCanary(in Input) Result {
	replicas := max(in.Replicas, 0)
	res := Result{Others: make([]int32, len(in.Others))}
	if in.Stable == nil {
		res.Canary = atLeastMin(replicas, in.MinPodsPerReplicaSet)
		return res
	}

	weight := clampWeight(in.Weight)
	scale := in.CanaryScale
	if in.Aborted {
		weight, scale = 0, nil
	}
	switch {
	case scale != nil && scale.Replicas != nil:
		res.Canary = max(*scale.Replicas, 0)
	case scale != nil && scale.Weight != nil:
		// A scale weight may exceed 100 to over-provision the canary.
		res.Canary = ceilPercent(replicas, *scale.Weight)
	default:
		res.Canary = ceilPercent(replicas, weight)
	}

	res.Stable = replicas
	if in.DynamicStableScale {
		// The stable share comes from the traffic weight, not from the
		// canary Pod count: setCanaryScale changes Pods, not requests.
		res.Stable = ceilPercent(replicas, 100-weight)
		if in.Traffic != nil {
			res.Stable = max(res.Stable, ceilPercent(replicas, clampWeight(in.Traffic.Stable)))
			if in.Aborted {
				res.Canary = max(res.Canary, ceilPercent(replicas, clampWeight(in.Traffic.Canary)))
			}
		}
	}

	res.Canary = atLeastMin(res.Canary, in.MinPodsPerReplicaSet)
	res.Stable = atLeastMin(res.Stable, in.MinPodsPerReplicaSet)
	return res
}

// atLeastMin raises a non-zero count to minPods so a ReplicaSet that serves
// traffic keeps enough Pods for high availability; zero stays zero because
// an unused ReplicaSet needs none.
func atLeastMin(count int32, minPods *int32) int32 {
	if count == 0 || minPods == nil {
		return count
	}
	return max(count, *minPods)
}
