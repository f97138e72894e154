package validation

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// stepFields lists a step's one-of fields in the order messages name them.
const stepFields = "setWeight, pause, experiment, analysis, setCanaryScale, setHeaderRoute or setMirrorRoute"

// validateCanary checks spec.strategy.canary.
func validateCanary(ro *v1alpha1.Rollout, p *field.Path) field.ErrorList {
	c := ro.Spec.Strategy.Canary
	var errs field.ErrorList

	errs = append(errs, validateSurgeUnavailable(c, p)...)
	errs = append(errs, validateCanaryServices(c, p)...)

	tr := c.TrafficRouting
	if tr == nil {
		// Both only change how a traffic router is driven; without one they
		// would be silently ignored.
		if c.ScaleDownDelaySeconds != nil {
			errs = append(errs, field.Forbidden(p.Child("scaleDownDelaySeconds"), "takes effect only with trafficRouting; remove it or configure a traffic router"))
		}
		if c.DynamicStableScale {
			errs = append(errs, field.Forbidden(p.Child("dynamicStableScale"), "takes effect only with trafficRouting; remove it or configure a traffic router"))
		}
	} else {
		if c.ScaleDownDelaySeconds != nil && c.DynamicStableScale {
			errs = append(errs, field.Forbidden(p.Child("dynamicStableScale"), "cannot be combined with scaleDownDelaySeconds: the stable is already scaled down as the canary takes traffic"))
		}
		errs = append(errs, validateTrafficRouting(c, p.Child("trafficRouting"))...)
	}
	errs = append(errs, validateNonNegative(c.ScaleDownDelaySeconds, p.Child("scaleDownDelaySeconds"))...)
	errs = append(errs, validateNonNegative(c.AbortScaleDownDelaySeconds, p.Child("abortScaleDownDelaySeconds"))...)
	errs = append(errs, validateNonNegative(c.ScaleDownDelayRevisionLimit, p.Child("scaleDownDelayRevisionLimit"))...)

	for i := range c.Steps {
		errs = append(errs, validateStep(c, i, p.Child("steps").Index(i))...)
	}
	if a := c.Analysis; a != nil {
		ap := p.Child("analysis")
		errs = append(errs, validateAnalysis(&a.RolloutAnalysis, ap)...)
		// Starting at len(steps) means "once every step is done".
		if a.StartingStep != nil {
			errs = append(errs, validateRange(*a.StartingStep, 0, int32(len(c.Steps)), ap.Child("startingStep"))...)
		}
	}

	errs = append(errs, validateAntiAffinity(c.AntiAffinity, p.Child("antiAffinity"))...)
	errs = append(errs, validateEphemeralMetadata(c.CanaryMetadata, p.Child("canaryMetadata"))...)
	errs = append(errs, validateEphemeralMetadata(c.StableMetadata, p.Child("stableMetadata"))...)
	return errs
}

// validateSurgeUnavailable checks the syntax of maxSurge and maxUnavailable
// and that together they let at least one Pod be replaced.
func validateSurgeUnavailable(c *v1alpha1.CanaryStrategy, p *field.Path) field.ErrorList {
	surgeErrs := validateIntOrPercent(c.MaxSurge, false, p.Child("maxSurge"))
	unavailErrs := validateIntOrPercent(c.MaxUnavailable, true, p.Child("maxUnavailable"))
	errs := append(surgeErrs, unavailErrs...)
	// Unset means the 25% default, which is never zero.
	if len(errs) == 0 && c.MaxSurge != nil && c.MaxUnavailable != nil {
		s, _, _ := intOrPercent(*c.MaxSurge)
		u, _, _ := intOrPercent(*c.MaxUnavailable)
		if s == 0 && u == 0 {
			errs = append(errs, field.Invalid(p.Child("maxSurge"), intOrStringValue(*c.MaxSurge),
				"maxSurge and maxUnavailable are both 0, so no Pod could ever be replaced; let at least one of them be above 0"))
		}
	}
	return errs
}

// validateCanaryServices checks the stable, canary and ping-pong Services.
func validateCanaryServices(c *v1alpha1.CanaryStrategy, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.CanaryService != "" && c.CanaryService == c.StableService {
		errs = append(errs, field.Invalid(p.Child("stableService"), c.StableService,
			"must differ from canaryService: the two Services must select different Pods"))
	}
	tr := c.TrafficRouting
	if tr != nil && routerNeedsServices(c) {
		const why = "is required with trafficRouting: the router splits traffic between the stable and the canary Service"
		if c.StableService == "" {
			errs = append(errs, field.Required(p.Child("stableService"), why))
		}
		if c.CanaryService == "" {
			errs = append(errs, field.Required(p.Child("canaryService"), why))
		}
	}
	if pp := c.PingPong; pp != nil {
		ppPath := p.Child("pingPong")
		if pp.PingService == "" {
			errs = append(errs, field.Required(ppPath.Child("pingService"), "both pingService and pongService are required for ping-pong"))
		}
		if pp.PongService == "" {
			errs = append(errs, field.Required(ppPath.Child("pongService"), "both pingService and pongService are required for ping-pong"))
		}
		if pp.PingService != "" && pp.PingService == pp.PongService {
			errs = append(errs, field.Invalid(ppPath.Child("pongService"), pp.PongService, "must differ from pingService: the two Services take turns as stable and canary"))
		}
		if tr != nil {
			// Argo Rollouts takes ping-pong with ALB only; Kanaria also
			// splits by host between the ping and pong Services with Istio.
			if tr.ALB == nil && tr.Istio == nil {
				errs = append(errs, field.Forbidden(ppPath, "ping-pong works only with the alb or istio traffic router"))
			}
			if tr.ALB != nil && tr.ALB.RootService == "" {
				errs = append(errs, field.Required(p.Child("trafficRouting", "alb", "rootService"), "is required with ping-pong: it is the Service the Ingress rules name"))
			}
		}
	}
	return errs
}

// routerNeedsServices reports whether the configured routers split traffic
// between the stable and canary Services. Istio subset routing (a
// destinationRule), ping-pong and plugin-only routing address Pods by
// other means, so upstream does not require the two Services there.
func routerNeedsServices(c *v1alpha1.CanaryStrategy) bool {
	tr := c.TrafficRouting
	return (tr.ALB != nil && c.PingPong == nil) ||
		(tr.Istio != nil && tr.Istio.DestinationRule == nil && c.PingPong == nil) ||
		tr.SMI != nil || tr.Apisix != nil || tr.Ambassador != nil ||
		tr.Nginx != nil || tr.AppMesh != nil || tr.Traefik != nil
}

// validateTrafficRouting checks the router configuration.
func validateTrafficRouting(c *v1alpha1.CanaryStrategy, p *field.Path) field.ErrorList {
	tr := c.TrafficRouting
	var errs field.ErrorList
	if tr.Istio == nil && tr.Nginx == nil && tr.ALB == nil && tr.SMI == nil && tr.Ambassador == nil &&
		tr.AppMesh == nil && tr.Traefik == nil && tr.Apisix == nil && len(tr.Plugins) == 0 {
		// Kanaria addition: a trafficRouting block without a router would
		// make weights do nothing while the user believes traffic is shaped.
		errs = append(errs, field.Required(p, "name a traffic router: istio, nginx, alb, smi, ambassador, appMesh, traefik, apisix or plugins"))
	}
	if tr.AppMesh != nil {
		// Refused here too, not only when the routers are built, so that
		// lint and the first reconcile say so before anything is touched.
		errs = append(errs, field.Invalid(p.Child("appMesh"), "{...}", "is not supported by Kanaria (AWS ended App Mesh); use another router"))
	}

	if is := tr.Istio; is != nil {
		ip := p.Child("istio")
		switch {
		case is.VirtualService != nil && len(is.VirtualServices) > 0:
			errs = append(errs, field.Forbidden(ip, "virtualService and virtualServices are both set; set one"))
		case is.VirtualService == nil && len(is.VirtualServices) == 0:
			errs = append(errs, field.Required(ip.Child("virtualService"), "set virtualService or virtualServices"))
		}
		if is.VirtualService != nil && is.VirtualService.Name == "" {
			errs = append(errs, field.Required(ip.Child("virtualService", "name"), "the name of the VirtualService is required"))
		}
		for i, vs := range is.VirtualServices {
			if vs.Name == "" {
				errs = append(errs, field.Required(ip.Child("virtualServices").Index(i).Child("name"), "the name of the VirtualService is required"))
			}
		}
	}
	if ng := tr.Nginx; ng != nil {
		np := p.Child("nginx")
		switch {
		case ng.StableIngress != "" && len(ng.StableIngresses) > 0:
			errs = append(errs, field.Forbidden(np, "stableIngress and stableIngresses are both set; set one"))
		case ng.StableIngress == "" && len(ng.StableIngresses) == 0:
			errs = append(errs, field.Required(np.Child("stableIngress"), "set stableIngress or stableIngresses"))
		}
	}
	if alb := tr.ALB; alb != nil {
		ap := p.Child("alb")
		switch {
		case alb.Ingress != "" && len(alb.Ingresses) > 0:
			errs = append(errs, field.Forbidden(ap, "ingress and ingresses are both set; set one"))
		case alb.Ingress == "" && len(alb.Ingresses) == 0:
			errs = append(errs, field.Required(ap.Child("ingress"), "set ingress or ingresses"))
		}
		errs = append(errs, validateRange(alb.ServicePort, 1, 65535, ap.Child("servicePort"))...)
	}
	if am := tr.Ambassador; am != nil && len(am.Mappings) == 0 {
		errs = append(errs, field.Required(p.Child("ambassador", "mappings"), "at least one Mapping is required"))
	}
	if tf := tr.Traefik; tf != nil && tf.WeightedTraefikServiceName == "" {
		errs = append(errs, field.Required(p.Child("traefik", "weightedTraefikServiceName"), "the TraefikService whose weights are set is required"))
	}
	if ax := tr.Apisix; ax != nil {
		switch {
		case ax.Route == nil:
			errs = append(errs, field.Required(p.Child("apisix", "route"), "the ApisixRoute to change is required"))
		case ax.Route.Name == "":
			errs = append(errs, field.Required(p.Child("apisix", "route", "name"), "the name of the ApisixRoute is required"))
		}
	}

	if w := tr.MaxTrafficWeight; w != nil {
		wp := p.Child("maxTrafficWeight")
		if *w <= 0 {
			errs = append(errs, field.Invalid(wp, *w, "must be greater than 0"))
		}
		if tr.Nginx == nil && len(tr.Plugins) == 0 {
			errs = append(errs, field.Forbidden(wp, "is supported only with the nginx router or plugins"))
		}
	}

	seen := map[string]bool{}
	for i, r := range tr.ManagedRoutes {
		rp := p.Child("managedRoutes").Index(i).Child("name")
		switch {
		case r.Name == "":
			errs = append(errs, field.Required(rp, "every managed route needs a name"))
		case seen[r.Name]:
			errs = append(errs, field.Duplicate(rp, r.Name))
		}
		seen[r.Name] = true
	}
	return errs
}

// effectiveMaxWeight is the weight that stands for all traffic.
func effectiveMaxWeight(c *v1alpha1.CanaryStrategy) int32 {
	if c.TrafficRouting != nil && c.TrafficRouting.MaxTrafficWeight != nil && *c.TrafficRouting.MaxTrafficWeight > 0 {
		return *c.TrafficRouting.MaxTrafficWeight
	}
	return maxWeight
}

// setStepFields names the one-of fields a step sets.
func setStepFields(s *v1alpha1.CanaryStep) []string {
	var set []string
	add := func(isSet bool, name string) {
		if isSet {
			set = append(set, name)
		}
	}
	add(s.SetWeight != nil, "setWeight")
	add(s.Pause != nil, "pause")
	add(s.Experiment != nil, "experiment")
	add(s.Analysis != nil, "analysis")
	add(s.SetCanaryScale != nil, "setCanaryScale")
	add(s.SetHeaderRoute != nil, "setHeaderRoute")
	add(s.SetMirrorRoute != nil, "setMirrorRoute")
	return set
}

// validateStep checks steps[i].
func validateStep(c *v1alpha1.CanaryStrategy, i int, p *field.Path) field.ErrorList {
	s := &c.Steps[i]
	tr := c.TrafficRouting
	var errs field.ErrorList

	// Upstream counts only four of the seven fields when looking for
	// duplicates; all seven are counted here, since a step executes one.
	switch set := setStepFields(s); len(set) {
	case 0:
		errs = append(errs, field.Required(p, "the step is empty: set exactly one of "+stepFields))
	case 1:
	default:
		errs = append(errs, field.Forbidden(p, fmt.Sprintf("the step sets %s; a step sets exactly one of %s, so put each in its own step", strings.Join(set, " and "), stepFields)))
	}

	if s.SetWeight != nil {
		errs = append(errs, validateRange(*s.SetWeight, 0, effectiveMaxWeight(c), p.Child("setWeight"))...)
	}
	if s.Pause != nil && s.Pause.Duration != nil {
		if _, ok := pauseSeconds(*s.Pause.Duration); !ok {
			errs = append(errs, field.Invalid(p.Child("pause", "duration"), intOrStringValue(*s.Pause.Duration),
				"must be a non-negative number of seconds, or a duration with a unit such as 30s, 5m or 1h"))
		}
	}
	if sc := s.SetCanaryScale; sc != nil {
		sp := p.Child("setCanaryScale")
		n := 0
		for _, isSet := range []bool{sc.Replicas != nil, sc.Weight != nil, sc.MatchTrafficWeight} {
			if isSet {
				n++
			}
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(sp, "set at most one of replicas, weight or matchTrafficWeight"))
		}
		if sc.Weight != nil {
			errs = append(errs, validateRange(*sc.Weight, 0, 100, sp.Child("weight"))...)
		}
		errs = append(errs, validateNonNegative(sc.Replicas, sp.Child("replicas"))...)
		if tr == nil {
			// Without a router the canary's Pod count is the weight; a
			// separate scale would have nothing to act on.
			errs = append(errs, field.Forbidden(sp, "needs spec.strategy.canary.trafficRouting: without a traffic router the canary's Pod count follows setWeight"))
		}
	}
	if hr := s.SetHeaderRoute; hr != nil {
		hp := p.Child("setHeaderRoute")
		if tr == nil || (tr.Istio == nil && tr.ALB == nil && tr.Apisix == nil && len(tr.Plugins) == 0) {
			errs = append(errs, field.Forbidden(hp, "needs spec.strategy.canary.trafficRouting with istio, alb, apisix or plugins"))
		} else {
			errs = append(errs, validateManagedRoute(tr, hr.Name, hp.Child("name"))...)
		}
		for j, m := range hr.Match {
			mp := hp.Child("match").Index(j)
			if m.HeaderName == "" {
				errs = append(errs, field.Required(mp.Child("headerName"), "the name of the request header to match is required"))
			}
			errs = append(errs, validateStringMatch(m.HeaderValue, tr != nil && tr.ALB != nil, mp.Child("headerValue"))...)
		}
	}
	if mr := s.SetMirrorRoute; mr != nil {
		mp := p.Child("setMirrorRoute")
		if tr == nil || tr.Istio == nil {
			errs = append(errs, field.Forbidden(mp, "needs spec.strategy.canary.trafficRouting with istio"))
		} else {
			errs = append(errs, validateManagedRoute(tr, mr.Name, mp.Child("name"))...)
		}
		if mr.Percentage != nil {
			errs = append(errs, validateRange(*mr.Percentage, 0, 100, mp.Child("percentage"))...)
		}
		for j, m := range mr.Match {
			rp := mp.Child("match").Index(j)
			if m.Method != nil {
				errs = append(errs, validateStringMatch(m.Method, false, rp.Child("method"))...)
			}
			if m.Path != nil {
				errs = append(errs, validateStringMatch(m.Path, false, rp.Child("path"))...)
			}
			for _, k := range sortedKeys(m.Headers) {
				v := m.Headers[k]
				errs = append(errs, validateStringMatch(&v, false, rp.Child("headers").Key(k))...)
			}
		}
	}
	if s.Analysis != nil {
		errs = append(errs, validateAnalysis(s.Analysis, p.Child("analysis"))...)
	}
	if s.Experiment != nil {
		errs = append(errs, validateExperiment(c, i, s.Experiment, p.Child("experiment"))...)
	}
	return errs
}

// validateManagedRoute checks that a route step names one of the routes
// the controller is allowed to manage; any other route in the user's router
// object must stay untouched.
func validateManagedRoute(tr *v1alpha1.RolloutTrafficRouting, name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "the name of the route, as listed in spec.strategy.canary.trafficRouting.managedRoutes, is required")}
	}
	for _, r := range tr.ManagedRoutes {
		if r.Name == name {
			return nil
		}
	}
	return field.ErrorList{field.Invalid(p, name, "is not listed in spec.strategy.canary.trafficRouting.managedRoutes; add it there so the controller may manage the route")}
}

// validateStringMatch checks that exactly one way of matching is given;
// ALB can only match exact values.
func validateStringMatch(m *v1alpha1.StringMatch, exactOnly bool, p *field.Path) field.ErrorList {
	if m == nil {
		return field.ErrorList{field.Required(p, "set one of exact, prefix or regex")}
	}
	if exactOnly {
		if m.Exact == "" || m.Prefix != "" || m.Regex != "" {
			return field.ErrorList{field.Invalid(p, matchSummary(m), "the alb router matches exact values only: set exact and nothing else")}
		}
		return nil
	}
	n := 0
	for _, v := range []string{m.Exact, m.Prefix, m.Regex} {
		if v != "" {
			n++
		}
	}
	switch n {
	case 0:
		return field.ErrorList{field.Required(p, "set one of exact, prefix or regex")}
	case 1:
		return nil
	default:
		return field.ErrorList{field.Invalid(p, matchSummary(m), "set exactly one of exact, prefix or regex")}
	}
}

// matchSummary prints a StringMatch for an error message.
func matchSummary(m *v1alpha1.StringMatch) string {
	var parts []string
	for _, kv := range [][2]string{{"exact", m.Exact}, {"prefix", m.Prefix}, {"regex", m.Regex}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, ", ")
}

// validateExperiment checks an experiment step.
func validateExperiment(c *v1alpha1.CanaryStrategy, idx int, e *v1alpha1.RolloutExperimentStep, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	tr := c.TrafficRouting
	var weights int32
	if len(e.Templates) == 0 {
		errs = append(errs, field.Required(p.Child("templates"), "at least one template is required"))
	}
	names := map[string]bool{}
	for i, t := range e.Templates {
		tp := p.Child("templates").Index(i)
		switch {
		case t.Name == "":
			errs = append(errs, field.Required(tp.Child("name"), "every experiment template needs a name"))
		case names[t.Name]:
			errs = append(errs, field.Duplicate(tp.Child("name"), t.Name))
		}
		names[t.Name] = true
		if t.SpecRef != v1alpha1.CanarySpecRef && t.SpecRef != v1alpha1.StableSpecRef {
			errs = append(errs, field.NotSupported(tp.Child("specRef"), string(t.SpecRef), []v1alpha1.ReplicaSetSpecRef{v1alpha1.CanarySpecRef, v1alpha1.StableSpecRef}))
		}
		errs = append(errs, validateNonNegative(t.Replicas, tp.Child("replicas"))...)
		if t.Weight != nil {
			wp := tp.Child("weight")
			errs = append(errs, validateRange(*t.Weight, 0, 100, wp)...)
			weights += *t.Weight
			switch {
			case tr == nil:
				errs = append(errs, field.Forbidden(wp, "needs spec.strategy.canary.trafficRouting: without a router an experiment's Pods get no traffic share"))
			case tr.ALB == nil && tr.SMI == nil && tr.Istio == nil:
				errs = append(errs, field.Forbidden(wp, "is supported only with the alb, smi or istio router"))
			default:
				if others := routersWithoutExtraDestinations(tr); len(others) > 0 {
					errs = append(errs, field.Forbidden(wp, fmt.Sprintf("is supported only with the alb, smi or istio router; %s cannot send traffic to a third destination", strings.Join(others, ", "))))
				}
			}
		}
	}
	if tr != nil && weights > 0 {
		maxW := int32(100)
		if tr.MaxTrafficWeight != nil && *tr.MaxTrafficWeight > 0 {
			maxW = *tr.MaxTrafficWeight
		}
		var canary int32
		for i := 0; i <= idx && i < len(c.Steps); i++ {
			if w := c.Steps[i].SetWeight; w != nil {
				canary = *w
			}
		}
		if canary+weights > maxW {
			errs = append(errs, field.Invalid(p.Child("templates"), weights,
				fmt.Sprintf("the templates' weights and the canary's weight at this step (%d) add up to more than %d, leaving the stable a negative share", canary, maxW)))
		}
	}
	errs = append(errs, validateDurationString(e.Duration, p.Child("duration"))...)
	analyses := map[string]bool{}
	for i, a := range e.Analyses {
		ap := p.Child("analyses").Index(i)
		switch {
		case a.Name == "":
			errs = append(errs, field.Required(ap.Child("name"), "every experiment analysis needs a name"))
		case analyses[a.Name]:
			errs = append(errs, field.Duplicate(ap.Child("name"), a.Name))
		}
		analyses[a.Name] = true
		if a.TemplateName == "" {
			errs = append(errs, field.Required(ap.Child("templateName"), "the name of the AnalysisTemplate (or ClusterAnalysisTemplate with clusterScope) is required"))
		}
		errs = append(errs, validateArgs(a.Args, ap.Child("args"))...)
	}
	return errs
}

// routersWithoutExtraDestinations names the configured routers that cannot
// send traffic to an experiment's Services beside the canary and stable.
func routersWithoutExtraDestinations(tr *v1alpha1.RolloutTrafficRouting) []string {
	var out []string
	for _, r := range []struct {
		name string
		set  bool
	}{
		{"nginx", tr.Nginx != nil}, {"traefik", tr.Traefik != nil}, {"apisix", tr.Apisix != nil},
		{"ambassador", tr.Ambassador != nil}, {"appMesh", tr.AppMesh != nil}, {"plugins", len(tr.Plugins) > 0},
	} {
		if r.set {
			out = append(out, r.name)
		}
	}
	return out
}
