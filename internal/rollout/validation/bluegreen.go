package validation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// validateBlueGreen checks spec.strategy.blueGreen.
func validateBlueGreen(ro *v1alpha1.Rollout, p *field.Path) field.ErrorList {
	bg := ro.Spec.Strategy.BlueGreen
	var errs field.ErrorList

	if bg.ActiveService == "" {
		errs = append(errs, field.Required(p.Child("activeService"), "the Service that production traffic goes through is required"))
	} else if bg.PreviewService == bg.ActiveService {
		errs = append(errs, field.Invalid(p.Child("previewService"), bg.PreviewService,
			"must differ from activeService: the preview Service selects the new version while the active one still selects the old"))
	}

	// previewReplicaCount is not capped at spec.replicas: an autoscaler may
	// change replicas at any time, and the controller never runs more
	// preview Pods than replicas anyway (upstream does not cap it either).
	errs = append(errs, validateNonNegative(bg.PreviewReplicaCount, p.Child("previewReplicaCount"))...)
	if bg.AutoPromotionSeconds < 0 {
		errs = append(errs, field.Invalid(p.Child("autoPromotionSeconds"), bg.AutoPromotionSeconds, "must be 0 or more"))
	}
	errs = append(errs, validateIntOrPercent(bg.MaxUnavailable, true, p.Child("maxUnavailable"))...)
	errs = append(errs, validateNonNegative(bg.ScaleDownDelaySeconds, p.Child("scaleDownDelaySeconds"))...)
	errs = append(errs, validateNonNegative(bg.AbortScaleDownDelaySeconds, p.Child("abortScaleDownDelaySeconds"))...)

	if lim := bg.ScaleDownDelayRevisionLimit; lim != nil {
		errs = append(errs, validateNonNegative(lim, p.Child("scaleDownDelayRevisionLimit"))...)
		// ReplicaSets waiting for their delay are part of the history; a
		// smaller history would delete them before the delay ends.
		hist := int32(defaultRevisionHistoryLimit)
		if ro.Spec.RevisionHistoryLimit != nil {
			hist = *ro.Spec.RevisionHistoryLimit
		}
		if *lim > hist {
			errs = append(errs, field.Invalid(p.Child("scaleDownDelayRevisionLimit"), *lim,
				fmt.Sprintf("must not be more than spec.revisionHistoryLimit (%d)", hist)))
		}
	}

	if bg.PrePromotionAnalysis != nil {
		errs = append(errs, validateAnalysis(bg.PrePromotionAnalysis, p.Child("prePromotionAnalysis"))...)
	}
	if bg.PostPromotionAnalysis != nil {
		errs = append(errs, validateAnalysis(bg.PostPromotionAnalysis, p.Child("postPromotionAnalysis"))...)
	}
	errs = append(errs, validateAntiAffinity(bg.AntiAffinity, p.Child("antiAffinity"))...)
	errs = append(errs, validateEphemeralMetadata(bg.ActiveMetadata, p.Child("activeMetadata"))...)
	errs = append(errs, validateEphemeralMetadata(bg.PreviewMetadata, p.Child("previewMetadata"))...)
	return errs
}
