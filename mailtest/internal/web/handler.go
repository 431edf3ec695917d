// Package web is mailrig's web inbox and JSON API over HTTP: routing,
// security checks, Mailpit-compatible JSON shapes, the search syntax and
// live events. It knows nothing about mail storage: a Backend, which
// package mailtest implements, answers every question about mail.
//
// Endpoints (IDs are decimal strings; success is 200; PUT and DELETE
// answer "ok"):
//
//	GET    /                                  the inbox page (embedded ui/)
//	GET    /view/{ID}.html | .txt             HTML part (CSP sandbox, ?remote=1) | text part
//	GET    /api/v1/messages ?start&limit&user&mailbox     MessagesResponse
//	PUT    /api/v1/messages {IDs, Read, Search}           mark read/unread (no IDs: all)
//	DELETE /api/v1/messages {IDs}                         delete (no IDs: all)
//	GET    /api/v1/search ?query&start&limit&user&mailbox MessagesResponse
//	DELETE /api/v1/search ?query                          delete matches
//	GET    /api/v1/message/{ID|latest}                    MessageResponse; marks read
//	GET    /api/v1/message/{ID}/headers | raw | part/{PartID} | transcript
//	POST   /api/v1/send SendRequest                       {ID}
//	GET    /api/v1/info                                   Info
//	GET    /api/v1/wait ?query&count&timeout&user&mailbox 200 or 408, MessagesResponse
//	POST   /api/v1/inboxes                                Inbox
//	GET    /api/v1/users                                  []User
//	GET    /api/v1/users/{address}/imap | pop3            IMAPView | POP3View
//	GET|POST|DELETE /api/v1/faults (?id= for DELETE)      []Fault | Fault | ok
//	GET    /api/events                                    WebSocket of Event frames
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
)

//go:embed ui
var uiFiles embed.FS

// Config configures a Handler.
type Config struct {
	// Hosts are host names accepted in the Host and Origin headers besides
	// localhost, 127.0.0.1 and [::1] (any port).
	Hosts []string
	// Username and Password, if Username is set, require HTTP basic auth
	// on every request.
	Username, Password string
	// MaxSendBytes bounds the body of POST /api/v1/send; other request
	// bodies are bounded by 1 MiB.
	MaxSendBytes int64
	// Version is reported by /api/v1/info and the stats event.
	Version string
}

const maxBodyBytes = 1 << 20

// Handler serves the web inbox and the API. Close ends its WebSockets
// and waits.
type Handler struct {
	b     Backend
	cfg   Config
	hosts map[string]bool
	mux   *http.ServeMux

	ctx    context.Context // canceled by Close; long requests end with it
	cancel context.CancelFunc
	active sync.WaitGroup

	waitWatching func() // test hook: a wait has registered its watcher
}

// New returns a handler over b.
func New(b Backend, cfg Config) *Handler {
	if cfg.MaxSendBytes <= 0 {
		cfg.MaxSendBytes = 32 << 20
	}
	if cfg.Version == "" {
		cfg.Version = "mailrig"
	}
	h := &Handler{b: b, cfg: cfg, hosts: map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}}
	for _, n := range cfg.Hosts {
		h.hosts[strings.ToLower(strings.TrimSuffix(n, "."))] = true
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.routes()
	return h
}

// Close ends open WebSockets and waits, and makes long requests (wait)
// return; it waits for them to finish.
func (h *Handler) Close() {
	h.cancel()
	h.active.Wait()
}

func (h *Handler) routes() {
	m := http.NewServeMux()
	ui, _ := fs.Sub(uiFiles, "ui")
	static := http.FileServerFS(ui)
	m.Handle("GET /", pageHeaders(static))

	m.HandleFunc("GET /api/v1/messages", h.listMessages)
	m.HandleFunc("PUT /api/v1/messages", h.setRead)
	m.HandleFunc("DELETE /api/v1/messages", h.deleteMessages)
	m.HandleFunc("GET /api/v1/search", h.search)
	m.HandleFunc("DELETE /api/v1/search", h.deleteSearch)
	m.HandleFunc("GET /api/v1/message/{id}", h.message)
	m.HandleFunc("GET /api/v1/message/{id}/headers", h.headers)
	m.HandleFunc("GET /api/v1/message/{id}/raw", h.raw)
	m.HandleFunc("GET /api/v1/message/{id}/part/{part}", h.part)
	m.HandleFunc("GET /api/v1/message/{id}/transcript", h.transcript)
	m.HandleFunc("GET /view/{file}", h.view)
	m.HandleFunc("POST /api/v1/send", h.send)
	m.HandleFunc("GET /api/v1/info", h.info)
	m.HandleFunc("GET /api/v1/wait", h.wait)
	m.HandleFunc("POST /api/v1/inboxes", h.newInbox)
	m.HandleFunc("GET /api/v1/users", h.users)
	m.HandleFunc("GET /api/v1/users/{address}/imap", h.imapView)
	m.HandleFunc("GET /api/v1/users/{address}/pop3", h.pop3View)
	m.HandleFunc("GET /api/v1/faults", h.faults)
	m.HandleFunc("POST /api/v1/faults", h.addFault)
	m.HandleFunc("DELETE /api/v1/faults", h.removeFault)
	m.HandleFunc("GET /api/events", h.events)
	h.mux = m
}

// pageHeaders sets the headers of the inbox page and its assets.
func pageHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Content-Security-Policy", "frame-ancestors 'self'")
		w.Header().Set("Cache-Control", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP checks Host, credentials and Origin, then routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// A page on another site that rebinds its DNS name to 127.0.0.1 sends
	// its own name as Host: refusing unknown names defeats that.
	if !h.allowedHost(r.Host) {
		http.Error(w, "forbidden: unknown Host "+r.Host, http.StatusForbidden)
		return
	}
	if h.cfg.Username != "" {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(h.cfg.Username)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(h.cfg.Password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="mailrig", charset="UTF-8"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
	}
	origin := r.Header.Get("Origin")
	if origin != "" {
		if !h.allowedOrigin(origin) {
			// Reads from another site are harmless without CORS headers,
			// but changes and the WebSocket are not: refuse them.
			if stateChanging(r) {
				http.Error(w, "forbidden: cross-site request from "+origin, http.StatusForbidden)
				return
			}
		} else {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Add("Vary", "Origin")
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE")
				w.Header().Set("Access-Control-Allow-Headers", "Content-Type, Authorization")
				w.WriteHeader(http.StatusOK)
				return
			}
		}
	}
	limit := int64(maxBodyBytes)
	if r.URL.Path == "/api/v1/send" {
		limit = h.cfg.MaxSendBytes
	}
	if r.ContentLength > limit {
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	h.mux.ServeHTTP(w, r)
}

func stateChanging(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
	}
	return true
}

func (h *Handler) allowedHost(hostport string) bool {
	host := hostport
	if hp, _, err := net.SplitHostPort(hostport); err == nil {
		host = hp
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	return h.hosts[strings.ToLower(host)]
}

func (h *Handler) allowedOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false
	}
	return h.allowedHost(u.Host)
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v) // the client may be gone; nothing to do about it
}

// writeOK answers 200 with the text "ok", as Mailpit does for changes.
func writeOK(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("ok"))
}

// writeError answers with the status err calls for.
func writeError(w http.ResponseWriter, err error) {
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
	case errors.Is(err, ErrNotFound):
		http.Error(w, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrInvalid):
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func badRequest(w http.ResponseWriter, msg string) {
	http.Error(w, msg, http.StatusBadRequest)
}

// decodeBody reads a JSON body into v. An empty body leaves v as it is.
func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}
