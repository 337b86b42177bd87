package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// PageData is what a page template sees. Message is plain text; html/template
// escapes it.
type PageData struct {
	App        string
	Mode       string
	Title      string
	Message    string
	Status     int
	RetryAfter int    // seconds
	Until      string // RFC 3339, empty when unknown
	UntilText  string // e.g. "Mon, 01 Dec 2026 03:00 UTC", empty when unknown
}

type pageRenderer struct {
	tmpl   *template.Template
	custom bool
	// last caches the newest rendering: during maintenance every request
	// asks for the same page, and rendering a template in Yaegi costs far
	// more than a lookup.
	last atomic.Value // *renderedPage
}

type renderedPage struct {
	key  PageData
	json bool
	body []byte
}

func newPageRenderer(inline, file string) (*pageRenderer, error) {
	if inline != "" && file != "" {
		return nil, fmt.Errorf("berth: set template or templateFile, not both")
	}
	src, field := defaultPageTemplate, ""
	if inline != "" {
		src, field = inline, "template"
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("berth: invalid templateFile: %v", err)
		}
		src, field = string(b), "templateFile"
	}
	t, err := template.New("page").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("berth: invalid %s: %v", field, err)
	}
	if field != "" {
		// Render once with sample data so a template that fails at run time
		// (a missing field, say) is caught now, not on the first outage.
		var buf bytes.Buffer
		if err := t.Execute(&buf, PageData{App: "app", Mode: "maintenance", Title: "t", Message: "m", Status: 503, RetryAfter: 1}); err != nil {
			return nil, fmt.Errorf("berth: invalid %s: %v", field, err)
		}
	}
	return &pageRenderer{tmpl: t, custom: field != ""}, nil
}

// body returns the page for d, from the cache when d is what was rendered last.
func (p *pageRenderer) body(d PageData, asJSON bool) []byte {
	if c, ok := p.last.Load().(*renderedPage); ok && c.json == asJSON && c.key == d {
		return c.body
	}
	var body []byte
	if asJSON {
		body, _ = json.Marshal(pageJSON{
			Status: d.Status, App: d.App, Mode: d.Mode, Message: d.Message,
			RetryAfter: d.RetryAfter, Until: d.Until,
		})
		body = append(body, '\n')
	} else {
		body = p.render(d)
	}
	p.last.Store(&renderedPage{key: d, json: asJSON, body: body})
	return body
}

var fallbackPage = template.Must(template.New("page").Parse(defaultPageTemplate))

func (p *pageRenderer) render(d PageData) []byte {
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, d); err != nil {
		logError("berth[%s]: page template failed, serving the default page: %v", d.App, err)
		buf.Reset()
		_ = fallbackPage.Execute(&buf, d)
	}
	return buf.Bytes()
}

// pageInfo says which page to serve and until when.
type pageInfo struct {
	mode    Mode
	message string
	until   time.Time
}

// preparedPage is a page response ready to write: computing it costs many
// interpreted steps, so the middleware keeps the newest one and writes it
// while the published state is unchanged.
type preparedPage struct {
	countdown     bool  // Retry-After counts down to an end time...
	second        int64 // ...and was computed in this Unix second
	status        int
	retryAfter    []string
	contentType   []string
	contentLength []string
	mode          []string
	body          []byte
}

var (
	cacheNoStore    = []string{"no-store"}
	contentTypeHTML = []string{"text/html; charset=utf-8"}
	contentTypeJSON = []string{"application/json; charset=utf-8"}
)

// preparePage computes the page for info: the configured status,
// Retry-After, and HTML or JSON.
func (s *settings) preparePage(info pageInfo, now time.Time, asJSON bool) *preparedPage {
	retry := s.retryAfter
	countdown := !info.until.IsZero() && info.until.After(now)
	if countdown {
		retry = info.until.Sub(now)
	}
	secs := int((retry + time.Second - 1) / time.Second)
	if secs < 1 {
		secs = 1
	}
	d := PageData{
		App:        s.app,
		Mode:       string(info.mode),
		Message:    info.message,
		Status:     s.status,
		RetryAfter: secs,
	}
	if d.Message == "" {
		d.Message = s.message
		if info.mode == ModeUnavailable {
			d.Message = s.unavailableMessage
		}
	}
	d.Title = "Down for maintenance"
	if info.mode == ModeUnavailable {
		d.Title = "Temporarily unavailable"
	}
	if !info.until.IsZero() {
		d.Until = info.until.UTC().Format(time.RFC3339)
		d.UntilText = info.until.UTC().Format("Mon, 02 Jan 2006 15:04 MST")
	}
	p := &preparedPage{
		countdown:   countdown,
		second:      now.Unix(),
		status:      s.status,
		retryAfter:  []string{strconv.Itoa(secs)},
		contentType: contentTypeHTML,
		mode:        []string{string(info.mode)},
		body:        s.page.body(d, asJSON),
	}
	if asJSON {
		p.contentType = contentTypeJSON
	}
	p.contentLength = []string{strconv.Itoa(len(p.body))}
	return p
}

// writePage writes p; HEAD gets the headers only. Assigning the prepared
// slices directly is the cheapest way to set headers under Yaegi.
func writePage(w http.ResponseWriter, r *http.Request, p *preparedPage) {
	h := w.Header()
	h["Retry-After"] = p.retryAfter
	h["Cache-Control"] = cacheNoStore
	h["Content-Type"] = p.contentType
	h["Content-Length"] = p.contentLength
	h["X-Berth-Mode"] = p.mode
	w.WriteHeader(p.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(p.body)
	}
}

// servePage answers with the maintenance or unavailable page.
func (s *settings) servePage(w http.ResponseWriter, r *http.Request, info pageInfo, now time.Time) {
	writePage(w, r, s.preparePage(info, now, wantsJSON(s, r.Header.Get("Accept"))))
}

type acceptMemo struct {
	accept string
	json   bool
}

// wantsJSON is prefersJSON with a one-entry memo: browsers send the same
// Accept header on every request.
func wantsJSON(s *settings, accept string) bool {
	if accept == "" {
		return false
	}
	if m, ok := s.accept.Load().(*acceptMemo); ok && m.accept == accept {
		return m.json
	}
	j := prefersJSON(accept)
	s.accept.Store(&acceptMemo{accept: accept, json: j})
	return j
}

type pageJSON struct {
	Status     int    `json:"status"`
	App        string `json:"app"`
	Mode       string `json:"mode"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retry_after"`
	Until      string `json:"until,omitempty"`
}

// prefersJSON compares the client's weights for HTML and JSON; a missing
// Accept header, */* alone or a tie with an explicit text/html gets HTML.
func prefersJSON(accept string) bool {
	if accept == "" {
		return false
	}
	htmlQ, jsonQ, anyQ := -1.0, -1.0, -1.0
	for _, part := range strings.Split(accept, ",") {
		fields := strings.Split(part, ";")
		media := strings.ToLower(strings.TrimSpace(fields[0]))
		q := 1.0
		for _, p := range fields[1:] {
			p = strings.TrimSpace(p)
			if strings.HasPrefix(p, "q=") {
				if v, err := strconv.ParseFloat(p[2:], 64); err == nil {
					q = v
				}
			}
		}
		switch {
		case media == "text/html" || media == "application/xhtml+xml":
			if q > htmlQ {
				htmlQ = q
			}
		case media == "application/json" || strings.HasSuffix(media, "+json"):
			if q > jsonQ {
				jsonQ = q
			}
		case media == "*/*" || media == "text/*":
			if q > anyQ {
				anyQ = q
			}
		}
	}
	if htmlQ < 0 {
		// HTML only through a wildcard: a client that names JSON but not
		// HTML prefers JSON at equal weight (axios sends
		// "application/json, text/plain, */*").
		return jsonQ > 0 && jsonQ >= anyQ
	}
	return jsonQ > 0 && jsonQ > htmlQ
}

// defaultPageTemplate is self-contained (no external fonts, scripts or
// images) so it renders while everything behind Traefik is down.
const defaultPageTemplate = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
{{if le .RetryAfter 300}}<meta http-equiv="refresh" content="{{.RetryAfter}}">{{end}}
<title>{{.Title}}</title>
<style>
:root{color-scheme:light dark;--bg:#f6f5f2;--card:#fff;--ink:#1d1d1f;--muted:#6b6b70;--accent:#c2410c;--line:#e6e3dc}
@media (prefers-color-scheme:dark){:root{--bg:#141414;--card:#1e1e20;--ink:#f2f2f3;--muted:#a1a1a6;--accent:#fb923c;--line:#2c2c2f}}
*{box-sizing:border-box}
html,body{height:100%;margin:0}
body{display:flex;align-items:center;justify-content:center;padding:24px;background:var(--bg);color:var(--ink);
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{width:100%;max-width:34rem;background:var(--card);border:1px solid var(--line);border-radius:16px;padding:40px 36px;
box-shadow:0 1px 2px rgba(0,0,0,.04),0 12px 32px rgba(0,0,0,.06)}
.icon{width:48px;height:48px;border-radius:12px;display:flex;align-items:center;justify-content:center;
background:color-mix(in srgb,var(--accent) 14%,transparent);color:var(--accent);margin-bottom:20px}
h1{font-size:1.6rem;line-height:1.25;margin:0 0 12px;letter-spacing:-.01em}
p{margin:0 0 12px;color:var(--muted)}
p.message{color:var(--ink);font-size:1.05rem}
.meta{margin-top:24px;padding-top:16px;border-top:1px solid var(--line);font-size:.875rem;color:var(--muted)}
@media (max-width:480px){main{padding:28px 22px;border-radius:12px}h1{font-size:1.35rem}}
</style>
</head>
<body>
<main>
<div class="icon" aria-hidden="true"><svg width="26" height="26" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M14.7 6.3a1 1 0 0 0 0 1.4l1.6 1.6a1 1 0 0 0 1.4 0l3.77-3.77a6 6 0 0 1-7.94 7.94l-6.91 6.91a2.12 2.12 0 0 1-3-3l6.91-6.91a6 6 0 0 1 7.94-7.94l-3.76 3.76z"/></svg></div>
<h1>{{.Title}}</h1>
<p class="message">{{.Message}}</p>
{{if .UntilText}}<p>We expect to be back by <time datetime="{{.Until}}">{{.UntilText}}</time>.</p>{{else if le .RetryAfter 300}}<p>This page will try again by itself in a moment.</p>{{else}}<p>Please check back a little later.</p>{{end}}
<div class="meta">{{.App}} &middot; HTTP {{.Status}}</div>
</main>
</body>
</html>
`
