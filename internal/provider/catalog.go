package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"path"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Catalog is what a provider serves beyond its fixed Models list: a family of name
// patterns ("claude-*", "gpt-*", "o[0-9]*") and the names learned from the upstream's
// own model list. A list fixed at build time is always behind the vendor's releases
// and dated snapshots; the family keeps today's agents' default names working, and
// the learned list adds what the family misses (fine-tunes, new prefixes).
//
// Lookups are lock-free: Learn swaps the whole set, so the request path never waits
// on a refresh (which runs in the background, never per request).
type Catalog struct {
	patterns []string
	learned  atomic.Pointer[learnedSet]
}

type learnedSet struct {
	names map[string]struct{}
	at    time.Time
}

// NewCatalog returns a catalog over path.Match patterns ('*' any run of characters
// without '/', "[0-9]" a class). A nil *Catalog serves nothing.
func NewCatalog(patterns []string) *Catalog {
	return &Catalog{patterns: slices.Clone(patterns)}
}

// Serves reports whether model is in the learned list or matches a pattern. The
// pattern stays the fallback even once a list is learned: Anthropic's list names only
// dated ids, yet its aliases ("claude-sonnet-4-5") are served too.
func (c *Catalog) Serves(model string) bool {
	if c == nil || model == "" {
		return false
	}
	if s := c.learned.Load(); s != nil {
		if _, ok := s.names[model]; ok {
			return true
		}
	}
	for _, p := range c.patterns {
		if ok, _ := path.Match(p, model); ok {
			return true
		}
	}
	return false
}

// Learn replaces the learned names (an empty list keeps the previous one: an upstream
// answering with nothing is more likely broken than empty).
func (c *Catalog) Learn(names []string, at time.Time) {
	if c == nil || len(names) == 0 {
		return
	}
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		set[n] = struct{}{}
	}
	c.learned.Store(&learnedSet{names: set, at: at})
}

// Patterns returns the family patterns (for `providers list` and the banner).
func (c *Catalog) Patterns() []string {
	if c == nil {
		return nil
	}
	return c.patterns
}

// Learned returns how many names were learned and when (zero time: none yet).
func (c *Catalog) Learned() (int, time.Time) {
	if c == nil {
		return 0, time.Time{}
	}
	s := c.learned.Load()
	if s == nil {
		return 0, time.Time{}
	}
	return len(s.names), s.at
}

// Families are the name patterns a provider of each vendor kind serves when its
// configuration lists no models: every model the vendor releases, dated snapshots
// included, without a Runestone release.
var Families = map[string][]string{
	"openai": {"gpt-*", "chatgpt-*", "o[0-9]*", "codex-*", "text-embedding-*", "omni-moderation-*",
		"text-moderation-*", "computer-use-*", "davinci-*", "babbage-*", "ft:*"},
	"anthropic": {"claude-*"},
}

// ModelLister is implemented by providers whose upstream lists its models
// (GET /v1/models): the gateway learns that list in the background into the
// provider's Catalog.
type ModelLister interface {
	ListModels(ctx context.Context) ([]string, error)
	Catalog() *Catalog
}

// maxListPages bounds a paginated model list: a misbehaving upstream that always says
// has_more must not keep the refresh busy for ever.
const maxListPages = 20

// ListModelIDs reads the ids of an OpenAI- or Anthropic-style model list at url
// ({"data":[{"id":…}], "has_more", "last_id"}), following Anthropic's pages with
// after_id. The header carries the upstream's credentials.
func ListModelIDs(ctx context.Context, c *http.Client, url string, h http.Header) ([]string, error) {
	var ids []string
	next := url
	for range maxListPages {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, next, nil)
		if err != nil {
			return nil, err
		}
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := c.Do(req)
		if err != nil {
			return nil, err
		}
		var page struct {
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			HasMore bool   `json:"has_more"`
			LastID  string `json:"last_id"`
		}
		err = json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&page)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		for _, d := range page.Data {
			if d.ID != "" {
				ids = append(ids, d.ID)
			}
		}
		if !page.HasMore || page.LastID == "" {
			return ids, nil
		}
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		next = url + sep + "after_id=" + neturl.QueryEscape(page.LastID)
	}
	return ids, nil
}
