package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// Event is one WebSocket frame of /api/events, as Mailpit sends them:
//
//   - "new": Data is the Summary of a received message;
//   - "update": Data is {ID, Read} after a message's read state may have
//     changed (through the API or an IMAP/POP3 client);
//   - "delete": Data is {ID} of a message deleted through the API;
//   - "truncate": every message was deleted; Data is null;
//   - "stats": Data is {Total, Unread, Version} after each batch of changes;
//   - "mailbox" (ours): Data is {User, Mailbox} when a user's mailbox
//     gained or lost a message or its folders changed.
type Event struct {
	Type string
	Data any
}

type updateData struct {
	ID   string
	Read bool
}

type idData struct{ ID string }

type statsData struct {
	Total   int
	Unread  int
	Version string
}

type mailboxData struct {
	User    string
	Mailbox string
}

// begin registers a long request so Close waits for it; it returns a
// context that ends with the request or with Close.
func (h *Handler) begin(r *http.Request) (context.Context, func()) {
	h.active.Add(1)
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(h.ctx, cancel)
	return ctx, func() {
		stop()
		cancel()
		h.active.Done()
	}
}

// events serves the WebSocket of live changes.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	// Origin was checked in ServeHTTP against the allowed hosts (any port);
	// the library's own check would also refuse other local ports.
	// Watch before the handshake completes, so a client that sees the
	// connection open hears every change made after that.
	wt := h.b.Watch()
	defer wt.Close()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	ctx, done := h.begin(r)
	defer done()
	ctx = c.CloseRead(ctx)

	for {
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusGoingAway, "")
			return
		case <-wt.C():
		}
		for _, ev := range h.translate(wt.Next()) {
			b, err := json.Marshal(ev)
			if err != nil {
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = c.Write(wctx, websocket.MessageText, b)
			cancel()
			if err != nil {
				return
			}
		}
	}
}

// translate turns store changes into frames, one stats frame at the end.
func (h *Handler) translate(changes []Change) []Event {
	var out []Event
	seen := map[string]bool{}
	for _, ch := range changes {
		switch ch.Kind {
		case ChangeNew:
			if m, ok := h.b.Find(ch.ID); ok {
				out = append(out, Event{"new", summaryOf(Item{Mail: m, Read: ReadFromCopies(h.b.Copies(m.ID))})})
			}
		case ChangeFlags:
			if ch.ID != 0 {
				out = append(out, Event{"update", updateData{idString(ch.ID), ReadFromCopies(h.b.Copies(ch.ID))}})
			}
			out = appendMailbox(out, seen, ch)
		case ChangeMailbox:
			out = appendMailbox(out, seen, ch)
		case ChangeDelete:
			out = append(out, Event{"delete", idData{idString(ch.ID)}})
		case ChangeTruncate:
			out = append(out, Event{"truncate", nil})
		}
	}
	if len(out) == 0 {
		return nil
	}
	items, _ := h.b.Messages(View{})
	st := statsData{Total: len(items), Version: h.cfg.Version}
	for _, it := range items {
		if !it.Read {
			st.Unread++
		}
	}
	return append(out, Event{"stats", st})
}

func appendMailbox(out []Event, seen map[string]bool, ch Change) []Event {
	key := strings.ToLower(ch.User) + "\x00" + ch.Mailbox
	if ch.User == "" || seen[key] {
		return out
	}
	seen[key] = true
	return append(out, Event{"mailbox", mailboxData{ch.User, ch.Mailbox}})
}

const maxWait = 5 * time.Minute

// wait answers GET /api/v1/wait?query=&count=N&timeout=10s: it blocks
// until count messages of the view match the query, then answers as
// search does (200); at the timeout it answers 408 with what matched.
func (h *Handler) wait(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Query()
	q, err := ParseQuery(p.Get("query"))
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	count := 1
	if s := p.Get("count"); s != "" {
		if count, err = strconv.Atoi(s); err != nil || count < 1 {
			badRequest(w, "invalid count "+strconv.Quote(s))
			return
		}
	}
	timeout := 10 * time.Second
	if s := p.Get("timeout"); s != "" {
		if timeout, err = time.ParseDuration(s); err != nil || timeout < 0 {
			if n, err2 := strconv.Atoi(s); err2 == nil && n >= 0 {
				timeout, err = time.Duration(n)*time.Second, nil
			} else {
				badRequest(w, "invalid timeout "+strconv.Quote(s)+": want a duration such as 10s")
				return
			}
		}
	}
	timeout = min(timeout, maxWait)
	v := viewOf(r)
	ctx, done := h.begin(r)
	defer done()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	items, wt, err := h.b.MessagesAndWatch(v)
	if err != nil {
		writeError(w, err)
		return
	}
	defer wt.Close()
	// A copy, so appending to items and to matched never share an array.
	matched := slices.Clone(filter(items, q))
	if h.waitWatching != nil {
		h.waitWatching()
	}
	for len(matched) < count {
		select {
		case <-ctx.Done():
			writeJSON(w, http.StatusRequestTimeout, respond(items, matched, 0, len(matched)))
			return
		case <-wt.C():
		}
		relist := false
		for _, ch := range wt.Next() {
			switch {
			case v.User != "":
				relist = relist || (ch.Kind == ChangeMailbox || ch.Kind == ChangeFlags) && strings.EqualFold(ch.User, v.User)
			case ch.Kind == ChangeNew && !relist:
				if m, ok := h.b.Find(ch.ID); ok {
					it := Item{Mail: m, Read: ReadFromCopies(h.b.Copies(m.ID))}
					items = append(items, it)
					if q.Match(it) {
						matched = append(matched, it)
					}
				}
			case ch.Kind == ChangeFlags && q.usesRead(), ch.Kind == ChangeDelete, ch.Kind == ChangeTruncate:
				relist = true
			}
		}
		if relist {
			if items, err = h.b.Messages(v); err != nil {
				writeError(w, err)
				return
			}
			matched = slices.Clone(filter(items, q))
		}
	}
	writeJSON(w, http.StatusOK, respond(items, matched, 0, len(matched)))
}
