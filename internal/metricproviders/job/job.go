// Package job is the Job metric provider: a measurement is a Kubernetes Job
// created from the metric's spec and owned by its AnalysisRun; a Job that
// completes is Successful, one that fails is Failed.
package job

import (
	"context"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
	"github.com/kanaria-rollouts/kanaria/internal/metricproviders"
	"github.com/kanaria-rollouts/kanaria/internal/shard"
)

// Name is the provider's name in metrics and logs.
const Name = "job"

// Labels on every Job, so the controller caches only analysis Jobs and a
// person can find a run's Jobs.
const (
	LabelRunUID = "analysisrun.argoproj.io/uid"
	LabelRun    = "analysisrun.argoproj.io/name"
	LabelMetric = "analysisrun.argoproj.io/metric-name"
	// MetadataJobName is the measurement metadata key of the Job's name.
	MetadataJobName = "job-name"
)

// DefaultDeadline bounds a measurement whose Job sets no
// activeDeadlineSeconds: Kubernetes then fails the Job, and the measurement,
// after this long instead of letting a hung test block a release forever.
const DefaultDeadline = time.Hour

// checkEvery is how often an in-flight Job is looked at when no watch event
// arrives first.
const checkEvery = 10 * time.Second

// Provider runs Job measurements.
type Provider struct {
	// Client creates and reads Jobs.
	Client client.Client
	// APIReader reads a Job the cache does not hold straight from the API
	// server before the measurement is declared lost: with shards, a Job
	// made before sharding was turned on stays out of every cache until
	// the shard labeller gives it its bucket. Nil trusts the cache.
	APIReader client.Reader
	// Sharded gives each Job, and its Pod template, its run's shard bucket
	// label, so only the replica holding the run caches the Job. Without
	// shards a Job carries exactly the reference's labels.
	Sharded bool
}

// jobName names the Job of measurement index of a metric. Job names become
// label values, so they stay within 63 characters of [a-z0-9.-]; when the
// metric name has to be shortened or rewritten, a hash of the original keeps
// two metrics of one run apart.
func jobName(run *v1alpha1.AnalysisRun, metric string, index int) string {
	clean := invalidNameChars.ReplaceAllString(strings.ToLower(metric), "-")
	suffix := fmt.Sprintf(".%d", index)
	name := fmt.Sprintf("%s.%s%s", run.UID, clean, suffix)
	if clean == metric && len(name) <= 63 {
		return name
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(metric))
	tag := fmt.Sprintf("-%08x", h.Sum32())
	room := 63 - len(run.UID) - 1 - len(tag) - len(suffix)
	if room < 1 {
		room = 1
	}
	if len(clean) > room {
		clean = clean[:room]
	}
	return fmt.Sprintf("%s.%s%s%s", run.UID, strings.Trim(clean, ".-"), tag, suffix)
}

// invalidNameChars are the characters a Job name cannot contain.
var invalidNameChars = regexp.MustCompile(`[^a-z0-9.-]`)

// Start creates the Job of a measurement and returns it in flight.
func (p *Provider) Start(ctx context.Context, run *v1alpha1.AnalysisRun, m v1alpha1.Metric, index int, now time.Time) v1alpha1.Measurement {
	started := metav1.NewTime(now)
	meas := v1alpha1.Measurement{Phase: v1alpha1.AnalysisPhaseRunning, StartedAt: &started}
	spec := m.Provider.Job
	if spec == nil {
		return finish(meas, now, v1alpha1.AnalysisPhaseError, "metric has no job provider")
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(run, m.Name, index),
			Namespace:       run.Namespace,
			Labels:          map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(run, v1alpha1.GroupVersion.WithKind("AnalysisRun"))},
		},
		Spec: *spec.Spec.DeepCopy(),
	}
	for k, v := range spec.Metadata.Labels {
		job.Labels[k] = v
	}
	for k, v := range spec.Metadata.Annotations {
		job.Annotations[k] = v
	}
	job.Labels[LabelRunUID] = string(run.UID)
	job.Labels[LabelRun] = truncateLabel(run.Name)
	job.Labels[LabelMetric] = truncateLabel(m.Name)
	if p.Sharded {
		// Last, so that no label from the metric's metadata can move the
		// Job out of its run's shard.
		shard.Label(&job.ObjectMeta, &job.Spec.Template, run.Labels[shard.LabelBucket])
	}
	if job.Spec.ActiveDeadlineSeconds == nil {
		d := int64(DefaultDeadline / time.Second)
		job.Spec.ActiveDeadlineSeconds = &d
	}
	start := time.Now()
	err := p.Client.Create(ctx, job)
	if apierrors.IsAlreadyExists(err) {
		// A crash after the create and before the status write: the Job is
		// this measurement's if it carries this run's and metric's labels;
		// pick it up instead of failing.
		var existing batchv1.Job
		if gerr := p.get(ctx, client.ObjectKeyFromObject(job), &existing); gerr != nil {
			err = fmt.Errorf("reading the existing Job: %w", gerr)
		} else if existing.Labels[LabelRunUID] == string(run.UID) && existing.Labels[LabelMetric] == job.Labels[LabelMetric] {
			err = nil
		} else {
			err = fmt.Errorf("a Job named %s exists and belongs to another measurement", job.Name)
		}
	}
	metricproviders.Observe(Name, start, err)
	if err != nil {
		return finish(meas, now, v1alpha1.AnalysisPhaseError, fmt.Sprintf("creating Job %s: %v", job.Name, err))
	}
	meas.Metadata = map[string]string{MetadataJobName: job.Name}
	resume := metav1.NewTime(now.Add(checkEvery))
	meas.ResumeAt = &resume
	return meas
}

// Check looks at the Job of an in-flight measurement.
func (p *Provider) Check(ctx context.Context, run *v1alpha1.AnalysisRun, meas v1alpha1.Measurement, now time.Time) v1alpha1.Measurement {
	name := meas.Metadata[MetadataJobName]
	var job batchv1.Job
	start := time.Now()
	err := p.get(ctx, types.NamespacedName{Namespace: run.Namespace, Name: name}, &job)
	metricproviders.Observe(Name, start, err)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return finish(meas, now, v1alpha1.AnalysisPhaseError, fmt.Sprintf("Job %s was deleted before it finished", name))
		}
		return finish(meas, now, v1alpha1.AnalysisPhaseError, fmt.Sprintf("reading Job %s: %v", name, err))
	}
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return finish(meas, now, v1alpha1.AnalysisPhaseSuccessful, fmt.Sprintf("Job %s completed", name))
		case batchv1.JobFailed:
			return finish(meas, now, v1alpha1.AnalysisPhaseFailed, fmt.Sprintf("Job %s failed: %s", name, strings.TrimSpace(c.Reason+" "+c.Message)))
		}
	}
	resume := metav1.NewTime(now.Add(checkEvery))
	meas.ResumeAt = &resume
	return meas
}

// get reads a Job from the cache, or from the API server when the cache
// does not hold it (see APIReader).
func (p *Provider) get(ctx context.Context, key types.NamespacedName, job *batchv1.Job) error {
	err := p.Client.Get(ctx, key, job)
	if apierrors.IsNotFound(err) && p.APIReader != nil {
		if err = p.APIReader.Get(ctx, key, job); err != nil {
			return fmt.Errorf("not in the cache, and from the API server: %w", err)
		}
	}
	return err
}

// Terminate stops an in-flight measurement: its Job and Pods are deleted and
// the measurement ends Inconclusive, since the test never finished (the
// release it measured was over, or another metric had already decided).
// This is what the reference documents for a Job cut short; its code
// records such a measurement as Successful.
func (p *Provider) Terminate(ctx context.Context, run *v1alpha1.AnalysisRun, meas v1alpha1.Measurement, now time.Time) v1alpha1.Measurement {
	name := meas.Metadata[MetadataJobName]
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: run.Namespace, Name: name}}
	start := time.Now()
	err := client.IgnoreNotFound(p.Client.Delete(ctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	metricproviders.Observe(Name, start, err)
	if err != nil {
		return finish(meas, now, v1alpha1.AnalysisPhaseError, fmt.Sprintf("deleting Job %s: %v", name, err))
	}
	return finish(meas, now, v1alpha1.AnalysisPhaseInconclusive, fmt.Sprintf("Job %s deleted before it finished: the run was terminated", name))
}

func finish(m v1alpha1.Measurement, now time.Time, phase v1alpha1.AnalysisPhase, msg string) v1alpha1.Measurement {
	t := metav1.NewTime(now)
	m.Phase, m.Message, m.FinishedAt, m.ResumeAt = phase, msg, &t, nil
	return m
}

func truncateLabel(s string) string {
	if len(s) > 63 {
		return strings.TrimRight(s[:63], ".-_")
	}
	return s
}
