package bench

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// maxResourceRows bounds the API server breakdown in the table; --json has
// every row.
const maxResourceRows = 15

// WriteTable prints res for people: one row per phase, then the requests
// by verb of the controller and of the API server, the analysis endpoint's
// rate and the caveats.
func WriteTable(w io.Writer, res *Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format, args...) }

	router := ""
	if res.Router != "" {
		router = ", traffic router " + res.Router
	}
	p("kanaria bench: scenario %s%s, %d × %d replicas, namespace %s\n\n", res.Scenario, router, res.Rollouts, res.Replicas, res.Namespace)
	all := append(append([]Phase(nil), res.Baseline...), res.Phases...)
	p("WORKLOAD\tPHASE\tWAITED FOR\tTIME\tVS DEPLOYMENT\tDONE\tP50\tP90\tP99\tMAX\tCONTROLLER REQ\tPER REVISION\tAPI SERVER REQ (ALL)\tOF WHICH BENCH\tCPU\tRSS START/END/PEAK\n")
	for _, ph := range all {
		ratio := "-"
		if ph.Workload == "Rollout" {
			if r, ok := res.Ratios[ph.Name]; ok {
				ratio = fmt.Sprintf("%.2f×", r)
			}
		}
		ctrl, per := "n/a", "n/a"
		if c := ph.ControllerRequests; c != nil {
			ctrl, per = count(c.Total), fmt.Sprintf("%.1f", c.PerRevision)
		}
		api := "n/a"
		if a := ph.APIServerRequests; a != nil {
			api = count(a.Total)
		}
		cpu, rss := "n/a", "n/a"
		if c := ph.ControllerCPUSeconds; c != nil && ph.Seconds > 0 {
			cpu = fmt.Sprintf("%.2fs (%.2f cores)", *c, *c/ph.Seconds)
		}
		if u := ph.Controller; u != nil {
			cpu = fmt.Sprintf("%.2fs (%.2f cores)", u.CPUSeconds, u.CPUCores)
			rss = fmt.Sprintf("%.0f/%.0f/%.0f MiB", u.RSSStartMiB, u.RSSEndMiB, u.RSSPeakMiB)
		}
		name := ph.Name
		if ph.Interrupted {
			name += " (interrupted)"
		}
		p("%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n",
			ph.Workload, name, ph.Waited, secs(ph.Seconds), ratio, ph.Latency.Count, objectsOf(ph, res),
			secs(ph.Latency.P50), secs(ph.Latency.P90), secs(ph.Latency.P99), secs(ph.Latency.Max),
			ctrl, per, api, ph.BenchRequests, cpu, rss)
	}

	if hasAny(all, func(ph Phase) map[string]float64 { return byVerb(ph.ControllerRequests) }) {
		p("\nController requests by method (rest_client_requests_total of the controller)\n")
		breakdown(p, all, func(ph Phase) map[string]float64 { return byVerb(ph.ControllerRequests) }, 0)
	}
	if hasAny(all, func(ph Phase) map[string]float64 { return byVerbResource(ph.ControllerRequests) }) {
		p("\nController requests by verb and kind (controller_clientset_k8s_request_total of the controller)\n")
		breakdown(p, all, func(ph Phase) map[string]float64 { return byVerbResource(ph.ControllerRequests) }, maxResourceRows)
	}
	writeFirstWrites(p, all)
	writeMilestones(p, all)
	writeQueueDepth(p, all)
	if hasAny(all, func(ph Phase) map[string]float64 { return byVerbResource(ph.APIServerRequests) }) {
		p("\nAPI server requests by verb and resource, all clients (apiserver_request_total)\n")
		breakdown(p, all, func(ph Phase) map[string]float64 { return byVerbResource(ph.APIServerRequests) }, maxResourceRows)
	}
	if a := res.Analysis; a != nil {
		p("\nAnalysis endpoint %s: %d measurements in %s of update = %.1f/s (%d in the whole run)\n",
			a.URL, a.Measurements, secs(a.Seconds), a.PerSecond, a.Total)
	}
	if m := res.Memory; m != nil {
		writeMemory(p, m, res.Rollouts)
	}
	if c := res.Churn; c != nil {
		writeChurn(p, c)
	}
	for i, n := range res.Notes {
		if i == 0 {
			p("\nNotes:\n")
		}
		p("- %s\n", n)
	}
	if w := res.maxHWM(); w > 0 {
		p("\nController peak RSS since it started (VmHWM): %.0f MiB\n", w)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the table: %w", err)
	}
	return nil
}

func (r *Result) maxHWM() float64 {
	var m float64
	if c := r.Churn; c != nil && c.Controller != nil {
		m = mib(c.Controller.HWMBytes)
	}
	for _, ph := range append(append([]Phase(nil), r.Baseline...), r.Phases...) {
		if ph.Controller != nil {
			m = max(m, ph.Controller.HWMMiB)
		}
	}
	return m
}

// writeFirstWrites prints each phase's time from a Rollout's change to the
// controller's first write for it.
func writeFirstWrites(p func(string, ...any), all []Phase) {
	first := true
	for _, ph := range all {
		f := ph.FirstWrite
		if f == nil {
			continue
		}
		if first {
			p("\nFrom a Rollout's change (its new generation, watched) to the controller's first write for it (watched)\n")
			p("\tPHASE\tROLLOUTS\tP50\tP90\tP99\tMAX\tWITHOUT A WRITE\n")
			first = false
		}
		l := f.Latency
		p("\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n", ph.Name, l.Count, secs(l.P50), secs(l.P90), secs(l.P99), secs(l.Max), f.Missing)
	}
}

// writeMilestones prints, per phase, when the Rollouts' status first showed
// each step and Healthy, from each one's change.
func writeMilestones(p func(string, ...any), all []Phase) {
	first := true
	for _, ph := range all {
		if len(ph.Milestones) == 0 {
			continue
		}
		if first {
			p("\nFrom a Rollout's change to its status first showing each step, then Healthy (watched)\n")
			p("\tPHASE\tMILESTONE\tROLLOUTS\tP50\tP90\tP99\tMAX\n")
			first = false
		}
		for _, m := range ph.Milestones {
			l := m.Latency
			p("\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", ph.Name, m.Name, l.Count, secs(l.P50), secs(l.P90), secs(l.P99), secs(l.Max))
		}
	}
}

// writeQueueDepth prints the controller's Rollout queue depth over each
// phase: its largest value and a few samples spread over the phase.
func writeQueueDepth(p func(string, ...any), all []Phase) {
	first := true
	for _, ph := range all {
		q := ph.QueueDepth
		if q == nil {
			continue
		}
		if first {
			p("\nController Rollout work queue depth (workqueue_depth, sampled every %s)\n", asDuration(q.IntervalSeconds))
			first = false
		}
		var pts []string
		step := max(1, len(q.Samples)/8)
		for i := 0; i < len(q.Samples); i += step {
			pts = append(pts, fmt.Sprintf("%s: %.0f", secs(q.Samples[i].Seconds), q.Samples[i].Depth))
		}
		p("\t%s %s\tmax %.0f\t%s\n", ph.Workload, ph.Name, q.Max, strings.Join(pts, ", "))
	}
}

// writeMemory prints the controller's memory per Rollout.
func writeMemory(p func(string, ...any), m *MemoryPerRollout, n int) {
	p("\nController memory per Rollout (median RSS of %d readings %s apart at each point)\n",
		m.SamplesPerPoint, asDuration(m.SampleIntervalSeconds))
	p("\tRSS before create\t%s\n", iec(float64(m.RSSBeforeBytes)))
	p("\tRSS after all %d Healthy\t%s\n", n, iec(float64(m.RSSAfterBytes)))
	p("\tdifference\t%s\n", signed(float64(m.DeltaBytes)))
	p("\tper Rollout\t%s\n", signed(m.BytesPerRollout))
	if m.AnonAfterBytes > 0 {
		p("\tanonymous RSS (RssAnon: no executable pages) before / after\t%s / %s\n", iec(float64(m.AnonBeforeBytes)), iec(float64(m.AnonAfterBytes)))
		p("\tanonymous RSS per Rollout\t%s\n", signed(m.AnonBytesPerRollout))
	}
	if m.Settled != nil {
		writeSettled(p, m)
	}
}

// writeSettled prints the controller's memory over the idle wait after the
// create, and the settled memory per Rollout.
func writeSettled(p func(string, ...any), m *MemoryPerRollout) {
	s := m.Settled
	p("\nController memory while the Rollouts stay idle after the create (--settle %s, /metrics scraped every %s; RSS the median of %d readings, the rest the Go runtime's own figures from /metrics)\n",
		asDuration(s.IdleSeconds), asDuration(s.ScrapeEverySeconds), rssSamples)
	p("\tIDLE\tCPU\tRSS\tRSSANON\tHEAP LIVE\tHEAP OBJECTS\tUNUSED IN SPANS\tFREE KEPT\tRELEASED\tHEAP GOAL\tSTACKS\tMETADATA\tGC CYCLES\n")
	row := func(label, cpu string, rss, anon int64, rt *RuntimeMemory) {
		if rt == nil {
			p("\t%s\t%s\t%s\t%s\t\t\t\t\t\t\t\t\t\n", label, cpu, iec(float64(rss)), iec(float64(anon)))
			return
		}
		p("\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", label, cpu, iec(float64(rss)), iec(float64(anon)),
			iec(float64(rt.HeapLiveBytes)), iec(float64(rt.HeapObjectsBytes)), iec(float64(rt.HeapUnusedBytes)),
			iec(float64(rt.HeapFreeBytes)), iec(float64(rt.HeapReleasedBytes)), iec(float64(rt.HeapGoalBytes)),
			iec(float64(rt.StacksBytes)), iec(float64(rt.MetadataBytes)), rt.GCCycles)
	}
	row("before create", "", m.RSSBeforeBytes, m.AnonBeforeBytes, s.BeforeRuntime)
	for _, r := range s.Readings {
		row(asDuration(r.Seconds).String(), fmt.Sprintf("%.2fs", r.CPUSeconds), r.RSSBytes, r.AnonBytes, r.Runtime)
	}
	if len(s.Readings) == 0 {
		return
	}
	p("\tsettled per Rollout after %s idle (less before the create, / N)\tRSS %s, RssAnon %s, heap live %s, heap objects %s\n",
		asDuration(s.SettledAfterSeconds), signed(s.RSSBytesPerRollout), signed(s.AnonBytesPerRollout),
		signed(s.HeapLiveBytesPerRollout), signed(s.HeapObjectsBytesPerRollout))
}

// writeChurn prints the churn's summary and a compact table of its rounds.
func writeChurn(p func(string, ...any), c *Churn) {
	p("\nChurn: %d rounds in %s (--churn %s), each changing the %s\n",
		len(c.Rounds), secs(c.Seconds), asDuration(c.RequestedSeconds), c.Change)
	if u := c.Controller; u != nil {
		p("\tcontroller RSS at churn start\t%s\n", iec(float64(u.RSSStartBytes)))
		p("\tcontroller RSS at churn end\t%s\n", iec(float64(u.RSSEndBytes)))
		p("\tgrowth\t%s (%+.1f%%)\n", signed(float64(u.GrowthBytes)), u.GrowthPercent)
		if u.AnonStartBytes > 0 {
			d, pc := growth(u.AnonStartBytes, u.AnonEndBytes)
			p("\tRssAnon at churn start, end, growth\t%s, %s, %s (%+.1f%%)\n", iec(float64(u.AnonStartBytes)), iec(float64(u.AnonEndBytes)), signed(float64(d)), pc)
		}
		if u.HeapLiveStartBytes > 0 {
			d, pc := growth(u.HeapLiveStartBytes, u.HeapLiveEndBytes)
			p("\theap live at churn start, end, growth\t%s, %s, %s (%+.1f%%)\n", iec(float64(u.HeapLiveStartBytes)), iec(float64(u.HeapLiveEndBytes)), signed(float64(d)), pc)
		}
		p("\tpeak RSS since start (VmHWM)\t%s\n", iec(float64(u.HWMBytes)))
		p("\tCPU during churn\t%.2fs\n", u.CPUSeconds)
	}
	if len(c.Rounds) == 0 {
		return
	}
	p("\n\tROUND\tTIME\tDONE\tP50\tMAX\tRSS\tRSSANON\tHEAP LIVE\tCPU SINCE CHURN START\n")
	last, left := 0, 0
	for _, n := range churnRows(len(c.Rounds)) {
		if n > last+1 {
			// As many cells as a round's row, so the columns stay aligned.
			p("\t...\t\t\t\t\t\t\t\t\n")
			left += n - last - 1
		}
		last = n
		r := c.Rounds[n-1]
		rss, anon, heap, cpu := "n/a", "n/a", "n/a", "n/a"
		if u := r.Controller; u != nil {
			rss, cpu = iec(float64(u.RSSBytes)), fmt.Sprintf("%.2fs", u.CPUSeconds)
			if u.AnonBytes > 0 {
				anon = iec(float64(u.AnonBytes))
			}
			if u.HeapLiveBytes > 0 {
				heap = iec(float64(u.HeapLiveBytes))
			}
		}
		round := strconv.Itoa(r.Round)
		if r.Interrupted {
			round += " (interrupted)"
		}
		p("\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n", round, secs(r.Seconds), r.Completions, secs(r.Latency.P50), secs(r.Latency.Max), rss, anon, heap, cpu)
	}
	if left > 0 {
		p("\t(%d more rounds in --json)\n", left)
	}
}

// asDuration turns seconds back into a duration, to print it the way a flag reads.
func asDuration(s float64) time.Duration {
	return time.Duration(s * float64(time.Second))
}

func byVerb(c *RequestCounts) map[string]float64 {
	if c == nil {
		return nil
	}
	return c.ByVerb
}

func byVerbResource(c *RequestCounts) map[string]float64 {
	if c == nil {
		return nil
	}
	return c.ByVerbResource
}

func hasAny(phases []Phase, get func(Phase) map[string]float64) bool {
	for _, ph := range phases {
		if len(get(ph)) > 0 {
			return true
		}
	}
	return false
}

// breakdown prints one row per key with a column per phase, the busiest
// keys first; limit > 0 keeps that many rows and says how many it left out.
func breakdown(p func(string, ...any), phases []Phase, get func(Phase) map[string]float64, limit int) {
	totals := map[string]float64{}
	for _, ph := range phases {
		for k, v := range get(ph) {
			totals[k] += v
		}
	}
	var head strings.Builder
	head.WriteString("\t")
	for _, ph := range phases {
		fmt.Fprintf(&head, "\t%s", phaseLabel(ph))
	}
	p("%s\n", head.String())
	keys := sortedKeys(totals)
	left := 0
	if limit > 0 && len(keys) > limit {
		left = len(keys) - limit
		keys = keys[:limit]
	}
	for _, k := range keys {
		var row strings.Builder
		row.WriteString("\t" + k)
		for _, ph := range phases {
			// "-" is a phase that was not measured, unlike a measured 0.
			cell := "-"
			if m := get(ph); m != nil {
				cell = count(m[k])
			}
			row.WriteString("\t" + cell)
		}
		p("%s\n", row.String())
	}
	if left > 0 {
		p("\t(%d more rows in --json)\n", left)
	}
}

func phaseLabel(ph Phase) string {
	if ph.Workload == "Deployment" {
		return "deploy " + ph.Name
	}
	return ph.Name
}

// sortedKeys returns m's keys, largest value first, then by name.
func sortedKeys(m map[string]float64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

// secs prints a duration in seconds with precision that suits its size.
func secs(s float64) string {
	switch {
	case s == 0:
		return "0s"
	case s < 10:
		return fmt.Sprintf("%.2fs", s)
	case s < 100:
		return fmt.Sprintf("%.1fs", s)
	default:
		return fmt.Sprintf("%.0fs", s)
	}
}

// iec prints a number of bytes in the binary unit that suits its size.
func iec(b float64) string {
	abs := math.Abs(b)
	switch {
	case abs < 1<<10:
		return fmt.Sprintf("%.0f B", b)
	case abs < 1<<20:
		return fmt.Sprintf("%.1f KiB", b/(1<<10))
	case abs < 1<<30:
		return fmt.Sprintf("%.1f MiB", b/(1<<20))
	default:
		return fmt.Sprintf("%.2f GiB", b/(1<<30))
	}
}

// signed is iec with an explicit sign, for a difference.
func signed(b float64) string {
	if b > 0 {
		return "+" + iec(b)
	}
	return iec(b)
}

// count prints a counter; counters are whole numbers, but a diff of floats
// is printed without a spurious ".000".
func count(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}

// objectsOf is how many objects a phase waited for; results written before
// phases recorded it waited for every Rollout.
func objectsOf(ph Phase, res *Result) int {
	if ph.Objects > 0 {
		return ph.Objects
	}
	return res.Rollouts
}
