package bench

// Ratio returns rollout/deployment and whether it means anything: a
// baseline phase that took no measurable time (or was not run) gives no
// ratio rather than an infinity, which JSON cannot carry either.
func Ratio(rollout, deployment float64) (float64, bool) {
	if deployment <= 0 || rollout < 0 {
		return 0, false
	}
	return rollout / deployment, true
}

// Ratios returns, for every Rollout phase whose name the baseline also has,
// the Rollout phase's time divided by the Deployment phase's time. Phases
// that have no Deployment counterpart (a pause or an abort) are left out:
// a plain Deployment has nothing to compare them with. So are interrupted
// phases, on either side: their time is not the time the phase takes.
func Ratios(baseline, rollouts []Phase) map[string]float64 {
	base := map[string]float64{}
	for _, p := range baseline {
		if !p.Interrupted {
			base[p.Name] = p.Seconds
		}
	}
	out := map[string]float64{}
	for _, p := range rollouts {
		d, ok := base[p.Name]
		if !ok || p.Interrupted {
			continue
		}
		if r, ok := Ratio(p.Seconds, d); ok {
			out[p.Name] = r
		}
	}
	return out
}
