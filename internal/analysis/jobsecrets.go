package analysis

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

// secretEnvPrefix starts the names of the environment variables through
// which a measurement Job's containers receive arguments from Secrets.
const secretEnvPrefix = "KANARIA_SECRET_ARG_"

// envUnsafe matches what an environment variable name cannot hold.
var envUnsafe = regexp.MustCompile(`[^A-Za-z0-9_]`)

// secretEnvName is the variable that carries the secret argument name.
func secretEnvName(name string) string {
	return secretEnvPrefix + strings.ToUpper(envUnsafe.ReplaceAllString(name, "_"))
}

// referenceJobSecrets keeps a Job metric's arguments from Secrets out of
// the Job: a Job, its Pods and their specs are readable by anyone who may
// list them, so writing a secret value there would publish it. In the
// containers' command, args and env values, a placeholder of a secret
// argument becomes $(VAR), which the kubelet expands from an environment
// variable VAR that references the same Secret key. A secret argument
// anywhere else in the Job cannot be passed without writing its value, and
// is an error that names it.
func referenceJobSecrets(m v1alpha1.Metric, run *v1alpha1.AnalysisRun) (v1alpha1.Metric, error) {
	if m.Provider.Job == nil {
		return m, nil
	}
	refs := map[string]*v1alpha1.SecretKeyRef{}
	for _, a := range run.Spec.Args {
		if a.ValueFrom != nil && a.ValueFrom.SecretKeyRef != nil {
			refs[a.Name] = a.ValueFrom.SecretKeyRef
		}
	}
	if len(refs) == 0 {
		return m, nil
	}
	m = *m.DeepCopy()
	pod := &m.Provider.Job.Spec.Template.Spec
	for _, list := range [][]corev1.Container{pod.InitContainers, pod.Containers} {
		for i := range list {
			referenceContainerSecrets(&list[i], refs)
		}
	}
	b, err := json.Marshal(m.Provider.Job)
	if err != nil {
		return m, fmt.Errorf("encoding the Job of metric %q: %w", m.Name, err)
	}
	var left []string
	for _, match := range placeholder.FindAllSubmatch(b, -1) {
		if name := string(match[1]); refs[name] != nil && !slices.Contains(left, name) {
			left = append(left, name)
		}
	}
	if len(left) > 0 {
		sort.Strings(left)
		return m, fmt.Errorf("metric %q uses argument(s) %s from a Secret outside its containers' command, args and env values; there it would be written into the Job in clear", m.Name, strings.Join(left, ", "))
	}
	return m, nil
}

// referenceContainerSecrets rewrites one container's secret placeholders
// into variable references and prepends the variables, so that env values
// after them may refer to them too.
func referenceContainerSecrets(c *corev1.Container, refs map[string]*v1alpha1.SecretKeyRef) {
	used := map[string]bool{}
	rewrite := func(s string) string {
		return placeholder.ReplaceAllStringFunc(s, func(match string) string {
			name := placeholder.FindStringSubmatch(match)[1]
			if refs[name] == nil {
				return match
			}
			used[name] = true
			return "$(" + secretEnvName(name) + ")"
		})
	}
	for i := range c.Command {
		c.Command[i] = rewrite(c.Command[i])
	}
	for i := range c.Args {
		c.Args[i] = rewrite(c.Args[i])
	}
	for i := range c.Env {
		if c.Env[i].ValueFrom == nil {
			c.Env[i].Value = rewrite(c.Env[i].Value)
		}
	}
	if len(used) == 0 {
		return
	}
	names := make([]string, 0, len(used))
	for name := range used {
		names = append(names, name)
	}
	sort.Strings(names)
	vars := make([]corev1.EnvVar, 0, len(names)+len(c.Env))
	for _, name := range names {
		ref := refs[name]
		vars = append(vars, corev1.EnvVar{Name: secretEnvName(name), ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: ref.Name}, Key: ref.Key},
		}})
	}
	c.Env = append(vars, c.Env...)
}
