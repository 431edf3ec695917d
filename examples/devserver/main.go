// Command devserver runs mailrig as a local stand-in for a real mail server:
// point your application's SMTP settings and a desktop mail client at it and
// see every message the application sends.
//
//	go run ./examples/devserver
//
// It listens on fixed loopback ports (SMTP 1025, submission 1587, SMTPS
// 1465, IMAP 1143, IMAPS 1993, POP3 1110, POP3S 1995), accepts mail for any
// address and files a copy of every message into a catch-all account
// (dev@localhost, password "dev"), so one client account sees everything.
// The web inbox and its JSON API (Mailpit's API v1 and more) are at
// http://127.0.0.1:8025/ (-http). Stop it with Ctrl-C.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailrig/mailrig/mailtest"
	"github.com/mailrig/mailrig/memstore"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "devserver:", err)
		os.Exit(1)
	}
}

// userFlags collects repeated -user address:password flags.
type userFlags []string

func (u *userFlags) String() string     { return strings.Join(*u, ",") }
func (u *userFlags) Set(v string) error { *u = append(*u, v); return nil }

// defaultPorts are the fixed ports of the stand-in, each the real port
// number plus 1000 (or its last digits) so no root is needed.
var defaultPorts = map[mailtest.Listener]int{
	mailtest.SMTP:       1025,
	mailtest.Submission: 1587,
	mailtest.SMTPS:      1465,
	mailtest.IMAP:       1143,
	mailtest.IMAPS:      1993,
	mailtest.POP3:       1110,
	mailtest.POP3S:      1995,
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("devserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addrs := make(map[mailtest.Listener]*string)
	for _, p := range mailtest.Listeners() {
		addrs[p] = fs.String(string(p), "127.0.0.1:"+strconv.Itoa(defaultPorts[p]),
			fmt.Sprintf("`address` for %s, or \"off\"", p))
	}
	var users userFlags
	fs.Var(&users, "user", "create an account `address:password` (repeatable)")
	catchAll := fs.String("catchall", "dev@localhost", "account that gets a copy of every message (\"off\" for none)")
	catchAllPassword := fs.String("catchall-password", "dev", "password of the catch-all account")
	public := fs.Bool("public", false, "allow listening on non-loopback addresses")
	certOut := fs.String("cert-out", "", "write the TLS certificate as PEM to `file` (for curl --cacert, Thunderbird)")
	certFile := fs.String("cert", "", "TLS certificate `file` (PEM); default: a generated one for localhost")
	keyFile := fs.String("key", "", "TLS key `file` (PEM), with -cert")
	verbose := fs.Bool("v", false, "log every session's transcript when it ends")
	httpAddr := fs.String("http", "127.0.0.1:8025", "`address` of the web inbox and HTTP API, or \"off\"")
	httpAuth := fs.String("http-auth", "", "require HTTP basic auth `user:password` for the web inbox and API")
	var httpHosts userFlags
	fs.Var(&httpHosts, "http-host", "also accept this host `name` in Host and Origin (repeatable; localhost, 127.0.0.1 and [::1] always are)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	opts := []mailtest.Option{mailtest.WithLogger(logger)}
	if *verbose {
		opts = append(opts, mailtest.WithTranscriptLog(logger))
	}
	for p, addr := range addrs {
		a := *addr
		if a == "off" {
			a = ""
		}
		opts = append(opts, mailtest.WithAddr(p, a))
	}
	if *public {
		opts = append(opts, mailtest.WithNonLoopback(true))
	}
	if *certFile != "" || *keyFile != "" {
		cert, err := loadKeyPair(*certFile, *keyFile)
		if err != nil {
			return err
		}
		opts = append(opts, mailtest.WithCertificate(cert))
	}
	for _, u := range users {
		addr, pw, ok := strings.Cut(u, ":")
		if !ok || addr == "" {
			return fmt.Errorf("-user %q: want address:password", u)
		}
		opts = append(opts, mailtest.WithUser(addr, pw))
	}
	if *catchAll != "off" && *catchAll != "" {
		opts = append(opts, mailtest.WithUser(*catchAll, *catchAllPassword))
	}
	if *httpAuth != "" {
		user, pw, ok := strings.Cut(*httpAuth, ":")
		if !ok || user == "" {
			return fmt.Errorf("-http-auth %q: want user:password", *httpAuth)
		}
		opts = append(opts, mailtest.WithWebAuth(user, pw))
	}
	if len(httpHosts) > 0 {
		opts = append(opts, mailtest.WithWebHosts(httpHosts...))
	}
	var httpLn net.Listener
	if *httpAddr != "off" && *httpAddr != "" {
		if !*public && !isLoopback(*httpAddr) {
			return fmt.Errorf("-http: %w: %q; add -public to allow it", mailtest.ErrNonLoopback, *httpAddr)
		}
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			return fmt.Errorf("-http: %w", err)
		}
		httpLn = ln
		defer ln.Close()
	}

	srv, err := mailtest.New(opts...)
	if errors.Is(err, mailtest.ErrNonLoopback) {
		return fmt.Errorf("%w; add -public to allow it", err)
	}
	if err != nil {
		return err
	}
	defer srv.Close()

	if *certOut != "" {
		pem := srv.CertificatePEM()
		if pem == nil {
			return errors.New("-cert-out: no generated certificate (TLS off or -cert given)")
		}
		if err := os.WriteFile(*certOut, pem, 0o644); err != nil {
			return fmt.Errorf("-cert-out: %w", err)
		}
	}

	copyDone := make(chan struct{})
	copyCtx, cancelCopy := context.WithCancel(ctx)
	go func() {
		defer close(copyDone)
		if *catchAll != "off" && *catchAll != "" {
			fileCopies(copyCtx, srv.Store(), *catchAll, logger)
		}
	}()

	var httpSrv *http.Server
	httpDone := make(chan error, 1)
	if httpLn != nil {
		httpSrv = &http.Server{
			Handler:           srv.WebHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		}
		go func() { httpDone <- httpSrv.Serve(httpLn) }()
	}

	printBanner(stdout, srv, httpLn, *catchAll, *catchAllPassword, users)
	<-ctx.Done()
	fmt.Fprintln(stdout, "devserver: shutting down")
	cancelCopy()
	<-copyDone
	if httpSrv != nil {
		// Closing the mail server first ends the WebSockets and waits,
		// which Shutdown does not wait for.
		err := srv.Close()
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if serr := httpSrv.Shutdown(shutCtx); serr != nil {
			httpSrv.Close()
		}
		<-httpDone
		return err
	}
	return srv.Close()
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// fileCopies files every received message into the catch-all account's
// INBOX, unless it was already a recipient.
func fileCopies(ctx context.Context, store *memstore.Store, catchAll string, log *slog.Logger) {
	w := store.Watch()
	defer w.Close()
	u, ok := store.User(catchAll)
	if !ok {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.C():
			for _, ev := range w.Drain() {
				if ev.Kind != memstore.EventReceived || isRecipient(store, u, ev.Message) {
					continue
				}
				if _, err := u.Inbox().Append(ev.Message, memstore.Flags{}); err != nil {
					log.Warn("catch-all copy failed", "err", err)
				}
			}
		}
	}
}

func isRecipient(store *memstore.Store, u *memstore.User, m *memstore.Message) bool {
	for _, r := range m.Envelope().Rcpts {
		if owner, ok := store.User(r); ok && owner == u {
			return true
		}
	}
	return false
}

func printBanner(w io.Writer, srv *mailtest.Server, httpLn net.Listener, catchAll, catchAllPassword string, users userFlags) {
	fmt.Fprintln(w, "mailrig devserver ready")
	for _, p := range mailtest.Listeners() {
		if addr := srv.Addr(p); addr != "" {
			fmt.Fprintf(w, "  %-10s %s\n", p, addr)
		}
	}
	if httpLn != nil {
		fmt.Fprintf(w, "  %-10s http://%s/\n", "http", httpLn.Addr())
	}
	if catchAll != "off" && catchAll != "" {
		fmt.Fprintf(w, "  account    %s (password %q) gets a copy of every message\n", catchAll, catchAllPassword)
	}
	for _, u := range users {
		addr, _, _ := strings.Cut(u, ":")
		fmt.Fprintf(w, "  account    %s\n", addr)
	}
	fmt.Fprintln(w, "  any other recipient gets its own mailbox; give it a password with -user to read it")
}

func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if certFile == "" || keyFile == "" {
		return tls.Certificate{}, errors.New("-cert and -key go together")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("load certificate: %w", err)
	}
	return cert, nil
}
