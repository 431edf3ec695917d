package memstore

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzOperations drives a store with a sequence of operations decoded from
// the input and checks it against a simple model after every step.
//
// Input: byte 0 sets user 1's byte quota, byte 1 the message quotas (low
// nibble user 0's, high nibble user 1's; 0 is none); then each step is an
// opcode byte followed by argument bytes (missing bytes read as 0, the run
// ends when the input does).
func FuzzOperations(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 10, 1, 0, 1, 20, 5, 2, 0, 1, 0, 0x83, 3, 0, 0, 1, 0x81})
	f.Add([]byte{9, 0, 0, 1, 40, 0, 2, 50, 4, 0, 0, 2, 0x80, 6, 0, 1, 3, 7, 0, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		newFuzzRun(t, data).run()
	})
}

// fuzzNames are the mailbox names operations pick from.
var fuzzNames = []string{"INBOX", "A", "B", "A/C", "B/C", "D/E", "inbox"}

type fzEntry struct {
	uid   uint32
	msg   *Message
	flags Flags
}

type fzBox struct {
	validity uint32 // 0 until the real mailbox is seen
	uidNext  uint32
	entries  []fzEntry
	mb       *Mailbox
}

type fzUser struct {
	u            *User
	quota        int64 // bytes
	messageQuota int64
	boxes        map[string]*fzBox
}

type fuzzRun struct {
	t        *testing.T
	data     []byte
	pos      int
	s        *Store
	users    [2]*fzUser
	received int
	tag      int
	validity map[uint32]bool // every UIDVALIDITY ever seen
	maxValid uint32
	step     int
	op       string
}

func newFuzzRun(t *testing.T, data []byte) *fuzzRun {
	r := &fuzzRun{t: t, data: data, s: New(), validity: map[uint32]bool{}}
	for i := range r.users {
		addr := fmt.Sprintf("u%d@example.com", i)
		u, err := r.s.AddUser(addr, "pw", fmt.Sprintf("alias%d@example.com", i))
		if err != nil {
			t.Fatal(err)
		}
		fu := &fzUser{u: u, boxes: map[string]*fzBox{}}
		for _, name := range []string{"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"} {
			fu.boxes[name] = &fzBox{uidNext: 1}
		}
		r.users[i] = fu
	}
	if q := r.next(); q%4 != 0 {
		r.users[1].quota = int64(q) * 8
		r.users[1].u.SetQuota(r.users[1].quota)
	}
	m := r.next()
	for i, n := range []byte{m & 0xf, m >> 4} {
		if n != 0 {
			r.users[i].messageQuota = int64(n)
			r.users[i].u.SetMessageQuota(int64(n))
		}
	}
	return r
}

func (r *fuzzRun) next() byte {
	if r.pos >= len(r.data) {
		r.pos++
		return 0
	}
	b := r.data[r.pos]
	r.pos++
	return b
}

func (r *fuzzRun) fatalf(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("step %d (%s): %s", r.step, r.op, fmt.Sprintf(format, args...))
}

func (r *fuzzRun) user() *fzUser       { return r.users[r.next()%2] }
func (r *fuzzRun) name() string        { return fuzzNames[int(r.next())%len(fuzzNames)] }
func (fu *fzUser) box(n string) *fzBox { return fu.boxes[canonicalName(n)] }

func (fu *fzUser) usage() int64 {
	var n int64
	for _, b := range fu.boxes {
		for _, e := range b.entries {
			n += e.msg.Size()
		}
	}
	return n
}

// messages counts the user's messages, one per entry in each mailbox.
func (fu *fzUser) messages() int64 {
	var n int64
	for _, b := range fu.boxes {
		n += int64(len(b.entries))
	}
	return n
}

// fits reports whether the user may store bytes and messages more.
func (fu *fzUser) fits(bytes int64, messages int) bool {
	return (fu.quota == 0 || fu.usage()+bytes <= fu.quota) &&
		(fu.messageQuota == 0 || fu.messages()+int64(messages) <= fu.messageQuota)
}

func (r *fuzzRun) message() *Message {
	r.tag++
	pad := strings.Repeat("x", int(r.next()%64))
	raw := fmt.Sprintf("Subject: %d\n\n%s\n", r.tag, pad) // bare LFs: normalised on entry
	return NewMessage([]byte(raw), testDate, Envelope{})
}

func fuzzFlags(b byte) Flags {
	var names []string
	for i, n := range []string{FlagSeen, FlagDeleted, FlagFlagged, "kw1", "KW2", `\Recent`} {
		if b&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return NewFlags(names...)
}

// pick returns the UIDs of the selected entries (bit i: entry i, bit 7:
// all) and one that does not exist, in a scrambled order.
func pick(b *fzBox, sel byte) []uint32 {
	uids := []uint32{b.uidNext + 3}
	for i, e := range b.entries {
		if sel&0x80 != 0 || (i < 7 && sel&(1<<i) != 0) {
			uids = append(uids, e.uid)
		}
	}
	slices.Reverse(uids)
	return uids
}

func (b *fzBox) picked(uids []uint32) []fzEntry {
	var out []fzEntry
	for _, e := range b.entries {
		if slices.Contains(uids, e.uid) {
			out = append(out, e)
		}
	}
	return out
}

func (b *fzBox) remove(uids []uint32) {
	b.entries = slices.DeleteFunc(b.entries, func(e fzEntry) bool { return slices.Contains(uids, e.uid) })
}

func (b *fzBox) add(msg *Message, flags Flags) uint32 {
	uid := b.uidNext
	b.uidNext++
	b.entries = append(b.entries, fzEntry{uid, msg, flags})
	return uid
}

func sumSize(es []fzEntry) int64 {
	var n int64
	for _, e := range es {
		n += e.msg.Size()
	}
	return n
}

func entryUIDs(es []fzEntry) []uint32 {
	out := make([]uint32, len(es))
	for i, e := range es {
		out[i] = e.uid
	}
	return out
}

func (r *fuzzRun) wantErr(got, want error) {
	r.t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		r.fatalf("error %v, want %v", got, want)
	}
}

func (r *fuzzRun) run() {
	r.check()
	for r.step = 1; r.pos < len(r.data) && r.step <= 300; r.step++ {
		switch r.next() % 9 {
		case 0:
			r.deliver()
		case 1:
			r.append()
		case 2:
			r.flag()
		case 3, 4:
			r.transfer(r.data[r.pos-1]%9 == 4)
		case 5:
			r.expunge()
		case 6:
			r.rename()
		case 7:
			r.delete()
		case 8:
			r.create()
		}
		r.check()
	}
}

func (r *fuzzRun) deliver() {
	mask := r.next()
	var rcpts []string
	var users []*fzUser
	for i, a := range []string{"u0@example.com", "U1@example.com", "alias0@example.com", "ALIAS1@example.com"} {
		if mask&(1<<i) != 0 {
			rcpts = append(rcpts, a)
			if u := r.users[i%2]; !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
	}
	r.op = fmt.Sprintf("deliver to %v", rcpts)
	r.tag++
	raw := []byte(fmt.Sprintf("Subject: %d\r\n\r\n%s\r\n", r.tag, strings.Repeat("y", int(r.next()%64))))
	var want error
	for _, u := range users {
		if !u.fits(int64(len(raw)), 1) {
			want = ErrOverQuota
		}
	}
	m, err := r.s.Deliver(raw, testDate, env(rcpts...))
	r.wantErr(err, want)
	if err != nil {
		return
	}
	r.received++
	for _, u := range users {
		u.boxes["INBOX"].add(m, Flags{})
	}
}

func (r *fuzzRun) append() {
	u, name, flags := r.user(), r.name(), fuzzFlags(r.next())
	msg := r.message()
	r.op = fmt.Sprintf("append to %s %s", u.u.Address(), name)
	b := u.box(name)
	if b == nil {
		if _, err := u.u.Mailbox(name); !errors.Is(err, ErrNoSuchMailbox) {
			r.fatalf("missing mailbox: %v", err)
		}
		return
	}
	var want error
	if !u.fits(msg.Size(), 1) {
		want = ErrOverQuota
	}
	uid, err := b.mb.Append(msg, flags)
	r.wantErr(err, want)
	if err == nil {
		if w := b.add(msg, flags); uid != w {
			r.fatalf("UID %d, want %d", uid, w)
		}
	}
}

func (r *fuzzRun) flag() {
	u, name, sel, op, flags := r.user(), r.name(), r.next(), FlagOp(r.next()%3), fuzzFlags(r.next())
	r.op = fmt.Sprintf("flag %s %s op %d %s", u.u.Address(), name, op, flags)
	b := u.box(name)
	if b == nil {
		return
	}
	uids := pick(b, sel)
	out, err := b.mb.SetFlags(uids, op, flags, "fuzz")
	r.wantErr(err, nil)
	var want []uint32
	for i, e := range b.entries {
		if slices.Contains(uids, e.uid) {
			b.entries[i].flags = op.apply(e.flags, flags)
			want = append(want, e.uid)
		}
	}
	got := make([]uint32, len(out))
	for i, e := range out {
		got[i] = e.UID
		if !e.Flags.Equal(b.entries[slices.IndexFunc(b.entries, func(m fzEntry) bool { return m.uid == e.UID })].flags) {
			r.fatalf("SetFlags returned flags %s for UID %d", e.Flags, e.UID)
		}
	}
	if !slices.Equal(got, want) && len(got)+len(want) > 0 {
		r.fatalf("SetFlags returned UIDs %v, want %v", got, want)
	}
}

func (r *fuzzRun) transfer(move bool) {
	su, sname, du, dname, sel := r.user(), r.name(), r.user(), r.name(), r.next()
	r.op = fmt.Sprintf("transfer(move=%v) %s %s → %s %s", move, su.u.Address(), sname, du.u.Address(), dname)
	src, dst := su.box(sname), du.box(dname)
	if src == nil || dst == nil {
		return
	}
	uids := pick(src, sel)
	picked := src.picked(uids)
	var want error
	switch {
	case move && src == dst:
		want = ErrSameMailbox
	case (!move || su != du) && !du.fits(sumSize(picked), len(picked)):
		want = ErrOverQuota
	}
	var res CopyResult
	var err error
	if move {
		res, err = src.mb.MoveTo(dst.mb, uids, "fuzz")
	} else {
		res, err = src.mb.CopyTo(dst.mb, uids, "fuzz")
	}
	r.wantErr(err, want)
	if err != nil {
		return
	}
	var wantDest []uint32
	for _, e := range picked {
		wantDest = append(wantDest, dst.add(e.msg, e.flags))
	}
	if move {
		src.remove(entryUIDs(picked))
	}
	if res.UIDValidity != dst.mb.UIDValidity() || !slices.Equal(res.SourceUIDs, entryUIDs(picked)) || !slices.Equal(res.DestUIDs, wantDest) {
		r.fatalf("result %+v, want source %v dest %v", res, entryUIDs(picked), wantDest)
	}
}

func (r *fuzzRun) expunge() {
	u, name, sel, mode := r.user(), r.name(), r.next(), r.next()%3
	r.op = fmt.Sprintf("expunge %s %s mode %d", u.u.Address(), name, mode)
	b := u.box(name)
	if b == nil {
		return
	}
	uids := pick(b, sel)
	var want []fzEntry
	var got []uint32
	switch mode {
	case 0:
		want = b.picked(uids)
		got = b.mb.Expunge(uids, nil)
	case 1:
		want = slices.DeleteFunc(b.picked(uids), func(e fzEntry) bool { return !e.flags.Has(FlagDeleted) })
		got = b.mb.ExpungeDeleted(uids, nil)
	default:
		want = slices.DeleteFunc(slices.Clone(b.entries), func(e fzEntry) bool { return !e.flags.Has(FlagDeleted) })
		got = b.mb.ExpungeDeleted(nil, nil)
	}
	if !slices.Equal(got, entryUIDs(want)) && len(got)+len(want) > 0 {
		r.fatalf("expunged %v, want %v", got, entryUIDs(want))
	}
	b.remove(entryUIDs(want))
}

// createModel adds name and its missing parents to the model.
func (u *fzUser) createModel(name string) {
	levels := strings.Split(name, Delimiter)
	for i := 1; i <= len(levels); i++ {
		p := canonicalName(strings.Join(levels[:i], Delimiter))
		if u.boxes[p] == nil {
			u.boxes[p] = &fzBox{uidNext: 1}
		}
	}
}

func (r *fuzzRun) create() {
	u, name := r.user(), r.name()
	r.op = fmt.Sprintf("create %s %s", u.u.Address(), name)
	var want error
	if u.box(name) != nil {
		want = ErrMailboxExists
	}
	_, err := u.u.CreateMailbox(name, "")
	r.wantErr(err, want)
	if err == nil {
		u.createModel(name)
	}
}

func (r *fuzzRun) delete() {
	u, name := r.user(), r.name()
	r.op = fmt.Sprintf("delete %s %s", u.u.Address(), name)
	var want error
	switch {
	case canonicalName(name) == InboxName:
		want = ErrInbox
	case u.box(name) == nil:
		want = ErrNoSuchMailbox
	}
	b := u.box(name)
	err := u.u.DeleteMailbox(name)
	r.wantErr(err, want)
	if err == nil {
		delete(u.boxes, name)
		if !b.mb.Deleted() {
			r.fatalf("deleted mailbox not marked deleted")
		}
	}
}

func (r *fuzzRun) rename() {
	u, oldName, newName := r.user(), canonicalName(r.name()), canonicalName(r.name())
	r.op = fmt.Sprintf("rename %s %s → %s", u.u.Address(), oldName, newName)
	err := u.u.RenameMailbox(oldName, newName)
	switch {
	case newName == InboxName:
		r.wantErr(err, ErrMailboxExists)
	case oldName == InboxName:
		if u.boxes[newName] != nil {
			r.wantErr(err, ErrMailboxExists)
			return
		}
		r.wantErr(err, nil)
		u.createModel(newName)
		in, dst := u.boxes[InboxName], u.boxes[newName]
		for _, e := range in.entries {
			dst.add(e.msg, e.flags)
		}
		in.entries = nil
	case newName == oldName || strings.HasPrefix(newName+Delimiter, oldName+Delimiter):
		r.wantErr(err, ErrBadName)
	case u.boxes[oldName] == nil:
		r.wantErr(err, ErrNoSuchMailbox)
	case u.boxes[newName] != nil:
		r.wantErr(err, ErrMailboxExists)
	default:
		moving := map[string]string{}
		for name := range u.boxes {
			if name == oldName || strings.HasPrefix(name, oldName+Delimiter) {
				moving[name] = newName + strings.TrimPrefix(name, oldName)
			}
		}
		for _, to := range moving {
			if _, taken := u.boxes[to]; taken && moving[to] == "" {
				r.wantErr(err, ErrMailboxExists)
				return
			}
		}
		r.wantErr(err, nil)
		boxes := maps.Clone(u.boxes)
		for from := range moving {
			delete(u.boxes, from)
		}
		for from, to := range moving {
			u.boxes[to] = boxes[from]
		}
		u.createModel(newName)
	}
}

// check compares the store with the model.
func (r *fuzzRun) check() {
	r.t.Helper()
	for _, u := range r.users {
		mbs := u.u.Mailboxes()
		var names []string
		for _, mb := range mbs {
			names = append(names, mb.Name())
		}
		want := slices.Collect(maps.Keys(u.boxes))
		slices.SortFunc(want, compareNames)
		if !slices.Equal(names, want) {
			r.fatalf("%s mailboxes %q, model %q", u.u.Address(), names, want)
		}
		var used, stored int64
		for _, mb := range mbs {
			b := u.boxes[mb.Name()]
			if b.mb == nil {
				// A mailbox new to the model: a fresh, never used UIDVALIDITY.
				v := mb.UIDValidity()
				if r.validity[v] || v <= r.maxValid {
					r.fatalf("%q: UIDVALIDITY %d reused (max so far %d)", mb.Name(), v, r.maxValid)
				}
				r.validity[v], r.maxValid = true, v
				b.mb, b.validity = mb, v
			}
			if b.mb != mb || mb.UIDValidity() != b.validity || mb.Deleted() {
				r.fatalf("%q: mailbox replaced or UIDVALIDITY changed %d → %d", mb.Name(), b.validity, mb.UIDValidity())
			}
			snap := mb.Snapshot()
			if snap.UIDNext != b.uidNext || snap.UIDValidity != b.validity || snap.Name != mb.Name() {
				r.fatalf("%q: UIDNext %d UIDVALIDITY %d, model %d %d", snap.Name, snap.UIDNext, snap.UIDValidity, b.uidNext, b.validity)
			}
			if len(snap.Entries) != len(b.entries) {
				r.fatalf("%q: %d messages, model %d", snap.Name, len(snap.Entries), len(b.entries))
			}
			var size int64
			for i, e := range snap.Entries {
				m := b.entries[i]
				if i > 0 && e.UID <= snap.Entries[i-1].UID {
					r.fatalf("%q: UID %d after %d", snap.Name, e.UID, snap.Entries[i-1].UID)
				}
				if e.UID >= snap.UIDNext || e.UID != m.uid || e.Message != m.msg || !e.Flags.Equal(m.flags) {
					r.fatalf("%q entry %d: UID %d flags %s, model UID %d flags %s (same message %v)", snap.Name, i, e.UID, e.Flags, m.uid, m.flags, e.Message == m.msg)
				}
				size += e.Message.Size()
			}
			if size != snap.Size {
				r.fatalf("%q: Size %d, entries %d", snap.Name, snap.Size, size)
			}
			used += size
			stored += int64(len(snap.Entries))
		}
		if limit, got := u.u.Quota(); got != used || got != u.usage() || limit != u.quota {
			r.fatalf("%s: usage %d (limit %d), mailboxes %d, model %d (limit %d)", u.u.Address(), got, limit, used, u.usage(), u.quota)
		}
		if limit, got := u.u.MessageQuota(); got != stored || got != u.messages() || limit != u.messageQuota {
			r.fatalf("%s: %d messages counted (limit %d), mailboxes hold %d, model %d (limit %d)", u.u.Address(), got, limit, stored, u.messages(), u.messageQuota)
		}
	}
	if got := len(r.s.Received()); got != r.received {
		r.fatalf("Received %d, model %d", got, r.received)
	}
}
