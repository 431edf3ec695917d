package mailtest_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"net/smtp"

	"github.com/mailrig/mailrig/mailtest"
)

// The Mailpit-compatible HTTP API, as an end-to-end test in any language
// would use it: wait for the mail the application sent, then read it.
func ExampleServer_WebHandler() {
	srv, err := mailtest.New()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	web := httptest.NewServer(srv.WebHandler())
	defer web.Close()

	// The application under test:
	body := "From: shop@example.com\r\nTo: bob@example.com\r\nSubject: Welcome\r\n\r\nConfirm: https://shop.example/confirm?t=42\r\n"
	if err := smtp.SendMail(srv.SMTPAddr(), nil, "shop@example.com", []string{"bob@example.com"}, []byte(body)); err != nil {
		log.Fatal(err)
	}

	var found struct {
		Messages []struct{ ID, Subject string } `json:"messages"`
	}
	getExampleJSON(web.URL+"/api/v1/wait?query=to:bob@example.com+subject:welcome&timeout=5s", &found)
	var msg struct {
		Links    []string
		Envelope struct{ MailFrom string }
	}
	getExampleJSON(web.URL+"/api/v1/message/"+found.Messages[0].ID, &msg)
	fmt.Println(found.Messages[0].Subject)
	fmt.Println(msg.Links[0])
	fmt.Println(msg.Envelope.MailFrom)
	// Output:
	// Welcome
	// https://shop.example/confirm?t=42
	// shop@example.com
}

func getExampleJSON(url string, v any) {
	resp, err := http.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		log.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		log.Fatal(err)
	}
}
