package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"k8s.io/client-go/rest"
)

// Scraper fetches a Prometheus text-format metrics page.
type Scraper interface {
	Scrape(ctx context.Context) ([]byte, error)
}

// ScraperFunc adapts a function to Scraper.
type ScraperFunc func(ctx context.Context) ([]byte, error)

// Scrape calls f.
func (f ScraperFunc) Scrape(ctx context.Context) ([]byte, error) { return f(ctx) }

// textFormat asks for the classic text format; without it promhttp could
// answer in protobuf or OpenMetrics, which ParseMetric does not read.
const textFormat = "text/plain;version=0.0.4"

// HTTPScraper scrapes a plain HTTP metrics URL, such as the controller's
// --metrics-bind-address.
func HTTPScraper(url string, hc *http.Client) Scraper {
	if hc == nil {
		hc = http.DefaultClient
	}
	return ScraperFunc(func(ctx context.Context) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, fmt.Errorf("scraping %s: %w", url, err)
		}
		req.Header.Set("Accept", textFormat)
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("scraping %s: %w", url, err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, fmt.Errorf("scraping %s: %w", url, err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("scraping %s: HTTP %d", url, resp.StatusCode)
		}
		return body, nil
	})
}

// APIServerScraper scrapes the API server's own /metrics through a REST
// client of the kubeconfig, so it works wherever the kubeconfig's
// credentials may GET the non-resource URL /metrics.
func APIServerScraper(rc rest.Interface) Scraper {
	return ScraperFunc(func(ctx context.Context) ([]byte, error) {
		b, err := rc.Get().AbsPath("/metrics").SetHeader("Accept", textFormat).DoRaw(ctx)
		if err != nil {
			return nil, fmt.Errorf("scraping the API server's /metrics: %w", err)
		}
		return b, nil
	})
}
