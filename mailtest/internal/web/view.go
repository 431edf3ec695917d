package web

import (
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// setUntrustedHeaders marks a response that carries message content: it
// may not run script, load anything, be sniffed into another type or be
// framed by another site. The CSP sandbox gives it an opaque origin, so
// even a browser that ignored the rest could not reach the API as the
// inbox's origin.
func setUntrustedHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox; frame-ancestors 'self'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("Cache-Control", "no-store")
}

// htmlCSP is the policy of a message's HTML: no script, no plugins, no
// forms, no <base>; styles inline only; images from the message itself
// (cid: parts, served by this handler) and data: URLs, and remote ones
// only when the page asks for them with ?remote=1.
func htmlCSP(self string, remote bool) string {
	img := "'self' " + self + " data:"
	if remote {
		img += " http: https:"
	}
	return "default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src " + img +
		"; media-src 'none'; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox"
}

var (
	cidRef = regexp.MustCompile(`(?i)\bcid:([^"'\s)>]+)`)
	// A refresh <meta> can navigate the frame; the frame's sandbox stops
	// it reaching the inbox, but a mail client should not follow it at all.
	httpEquiv = regexp.MustCompile(`(?i)http-equiv\s*=`)
)

// view answers /view/{ID}.html (the HTML part) and /view/{ID}.txt (the
// text part); ID may be "latest".
func (h *Handler) view(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	idPart, ext, _ := strings.Cut(file, ".")
	if ext != "html" && ext != "txt" {
		http.NotFound(w, r)
		return
	}
	r.SetPathValue("id", idPart)
	m, ok := h.lookup(r)
	if !ok {
		notFound(w)
		return
	}
	setUntrustedHeaders(w)
	if ext == "txt" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte(m.Text))
		return
	}
	if m.HTML == "" {
		http.Error(w, "message has no HTML part", http.StatusNotFound)
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	self := scheme + "://" + r.Host
	w.Header().Set("Content-Security-Policy", htmlCSP(self, r.URL.Query().Get("remote") == "1"))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(rewriteHTML(m)))
}

// rewriteHTML points cid: references at the part endpoint and disarms
// http-equiv.
func rewriteHTML(m *Mail) string {
	byCID := map[string]string{}
	for _, list := range [][]Part{m.Inline, m.Attachments} {
		for _, p := range list {
			if p.ContentID != "" {
				byCID[p.ContentID] = p.PartID
			}
		}
	}
	html := cidRef.ReplaceAllStringFunc(m.HTML, func(ref string) string {
		cid := ref[len("cid:"):]
		if part, ok := byCID[cid]; ok {
			return "/api/v1/message/" + idString(m.ID) + "/part/" + part
		}
		return ref
	})
	return httpEquiv.ReplaceAllString(html, "data-blocked-http-equiv=")
}

// safeTypes may be served with their own type: a browser shows them but
// runs nothing in them. Anything else (HTML, SVG, XML, JavaScript) is
// served as application/octet-stream.
var safeTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true, "image/bmp": true,
	"image/avif": true, "image/x-icon": true, "application/pdf": true, "text/plain": true, "text/csv": true,
	"audio/mpeg": true, "audio/ogg": true, "audio/wav": true, "video/mp4": true, "video/webm": true,
	"application/zip": true, "application/json": true, "text/calendar": true,
}

// part answers /api/v1/message/{ID}/part/{PartID} with the decoded part,
// as a download.
func (h *Handler) part(w http.ResponseWriter, r *http.Request) {
	m, ok := h.lookup(r)
	if !ok {
		notFound(w)
		return
	}
	want := r.PathValue("part")
	for _, list := range [][]Part{m.Inline, m.Attachments} {
		for _, p := range list {
			if p.PartID != want {
				continue
			}
			setUntrustedHeaders(w)
			ct := strings.ToLower(p.ContentType)
			if !safeTypes[ct] {
				ct = "application/octet-stream"
			} else if strings.HasPrefix(ct, "text/") {
				ct += "; charset=utf-8"
			}
			w.Header().Set("Content-Type", ct)
			name := p.FileName
			if name == "" {
				name = "part-" + p.PartID
			}
			disp := mime.FormatMediaType("attachment", map[string]string{"filename": name})
			if disp == "" {
				disp = "attachment" // a name mime cannot encode
			}
			w.Header().Set("Content-Disposition", disp)
			w.Header().Set("Content-Length", strconv.Itoa(len(p.Data)))
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(p.Data)
			return
		}
	}
	http.Error(w, "part not found", http.StatusNotFound)
}
