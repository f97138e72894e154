package prometheus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/kanaria-rollouts/kanaria/api/v1alpha1"
)

const (
	// sigv4Service is the signing name of Amazon Managed Service for
	// Prometheus.
	sigv4Service = "aps"

	// maxChains bounds the transport cache. Keys include credentials, so
	// every rotation of a client secret adds one; without a bound a
	// long-lived controller would keep them all.
	maxChains = 64
)

// ampHost matches an Amazon Managed Prometheus workspace endpoint and
// captures its region, e.g. aps-workspaces.eu-west-1.amazonaws.com.
var ampHost = regexp.MustCompile(`^aps-workspaces\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$`)

// baseTransports returns the transport for verified TLS and the one for
// insecure: true. A caller-supplied transport that is not an
// *http.Transport cannot have verification turned off, so insecure metrics
// get insecureErr instead.
func baseTransports(rt http.RoundTripper) (secure, insecure http.RoundTripper, insecureErr error) {
	if rt == nil {
		rt = http.DefaultTransport.(*http.Transport).Clone()
	}
	t, ok := rt.(*http.Transport)
	if !ok {
		return rt, nil, errors.New("insecure: true is not supported by the controller's configured HTTP transport")
	}
	skip := t.Clone()
	if skip.TLSClientConfig == nil {
		skip.TLSClientConfig = &tls.Config{}
	}
	// The user asked for this with insecure: true, typically for a
	// self-signed in-cluster Prometheus.
	skip.TLSClientConfig.InsecureSkipVerify = true
	return t, skip, nil
}

// chainKey identifies one authenticating transport. It holds credentials
// only in memory, to find the cached chain again.
type chainKey struct {
	insecure                        bool
	sigv4                           bool
	region, profile, roleARN        string
	tokenURL, clientID, secret, scp string
}

// chain returns the (cached) transport that authenticates requests for pm,
// so that OAuth2 tokens and AWS credentials are reused across measurements
// instead of being fetched for every query.
func (p *Provider) chain(pm *v1alpha1.PrometheusMetric, u *url.URL) (http.RoundTripper, error) {
	s := pm.Authentication.Sigv4
	o := pm.Authentication.OAuth2
	// Upstream signs every request to an AMP workspace, with or without a
	// sigv4 block; an explicit block turns signing on for any address
	// (e.g. a VPC endpoint or a proxy).
	useSigv4 := s != (v1alpha1.Sigv4Config{}) || ampHost.MatchString(u.Hostname())
	useOAuth2 := o.TokenURL != "" || o.ClientID != "" || o.ClientSecret != "" || len(o.Scopes) > 0
	if useSigv4 && useOAuth2 {
		return nil, errors.New("authentication: set either sigv4 or oauth2, not both")
	}
	key := chainKey{insecure: pm.Insecure}
	if useSigv4 {
		key.sigv4, key.region, key.profile, key.roleARN = true, s.Region, s.Profile, s.RoleARN
	}
	if useOAuth2 {
		key.tokenURL, key.clientID, key.secret, key.scp = o.TokenURL, o.ClientID, o.ClientSecret, strings.Join(o.Scopes, "\x00")
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if rt, ok := p.chains[key]; ok {
		return rt, nil
	}
	base := p.secure
	if pm.Insecure {
		if p.insecureErr != nil {
			return nil, p.insecureErr
		}
		base = p.insecure
	}
	rt := base
	var err error
	switch {
	case useSigv4:
		if rt, err = newSigV4RoundTripper(s, u.Hostname(), base); err != nil {
			return nil, err
		}
	case useOAuth2:
		if rt, err = p.newOAuth2RoundTripper(o, base); err != nil {
			return nil, err
		}
	}
	if len(p.chains) >= maxChains {
		clear(p.chains)
	}
	p.chains[key] = rt
	return rt, nil
}

// headerRoundTripper adds the metric's custom headers (X-Scope-OrgID,
// Authorization, ...) to every request, including the GET a POST may fall
// back to.
type headerRoundTripper struct {
	headers []v1alpha1.WebMetricHeader
	next    http.RoundTripper
}

// RoundTrip sends req with the headers set on a copy, as RoundTrippers
// must not modify the request they are given.
func (h *headerRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	for _, hdr := range h.headers {
		if strings.EqualFold(hdr.Key, "Host") {
			// Go sends req.Host, not a Host header.
			req.Host = hdr.Value
			continue
		}
		req.Header.Set(hdr.Key, hdr.Value)
	}
	return h.next.RoundTrip(req)
}

// sigV4RoundTripper signs requests with AWS Signature Version 4 for Amazon
// Managed Prometheus.
type sigV4RoundTripper struct {
	signer *v4.Signer
	creds  aws.CredentialsProvider
	region string
	next   http.RoundTripper
}

// newSigV4RoundTripper resolves credentials with the SDK's standard chain
// (environment, shared files and profile, web identity/IRSA, ECS, IMDS),
// optionally assuming roleARN. The region comes from the sigv4 block, else
// the workspace hostname, else the SDK's usual sources (AWS_REGION, ...).
func newSigV4RoundTripper(cfg v1alpha1.Sigv4Config, host string, next http.RoundTripper) (http.RoundTripper, error) {
	region := cfg.Region
	if region == "" {
		if m := ampHost.FindStringSubmatch(host); m != nil {
			region = m[1]
		}
	}
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	if cfg.Profile != "" {
		opts = append(opts, awsconfig.WithSharedConfigProfile(cfg.Profile))
	}
	// Loading reads environment and files only; credentials are fetched
	// lazily on the first request, under that request's deadline.
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("sigv4: loading AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		return nil, errors.New("sigv4: no region: set authentication.sigv4.region or AWS_REGION")
	}
	if awsCfg.Credentials == nil {
		return nil, errors.New("sigv4: no AWS credentials provider configured")
	}
	creds := awsCfg.Credentials
	if cfg.RoleARN != "" {
		assume := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(awsCfg), cfg.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "kanaria-analysis"
		})
		creds = aws.NewCredentialsCache(assume)
	}
	return &sigV4RoundTripper{signer: v4.NewSigner(), creds: creds, region: awsCfg.Region, next: next}, nil
}

// RoundTrip signs a copy of req and sends it. The body is read to hash it,
// since SigV4 signs the payload, and replayed to the next transport.
func (s *sigV4RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		var err error
		body, err = io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("sigv4: reading request body: %w", err)
		}
	}
	creds, err := s.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("sigv4: retrieving AWS credentials: %w", err)
	}
	out := req.Clone(ctx)
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		out.ContentLength = int64(len(body))
	}
	sum := sha256.Sum256(body)
	if err := s.signer.SignHTTP(ctx, creds, out, hex.EncodeToString(sum[:]), sigv4Service, s.region, time.Now()); err != nil {
		return nil, fmt.Errorf("sigv4: signing request: %w", err)
	}
	return s.next.RoundTrip(out)
}

// newOAuth2RoundTripper gets bearer tokens with the client-credentials
// grant. The token source caches a token until shortly before it expires.
// The token endpoint is reached through the same base transport, so
// insecure: true applies to it too.
func (p *Provider) newOAuth2RoundTripper(cfg v1alpha1.OAuth2Config, base http.RoundTripper) (http.RoundTripper, error) {
	if cfg.TokenURL == "" || cfg.ClientID == "" {
		return nil, errors.New("oauth2: tokenUrl and clientId are required")
	}
	if u, err := url.Parse(cfg.TokenURL); err != nil || u.Host == "" {
		return nil, errors.New("oauth2: tokenUrl must be an absolute URL")
	}
	cc := clientcredentials.Config{
		ClientID:     cfg.ClientID,
		ClientSecret: cfg.ClientSecret,
		TokenURL:     cfg.TokenURL,
		Scopes:       cfg.Scopes,
	}
	// Token fetches run in the background of the request that needs the
	// token, with this context rather than the request's; the client's
	// own timeout keeps a stuck token endpoint from hanging them.
	tokenCtx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base, Timeout: p.defaultTimeout})
	return &oauth2.Transport{Source: cc.TokenSource(tokenCtx), Base: base}, nil
}
