package web

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Summary is one message of a listing, in Mailpit's MessageSummary shape.
// Empty address lists are null, as in Mailpit.
type Summary struct {
	ID          string
	MessageID   string
	Read        bool
	From        *Address
	To          []Address
	Cc          []Address
	Bcc         []Address
	ReplyTo     []Address
	Subject     string
	Created     time.Time
	Username    string
	Tags        []string
	Size        int64
	Attachments int
	Snippet     string
}

// MessagesResponse is the body of GET /api/v1/messages, /search and /wait.
type MessagesResponse struct {
	Total          int       `json:"total"`
	Unread         int       `json:"unread"`
	MessagesCount  int       `json:"messages_count"`
	MessagesUnread int       `json:"messages_unread"`
	Start          int       `json:"start"`
	Tags           []string  `json:"tags"`
	Messages       []Summary `json:"messages"`
}

// MessageResponse is the body of GET /api/v1/message/{ID}: Mailpit's
// Message, whose empty address lists are [], plus Read, Envelope, Links and
// Copies.
type MessageResponse struct {
	ID              string
	MessageID       string
	Read            bool
	From            *Address
	To              []Address
	Cc              []Address
	Bcc             []Address
	ReplyTo         []Address
	ReturnPath      string
	Subject         string
	ListUnsubscribe ListUnsubscribe
	Date            time.Time
	Created         time.Time
	Tags            []string
	Username        string
	Text            string
	HTML            string
	Size            int64
	Inline          []Attachment
	Attachments     []Attachment
	Envelope        Envelope
	Links           []string
	Copies          []Copy
}

// ListUnsubscribe is the List-Unsubscribe header, as Mailpit reports it.
type ListUnsubscribe struct {
	Header     string
	Links      []string
	Errors     string
	HeaderPost string
}

// Attachment is a part of MessageResponse, in Mailpit's shape.
type Attachment struct {
	PartID      string
	FileName    string
	ContentType string
	ContentID   string
	Size        int64
	Checksums   Checksums
}

// Checksums of an attachment's decoded content, hex-encoded.
type Checksums struct {
	MD5    string
	SHA1   string
	SHA256 string
}

func idString(id uint64) string { return strconv.FormatUint(id, 10) }

func summaryOf(it Item) Summary {
	m := it.Mail
	return Summary{
		ID: idString(m.ID), MessageID: m.MessageID, Read: it.Read, From: m.From,
		To: nilIfEmpty(m.To), Cc: nilIfEmpty(m.Cc), Bcc: nilIfEmpty(m.Bcc), ReplyTo: nilIfEmpty(m.ReplyTo),
		Subject: m.Subject, Created: m.Created, Username: m.Username, Tags: []string{},
		Size: m.Size, Attachments: len(m.Attachments), Snippet: snippet(m),
	}
}

func nilIfEmpty(a []Address) []Address {
	if len(a) == 0 {
		return nil
	}
	return a
}

func emptyIfNil(a []Address) []Address {
	if a == nil {
		return []Address{}
	}
	return a
}

// snippet is the start of the text (or the HTML without tags), with runs
// of white space made one space, at most 250 characters.
func snippet(m *Mail) string {
	const max = 250
	src, html := m.Text, false
	if strings.TrimSpace(src) == "" {
		src, html = m.HTML, true
	}
	var b strings.Builder
	b.Grow(min(len(src), max+8))
	space, inTag, n := false, false, 0
	for i := 0; i < len(src) && n < max; {
		r, size := rune(src[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(src[i:])
		}
		i += size
		if html {
			if r == '<' {
				inTag = true
				continue
			}
			if inTag {
				if r == '>' {
					inTag, space = false, true
				}
				continue
			}
		}
		if r == ' ' || r == '\n' || r == '\r' || r == '\t' || (r >= utf8.RuneSelf && unicode.IsSpace(r)) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
			n++
		}
		space = false
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// view reads the optional user and mailbox parameters.
func viewOf(r *http.Request) View {
	v := View{User: r.URL.Query().Get("user"), Mailbox: r.URL.Query().Get("mailbox")}
	if v.User != "" && v.Mailbox == "" {
		v.Mailbox = "INBOX"
	}
	return v
}

func paging(r *http.Request) (start, limit int, err error) {
	start, limit = 0, 50
	q := r.URL.Query()
	if s := q.Get("start"); s != "" {
		if start, err = strconv.Atoi(s); err != nil || start < 0 {
			return 0, 0, fmt.Errorf("invalid start %q", s)
		}
	}
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 0 {
			return 0, 0, fmt.Errorf("invalid limit %q", s)
		}
	}
	return start, limit, nil
}

// respond builds a listing: all is the whole view (oldest first), matched
// the messages the query selected, newest first from start.
func respond(all, matched []Item, start, limit int) MessagesResponse {
	resp := MessagesResponse{Total: len(all), MessagesCount: len(matched), Start: start, Tags: []string{}, Messages: []Summary{}}
	for _, it := range all {
		if !it.Read {
			resp.Unread++
		}
	}
	for _, it := range matched {
		if !it.Read {
			resp.MessagesUnread++
		}
	}
	for i := len(matched) - 1 - start; i >= 0 && len(resp.Messages) < limit; i-- {
		resp.Messages = append(resp.Messages, summaryOf(matched[i]))
	}
	return resp
}

func filter(items []Item, q Query) []Item {
	if q.Empty() {
		return items
	}
	var out []Item
	for _, it := range items {
		if q.Match(it) {
			out = append(out, it)
		}
	}
	return out
}

func (h *Handler) listMessages(w http.ResponseWriter, r *http.Request) {
	start, limit, err := paging(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	items, err := h.b.Messages(viewOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, respond(items, items, start, limit))
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	start, limit, err := paging(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	q, err := ParseQuery(r.URL.Query().Get("query"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	items, err := h.b.Messages(viewOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, respond(items, filter(items, q), start, limit))
}

func (h *Handler) deleteSearch(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("query")
	if strings.TrimSpace(raw) == "" {
		badRequest(w, "query is required")
		return
	}
	q, err := ParseQuery(raw)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	items, err := h.b.Messages(viewOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	ids := []uint64{}
	for _, it := range filter(items, q) {
		ids = append(ids, it.Mail.ID)
	}
	if len(ids) > 0 {
		h.b.Delete(ids)
	}
	writeOK(w)
}

// idsRequest is the body of PUT and DELETE /api/v1/messages.
type idsRequest struct {
	IDs    []string
	Read   bool
	Search string
}

func parseIDs(list []string) ([]uint64, error) {
	ids := make([]uint64, 0, len(list))
	for _, s := range list {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: invalid message ID %q", ErrInvalid, s)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (h *Handler) setRead(w http.ResponseWriter, r *http.Request) {
	var req idsRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	ids, err := parseIDs(req.IDs)
	if err != nil {
		writeError(w, err)
		return
	}
	if req.Search != "" {
		q, err := ParseQuery(req.Search)
		if err != nil {
			badRequest(w, err.Error())
			return
		}
		items, err := h.b.Messages(View{})
		if err != nil {
			writeError(w, err)
			return
		}
		for _, it := range filter(items, q) {
			ids = append(ids, it.Mail.ID)
		}
		if len(ids) == 0 {
			writeOK(w)
			return
		}
	}
	if len(ids) == 0 {
		ids = nil // all, as Mailpit does
	}
	h.b.SetRead(ids, req.Read)
	writeOK(w)
}

func (h *Handler) deleteMessages(w http.ResponseWriter, r *http.Request) {
	var req idsRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	ids, err := parseIDs(req.IDs)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(ids) == 0 {
		ids = nil
	}
	h.b.Delete(ids)
	writeOK(w)
}

// lookup finds the message named by the {id} path value: a number or
// "latest" (the newest received message).
func (h *Handler) lookup(r *http.Request) (*Mail, bool) {
	s := r.PathValue("id")
	if s == "latest" {
		items, err := h.b.Messages(View{})
		if err != nil || len(items) == 0 {
			return nil, false
		}
		return items[len(items)-1].Mail, true
	}
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, false
	}
	return h.b.Find(id)
}

func notFound(w http.ResponseWriter) { http.Error(w, "message not found", http.StatusNotFound) }

// message answers GET /api/v1/message/{ID} and marks the message read.
func (h *Handler) message(w http.ResponseWriter, r *http.Request) {
	m, ok := h.lookup(r)
	if !ok {
		notFound(w)
		return
	}
	d, _ := h.b.Details(m.ID)
	h.b.SetRead([]uint64{m.ID}, true)
	copies := h.b.Copies(m.ID)
	resp := MessageResponse{
		ID: idString(m.ID), MessageID: m.MessageID, Read: ReadFromCopies(copies), From: m.From,
		To: emptyIfNil(m.To), Cc: emptyIfNil(m.Cc), Bcc: emptyIfNil(m.Bcc), ReplyTo: emptyIfNil(m.ReplyTo),
		ReturnPath: m.ReturnPath, Subject: m.Subject, Date: m.Date, Created: m.Created,
		Tags: []string{}, Username: m.Username, Text: m.Text, HTML: m.HTML, Size: m.Size,
		Inline: attachments(m.Inline), Attachments: attachments(m.Attachments),
		Envelope: d.Envelope, Links: d.Links, Copies: copies,
	}
	if resp.Links == nil {
		resp.Links = []string{}
	}
	if resp.Envelope.Rcpts == nil {
		resp.Envelope.Rcpts = []string{}
	}
	if resp.Copies == nil {
		resp.Copies = []Copy{}
	}
	if v := d.Headers["List-Unsubscribe"]; len(v) > 0 {
		resp.ListUnsubscribe.Header = v[0]
		resp.ListUnsubscribe.Links = unsubscribeLinks(v[0])
	}
	if resp.ListUnsubscribe.Links == nil {
		resp.ListUnsubscribe.Links = []string{}
	}
	if v := d.Headers["List-Unsubscribe-Post"]; len(v) > 0 {
		resp.ListUnsubscribe.HeaderPost = v[0]
	}
	writeJSON(w, http.StatusOK, resp)
}

// ReadFromCopies is the read state of a message in the all-messages view:
// read if any copy has \Seen, or if no copy is left to read.
func ReadFromCopies(copies []Copy) bool {
	if len(copies) == 0 {
		return true
	}
	for _, c := range copies {
		if slices.Contains(c.Flags, `\Seen`) {
			return true
		}
	}
	return false
}

func unsubscribeLinks(h string) []string {
	var out []string
	for _, p := range strings.Split(h, ",") {
		p = strings.TrimSpace(p)
		if strings.HasPrefix(p, "<") && strings.HasSuffix(p, ">") {
			out = append(out, p[1:len(p)-1])
		}
	}
	return out
}

func attachments(parts []Part) []Attachment {
	out := make([]Attachment, 0, len(parts))
	for _, p := range parts {
		m5, s1, s256 := md5.Sum(p.Data), sha1.Sum(p.Data), sha256.Sum256(p.Data)
		out = append(out, Attachment{
			PartID: p.PartID, FileName: p.FileName, ContentType: p.ContentType, ContentID: p.ContentID, Size: p.Size,
			Checksums: Checksums{MD5: hex.EncodeToString(m5[:]), SHA1: hex.EncodeToString(s1[:]), SHA256: hex.EncodeToString(s256[:])},
		})
	}
	return out
}

func (h *Handler) headers(w http.ResponseWriter, r *http.Request) {
	m, ok := h.lookup(r)
	if !ok {
		notFound(w)
		return
	}
	d, _ := h.b.Details(m.ID)
	writeJSON(w, http.StatusOK, d.Headers)
}

func (h *Handler) raw(w http.ResponseWriter, r *http.Request) {
	m, ok := h.lookup(r)
	if !ok {
		notFound(w)
		return
	}
	d, _ := h.b.Details(m.ID)
	setUntrustedHeaders(w)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Query().Get("dl") != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+idString(m.ID)+`.eml"`)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(d.Raw)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(d.Raw)
}

func (h *Handler) transcript(w http.ResponseWriter, r *http.Request) {
	m, ok := h.lookup(r)
	if !ok {
		notFound(w)
		return
	}
	t, err := h.b.Transcript(m.ID)
	if err != nil {
		writeError(w, err)
		return
	}
	if t.Lines == nil {
		t.Lines = []TranscriptLine{}
	}
	writeJSON(w, http.StatusOK, t)
}

func (h *Handler) send(w http.ResponseWriter, r *http.Request) {
	var req SendRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, err)
		return
	}
	if req.From.Email == "" {
		badRequest(w, "From.Email is required")
		return
	}
	if len(req.To)+len(req.Cc)+len(req.Bcc) == 0 {
		badRequest(w, "no recipient in To, Cc or Bcc")
		return
	}
	id, err := h.b.Send(r.Context(), req)
	if err != nil {
		// As Mailpit: any failure to send, an SMTP refusal included, is 400.
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, struct{ ID string }{idString(id)})
}

func (h *Handler) info(w http.ResponseWriter, r *http.Request) {
	i := h.b.Info()
	i.Version = h.cfg.Version
	i.LatestVersion = h.cfg.Version
	if i.Tags == nil {
		i.Tags = map[string]int{}
	}
	writeJSON(w, http.StatusOK, i)
}

func (h *Handler) newInbox(w http.ResponseWriter, r *http.Request) {
	in, err := h.b.NewInbox()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, in)
}

func (h *Handler) users(w http.ResponseWriter, r *http.Request) {
	us := h.b.Users()
	if us == nil {
		us = []User{}
	}
	writeJSON(w, http.StatusOK, us)
}

func (h *Handler) imapView(w http.ResponseWriter, r *http.Request) {
	v, err := h.b.IMAPView(r.PathValue("address"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) pop3View(w http.ResponseWriter, r *http.Request) {
	v, err := h.b.POP3View(r.PathValue("address"))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (h *Handler) faults(w http.ResponseWriter, r *http.Request) {
	fs := h.b.Faults()
	if fs == nil {
		fs = []Fault{}
	}
	writeJSON(w, http.StatusOK, fs)
}

func (h *Handler) addFault(w http.ResponseWriter, r *http.Request) {
	var f Fault
	if err := decodeBody(r, &f); err != nil {
		writeError(w, err)
		return
	}
	got, err := h.b.AddFault(f)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, got)
}

func (h *Handler) removeFault(w http.ResponseWriter, r *http.Request) {
	id := 0
	if s := r.URL.Query().Get("id"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			badRequest(w, "invalid fault id "+strconv.Quote(s))
			return
		}
		id = n
	}
	if err := h.b.RemoveFault(id); err != nil {
		writeError(w, err)
		return
	}
	writeOK(w)
}
