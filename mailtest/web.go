package mailtest

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/textproto"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/mailrig/mailrig/mailtest/internal/web"
	"github.com/mailrig/mailrig/memstore"
)

// WebHandler returns the web inbox and JSON API of the server: the page at
// "/", Mailpit's API v1 under /api/v1/ (messages, search, message, headers,
// raw, part, send, info), the /api/events WebSocket, /view/{ID}.html and
// .txt, and mailrig's own endpoints (wait, inboxes, users with their IMAP
// and POP3 views, transcripts, faults). See the README's "Web inbox and
// HTTP API" section for every endpoint and its JSON.
//
// Run it with httptest.NewServer(srv.WebHandler()) in a test, or on a
// listener of its own (the dev server's -http). It is built on first call
// and costs nothing before; every call returns the same handler, and Close
// ends its WebSockets and waits.
//
// Mapping onto the store: one API message is one SMTP transaction (as
// Messages counts), identified by its store-wide ID (Message.ID) as a
// decimal string. It is Read when any of its copies has \Seen, or when no
// copy is left; marking it read or unread through the API sets or clears
// \Seen on every copy, so IMAP clients see the change, and an IMAP client
// marking its copy read makes it Read in the API at once. Deleting it
// expunges every copy and forgets it from the received list, so Messages
// no longer counts it; deleting with no IDs is Purge. A copy expunged by an IMAP or POP3 client leaves
// the message in the list (as in Messages) with fewer Copies. Listing a
// user's folder (?user=ADDR&mailbox=NAME) shows that mailbox's entries,
// including messages APPENDed over IMAP, with Read as that copy's \Seen.
//
// Requests are refused (403) unless their Host is localhost, 127.0.0.1,
// [::1] or a name given with WithWebHosts, on any port, so a page on
// another site cannot reach it by DNS rebinding; requests that change
// state, and the WebSocket, are refused when their Origin is another site.
// WithWebAuth adds HTTP basic auth.
func (s *Server) WebHandler() http.Handler {
	s.webOnce.Do(func() {
		b := &webBackend{s: s, started: time.Now()}
		b.index.store = s.store
		s.webIndex = &b.index
		h := web.New(b, web.Config{
			Hosts:        s.cfg.webHosts,
			Username:     s.cfg.webUser,
			Password:     s.cfg.webPassword,
			MaxSendBytes: s.cfg.maxMessageBytes*4/3 + 1<<20, // base64 attachments in JSON
			Version:      "mailrig",
		})
		s.web.Store(h)
	})
	return s.web.Load()
}

// WithWebHosts lets the web handler answer requests whose Host (and
// Origin) is one of names, besides localhost, 127.0.0.1 and [::1]: for a
// dev server reached by a host name, such as a container's.
func WithWebHosts(names ...string) Option {
	return func(c *config) { c.webHosts = append(c.webHosts, names...) }
}

// WithWebAuth makes the web handler require HTTP basic auth with this user
// name and password on every request, the page and the API alike.
func WithWebAuth(user, password string) Option {
	return func(c *config) { c.webUser, c.webPassword = user, password }
}

// closeWeb ends the web handler's long requests, if it was ever built.
func (s *Server) closeWeb() {
	if h := s.web.Load(); h != nil {
		h.Close()
		s.webIndex.close()
	}
}

// webBackend implements web.Backend over the server and its store.
type webBackend struct {
	s       *Server
	started time.Time
	deleted atomic.Int64

	index webIndex
}

// webOrigin marks the API's own changes in store events.
type webOrigin struct{}

type webMailKey struct{}

// mail returns the web description of m, built once and cached on m.
func (b *webBackend) mail(m *memstore.Message) *web.Mail {
	return m.Cached(webMailKey{}, func() any { return buildWebMail(m) }).(*web.Mail)
}

func buildWebMail(m *memstore.Message) *web.Mail {
	msg := wrap(m)
	p := msg.parsed
	env := m.Envelope()
	wm := &web.Mail{
		ID: m.ID(), MessageID: p.MessageID,
		To: webAddresses(p.To), Cc: webAddresses(p.Cc), ReplyTo: webAddresses(p.ReplyTo),
		Subject: p.Subject, Date: p.Date, Created: m.ReceivedAt(), Username: env.AuthUser,
		Size: m.Size(), Text: p.Text, HTML: p.HTML,
	}
	if len(p.From) > 0 {
		wm.From = &web.Address{Name: p.From[0].Name, Address: p.From[0].Address}
	}
	// Bcc recipients are the envelope's that the header does not name.
	for _, rcpt := range env.Rcpts {
		if !containsFold(msg.To(), rcpt) && !containsFold(msg.Cc(), rcpt) {
			wm.Bcc = append(wm.Bcc, web.Address{Address: rcpt})
		}
	}
	wm.ReturnPath = env.MailFrom
	if rp := strings.Trim(strings.TrimSpace(p.Header.Get("Return-Path")), "<>"); rp != "" {
		wm.ReturnPath = rp
	}
	for i, a := range p.Attachments {
		part := web.Part{
			PartID: strconv.Itoa(i + 1), FileName: a.Filename, ContentType: a.ContentType,
			ContentID: a.ContentID, Size: int64(len(a.Data)), Data: a.Data,
		}
		if a.Inline {
			wm.Inline = append(wm.Inline, part)
		} else {
			wm.Attachments = append(wm.Attachments, part)
		}
	}
	return wm
}

func webAddresses(list []*mail.Address) []web.Address {
	if len(list) == 0 {
		return nil
	}
	out := make([]web.Address, len(list))
	for i, a := range list {
		out[i] = web.Address{Name: a.Name, Address: a.Address}
	}
	return out
}

// receivedItems lists the received messages with their read state;
// callers hold b.index.mu.
func (b *webBackend) receivedItems() []web.Item {
	items := make([]web.Item, len(b.index.received))
	for i, st := range b.index.received {
		items[i] = web.Item{Mail: b.mailOf(st), Read: st.read()}
	}
	return items
}

// mailOf returns st's web description; callers hold b.index.mu.
func (b *webBackend) mailOf(st *msgState) *web.Mail {
	if st.mail == nil {
		st.mail = b.mail(st.msg)
	}
	return st.mail
}

func (b *webBackend) mailbox(v web.View) (*memstore.Mailbox, error) {
	u, ok := b.s.store.User(v.User)
	if !ok {
		return nil, fmt.Errorf("%w: no user %q", web.ErrNotFound, v.User)
	}
	mb, err := u.Mailbox(v.Mailbox)
	if err != nil {
		return nil, fmt.Errorf("%w: %s has no mailbox %q", web.ErrNotFound, u.Address(), v.Mailbox)
	}
	return mb, nil
}

func (b *webBackend) mailboxItems(mb *memstore.Mailbox) []web.Item {
	entries := mb.Snapshot().Entries
	items := make([]web.Item, len(entries))
	for i, e := range entries {
		items[i] = web.Item{Mail: b.mail(e.Message), Read: e.Flags.Has(memstore.FlagSeen)}
	}
	return items
}

func (b *webBackend) Messages(v web.View) ([]web.Item, error) {
	if v.User == "" {
		b.index.lock()
		defer b.index.mu.Unlock()
		return b.receivedItems(), nil
	}
	mb, err := b.mailbox(v)
	if err != nil {
		return nil, err
	}
	return b.mailboxItems(mb), nil
}

func (b *webBackend) MessagesAndWatch(v web.View) ([]web.Item, web.Watcher, error) {
	if v.User != "" {
		mb, err := b.mailbox(v)
		if err != nil {
			return nil, nil, err
		}
		// Watching first means no change can fall between; a change
		// already in the snapshot only causes one more look.
		w := &webWatcher{b: b, w: b.s.store.Watch()}
		return b.mailboxItems(mb), w, nil
	}
	x := &b.index
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.w == nil {
		x.build()
	}
	// Everything received after w is registered reaches w. The index has
	// everything before, and may have some after: those can only be among
	// the events applied now, so their new-message changes are skipped.
	w := &webWatcher{b: b, w: b.s.store.Watch(), skipNew: make(map[uint64]bool)}
	batch := x.w.Drain()
	x.apply(batch)
	for _, ev := range batch {
		if ev.Kind == memstore.EventReceived {
			w.skipNew[ev.Message.ID()] = true
		}
	}
	return b.receivedItems(), w, nil
}

// find returns the stored message with this ID: received, or filed in
// some mailbox.
func (b *webBackend) find(id uint64) (*memstore.Message, bool) {
	b.index.lock()
	defer b.index.mu.Unlock()
	st, ok := b.index.byID[id]
	if !ok {
		return nil, false
	}
	return st.msg, true
}

func (b *webBackend) Find(id uint64) (*web.Mail, bool) {
	b.index.lock()
	defer b.index.mu.Unlock()
	st, ok := b.index.byID[id]
	if !ok {
		return nil, false
	}
	return b.mailOf(st), true
}

func (b *webBackend) Details(id uint64) (web.Details, bool) {
	m, ok := b.find(id)
	if !ok {
		return web.Details{}, false
	}
	env := m.Envelope()
	d := web.Details{
		Envelope: web.Envelope{
			MailFrom: env.MailFrom, Rcpts: env.Rcpts, Helo: env.Helo, TLS: env.TLS,
			AuthUser: env.AuthUser, RemoteAddr: env.RemoteAddr, SessionID: env.SessionID,
		},
		Links:   wrap(m).Links(),
		Headers: map[string][]string{},
		Raw:     m.Raw(),
	}
	h := m.Header()
	fields := h.Fields()
	for fields.Next() {
		k := textproto.CanonicalMIMEHeaderKey(fields.Key())
		d.Headers[k] = append(d.Headers[k], fields.Value())
	}
	return d, true
}

func (b *webBackend) Copies(id uint64) []web.Copy {
	b.index.lock()
	defer b.index.mu.Unlock()
	st, ok := b.index.byID[id]
	if !ok {
		return nil
	}
	return b.index.copies(st)
}

// states returns the index entries of ids, or of every received message
// if ids is nil; callers hold b.index.mu.
func (b *webBackend) states(ids []uint64) []*msgState {
	if ids == nil {
		return b.index.received
	}
	out := make([]*msgState, 0, len(ids))
	for _, id := range ids {
		if st, ok := b.index.byID[id]; ok {
			out = append(out, st)
		}
	}
	return out
}

func (b *webBackend) SetRead(ids []uint64, read bool) {
	op := memstore.AddFlags
	if !read {
		op = memstore.RemoveFlags
	}
	seen := memstore.NewFlags(memstore.FlagSeen)
	x := &b.index
	x.lock()
	defer x.mu.Unlock()
	for box, uids := range x.byBox(b.states(ids)) {
		uids = slices.DeleteFunc(uids, func(uid uint32) bool { return box.uids[uid].seen == read })
		if len(uids) > 0 {
			// An error means the mailbox was deleted meanwhile: nothing to mark.
			_, _ = box.mb.SetFlags(uids, op, seen, webOrigin{})
		}
	}
}

func (b *webBackend) Delete(ids []uint64) {
	if ids == nil {
		n := len(b.s.store.Received())
		b.s.store.Purge()
		b.deleted.Add(int64(n))
		return
	}
	x := &b.index
	x.lock()
	for box, uids := range x.byBox(b.states(ids)) {
		box.mb.Expunge(uids, webOrigin{})
	}
	x.mu.Unlock()
	b.deleted.Add(int64(b.s.store.Forget(ids...)))
}

func (b *webBackend) Send(ctx context.Context, req web.SendRequest) (uint64, error) {
	d := Draft{
		From: sendAddress(req.From), Subject: req.Subject, Text: req.Text, HTML: req.HTML,
		Header: req.Headers, Bcc: req.Bcc,
	}
	for _, a := range req.To {
		d.To = append(d.To, sendAddress(a))
	}
	for _, a := range req.Cc {
		d.Cc = append(d.Cc, sendAddress(a))
	}
	if len(req.ReplyTo) > 0 {
		d.ReplyTo = sendAddress(req.ReplyTo[0])
	}
	for _, a := range req.Attachments {
		data, err := base64.StdEncoding.DecodeString(a.Content)
		if err != nil {
			return 0, fmt.Errorf("%w: attachment %q: content is not base64: %v", web.ErrInvalid, a.Filename, err)
		}
		d.Attachments = append(d.Attachments, Attachment{
			Filename: a.Filename, ContentType: a.ContentType, ContentID: a.ContentID,
			Inline: a.ContentID != "", Data: data,
		})
	}
	if _, err := d.Bytes(); err != nil {
		return 0, fmt.Errorf("%w: %v", web.ErrInvalid, err)
	}
	m, err := b.s.send(d)
	if err != nil {
		return 0, err
	}
	return m.ID(), nil
}

func sendAddress(a web.SendAddress) string {
	if a.Name == "" {
		return a.Email
	}
	return (&mail.Address{Name: a.Name, Address: a.Email}).String()
}

func (b *webBackend) Watch() web.Watcher { return &webWatcher{b: b, w: b.s.store.Watch()} }

func (b *webBackend) Info() web.Info {
	items, _ := b.Messages(web.View{})
	info := web.Info{Database: "memory", Messages: len(items), Tags: map[string]int{}}
	var size int64
	for _, it := range items {
		if !it.Read {
			info.Unread++
		}
		size += it.Mail.Size
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	deleted := int(b.deleted.Load())
	info.DatabaseSize = size
	info.RuntimeStats = web.RuntimeStats{
		Uptime: int64(time.Since(b.started).Seconds()), Memory: ms.Alloc,
		MessagesDeleted: deleted, SMTPAccepted: len(items) + deleted, SMTPAcceptedSize: size,
	}
	return info
}

func (b *webBackend) NewInbox() (web.Inbox, error) {
	local, err := randomHex(6)
	if err != nil {
		return web.Inbox{}, err
	}
	pw, err := randomHex(12)
	if err != nil {
		return web.Inbox{}, err
	}
	addr := "inbox-" + local + "@" + b.s.cfg.domain
	if _, err := b.s.store.AddUser(addr, pw); err != nil {
		return web.Inbox{}, err
	}
	return web.Inbox{Address: addr, Password: pw}, nil
}

func (b *webBackend) Users() []web.User {
	var out []web.User
	for _, u := range b.s.store.Users() {
		wu := web.User{Address: u.Address(), Aliases: u.Aliases(), Mailboxes: []web.MailboxInfo{}}
		if wu.Aliases == nil {
			wu.Aliases = []string{}
		}
		for _, mb := range u.Mailboxes() {
			snap := mb.Snapshot()
			wu.Mailboxes = append(wu.Mailboxes, web.MailboxInfo{
				Name: snap.Name, SpecialUse: mb.SpecialUse(), Messages: len(snap.Entries), Unread: snap.Unseen(),
			})
		}
		out = append(out, wu)
	}
	return out
}

func (b *webBackend) IMAPView(user string) (web.IMAPView, error) {
	v := b.s.IMAPView(user)
	if !v.Exists {
		return web.IMAPView{}, fmt.Errorf("%w: no user %q", web.ErrNotFound, user)
	}
	out := web.IMAPView{User: v.User, Mailboxes: []web.IMAPMailbox{}}
	for _, mb := range v.Mailboxes {
		wm := web.IMAPMailbox{
			Name: mb.Name, Attributes: mb.Attributes, Subscribed: mb.Subscribed,
			UIDValidity: mb.UIDValidity, UIDNext: mb.UIDNext, Messages: []web.IMAPMessage{},
		}
		for _, m := range mb.Messages {
			wm.Messages = append(wm.Messages, web.IMAPMessage{
				SeqNum: m.SeqNum, UID: m.UID, Flags: m.Flags, ReceivedAt: m.ReceivedAt, Size: m.Size,
				ID: strconv.FormatUint(m.Message.ID(), 10), Subject: m.Message.Subject(),
			})
		}
		out.Mailboxes = append(out.Mailboxes, wm)
	}
	return out, nil
}

func (b *webBackend) POP3View(user string) (web.POP3View, error) {
	v := b.s.POP3View(user)
	if !v.Exists {
		return web.POP3View{}, fmt.Errorf("%w: no user %q", web.ErrNotFound, user)
	}
	out := web.POP3View{User: v.User, Locked: v.Locked, Size: v.Size(), Messages: []web.POP3Message{}}
	for _, m := range v.Messages {
		out.Messages = append(out.Messages, web.POP3Message{
			Number: m.Number, Size: m.Size, UIDL: m.UIDL,
			ID: strconv.FormatUint(m.Message.ID(), 10), Subject: m.Message.Subject(),
		})
	}
	return out, nil
}

func (b *webBackend) Transcript(id uint64) (web.Transcript, error) {
	m, ok := b.find(id)
	if !ok {
		return web.Transcript{}, fmt.Errorf("%w: no message %d", web.ErrNotFound, id)
	}
	sid := m.Envelope().SessionID
	if sid == "" {
		return web.Transcript{}, fmt.Errorf("%w: message %d did not come over SMTP", web.ErrNotFound, id)
	}
	t, ok := b.s.Transcript(sid)
	if !ok {
		return web.Transcript{}, fmt.Errorf("%w: no transcript of session %s (transcripts are off, or it is too old)", web.ErrNotFound, sid)
	}
	out := web.Transcript{
		ID: t.ID, Protocol: string(t.Listener), RemoteAddr: t.RemoteAddr, Start: t.Start,
		Truncated: t.Truncated, Lines: make([]web.TranscriptLine, len(t.Lines)),
	}
	for i, l := range t.Lines {
		out.Lines[i] = web.TranscriptLine(l)
	}
	return out, nil
}

// faultToJSON and faultFromJSON are the only places that name the Fault's
// protocol field and values, so a rename touches them alone.
func faultToJSON(f Fault) web.Fault {
	wf := web.Fault{
		Protocol: strings.ToUpper(string(f.Protocol)), Command: f.Command, Arg: f.Arg, Times: f.Times,
		Reply: f.Reply, Drop: f.Drop, DropAfterBytes: f.DropAfterBytes,
	}
	if f.Delay > 0 {
		wf.Delay = f.Delay.String()
	}
	return wf
}

func faultFromJSON(wf web.Fault) (Fault, error) {
	f := Fault{
		Command: strings.ToUpper(strings.TrimSpace(wf.Command)), Arg: wf.Arg, Times: wf.Times,
		Reply: wf.Reply, Drop: wf.Drop, DropAfterBytes: wf.DropAfterBytes,
	}
	switch strings.ToLower(strings.TrimSpace(wf.Protocol)) {
	case "smtp":
		f.Protocol = SMTP
	case "imap":
		f.Protocol = IMAP
	case "pop3":
		f.Protocol = POP3
	default:
		return Fault{}, fmt.Errorf("%w: Protocol %q: want SMTP, IMAP or POP3", web.ErrInvalid, wf.Protocol)
	}
	if wf.Delay != "" {
		d, err := time.ParseDuration(wf.Delay)
		if err != nil || d < 0 {
			return Fault{}, fmt.Errorf("%w: Delay %q: want a duration such as 250ms", web.ErrInvalid, wf.Delay)
		}
		f.Delay = d
	}
	if f.Times < 0 || f.DropAfterBytes < 0 {
		return Fault{}, fmt.Errorf("%w: Times and DropAfterBytes cannot be negative", web.ErrInvalid)
	}
	return f, nil // faultSet.add validates the rest
}

// Faults lists the active faults, with the uses left as Times.
func (b *webBackend) Faults() []web.Fault {
	live := b.s.faults.active()
	out := make([]web.Fault, 0, len(live))
	for _, af := range live {
		wf := faultToJSON(af.Fault)
		wf.ID = af.id
		out = append(out, wf)
	}
	return out
}

// AddFault injects a fault given as JSON.
func (b *webBackend) AddFault(wf web.Fault) (web.Fault, error) {
	f, err := faultFromJSON(wf)
	if err != nil {
		return web.Fault{}, err
	}
	af, err := b.s.faults.add(f)
	if err != nil {
		return web.Fault{}, fmt.Errorf("%w: %v", web.ErrInvalid, err)
	}
	out := faultToJSON(af.Fault)
	out.ID = af.id
	return out, nil
}

// RemoveFault clears the fault numbered id, or every fault for 0.
func (b *webBackend) RemoveFault(id int) error {
	if id == 0 {
		b.s.ClearFaults()
		return nil
	}
	if !b.s.faults.removeID(id) {
		return fmt.Errorf("%w: no fault %d", web.ErrNotFound, id)
	}
	return nil
}

// webWatcher turns store events into the web's changes.
type webWatcher struct {
	b       *webBackend
	w       *memstore.Watcher
	skipNew map[uint64]bool // received messages the listing had already
}

func (w *webWatcher) C() <-chan struct{} { return w.w.C() }
func (w *webWatcher) Close()             { w.w.Close() }

func (w *webWatcher) Next() []web.Change {
	evs := w.w.Drain()
	out := make([]web.Change, 0, len(evs))
	for _, ev := range evs {
		switch ev.Kind {
		case memstore.EventReceived:
			if id := ev.Message.ID(); w.skipNew[id] {
				delete(w.skipNew, id)
			} else {
				out = append(out, web.Change{Kind: web.ChangeNew, ID: id})
			}
		case memstore.EventForgotten:
			out = append(out, web.Change{Kind: web.ChangeDelete, ID: ev.Message.ID()})
		case memstore.EventPurged:
			out = append(out, web.Change{Kind: web.ChangeTruncate})
		case memstore.EventFlags:
			out = append(out, web.Change{Kind: web.ChangeFlags, ID: w.b.messageAt(ev), User: ev.User, Mailbox: ev.Mailbox})
		default:
			out = append(out, web.Change{Kind: web.ChangeMailbox, User: ev.User, Mailbox: ev.Mailbox})
		}
	}
	return out
}

// messageAt returns the ID of the message a flags event is about, or 0
// if it is gone already.
func (b *webBackend) messageAt(ev memstore.Event) uint64 {
	u, ok := b.s.store.User(ev.User)
	if !ok {
		return 0
	}
	mb, err := u.Mailbox(ev.Mailbox)
	if err != nil {
		return 0
	}
	snap := mb.Snapshot()
	if i := snap.Index(ev.UID); i >= 0 {
		return snap.Entries[i].Message.ID()
	}
	return 0
}
