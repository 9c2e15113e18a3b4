package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// sendEmail sends m as a multipart/alternative mail (plain text and HTML) through the SMTP server
// at t.Address (smtp://host:port), upgrading to TLS when the server offers STARTTLS and logging in
// when the Secret has a username. A 4xx reply or a broken connection may pass later; a 5xx reply
// is final.
func sendEmail(ctx context.Context, t Target, m Message) error {
	u, err := url.Parse(t.Address)
	if err != nil {
		return &Error{Err: err}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return &Error{Retryable: true, Err: fmt.Errorf("email server unreachable: %w", err)}
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	c, err := smtp.NewClient(conn, u.Hostname())
	if err != nil {
		_ = conn.Close()
		return smtpError(err)
	}
	defer func() { _ = c.Close() }()
	if err := c.Hello("hama-operator"); err != nil {
		return smtpError(err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}); err != nil {
			return smtpError(err)
		}
	}
	if t.Username != "" {
		// PlainAuth refuses to send the password unencrypted, except to localhost.
		if err := c.Auth(smtp.PlainAuth("", t.Username, t.Password, u.Hostname())); err != nil {
			return smtpError(err)
		}
	}
	body, err := composeEmail(t, m, time.Now())
	if err != nil {
		return &Error{Err: err}
	}
	if err := c.Mail(bareAddress(t.From)); err != nil {
		return smtpError(err)
	}
	for _, to := range t.To {
		if err := c.Rcpt(bareAddress(to)); err != nil {
			return smtpError(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return smtpError(err)
	}
	if _, err := w.Write(body); err != nil {
		return smtpError(err)
	}
	if err := w.Close(); err != nil {
		return smtpError(err)
	}
	return smtpError(c.Quit())
}

// bareAddress is the address of "Name <addr>", as MAIL FROM and RCPT TO want it.
func bareAddress(s string) string {
	if a, err := mail.ParseAddress(s); err == nil {
		return a.Address
	}
	return s
}

// smtpError classifies an SMTP failure: permanent (5xx) replies are final, everything else —
// transient 4xx replies, broken connections, timeouts — may pass later.
func smtpError(err error) error {
	if err == nil {
		return nil
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return &Error{Retryable: reply.Code < 500, Err: fmt.Errorf("email server answered %d %s", reply.Code, reply.Msg)}
	}
	return &Error{Retryable: true, Err: fmt.Errorf("email: %w", err)}
}

var emailHTML = template.Must(template.New("email").Parse(`<!DOCTYPE html>
<html><body style="font-family: sans-serif">
<h2 style="color: {{.Colour}}">{{.Title}}</h2>
<table cellpadding="4">{{range .Fields}}
<tr><th align="left">{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}
</table>
</body></html>
`))

// composeEmail renders the whole mail: headers, then a plain-text and an HTML part.
func composeEmail(t Target, m Message, now time.Time) ([]byte, error) {
	var plain strings.Builder
	plain.WriteString(m.Title() + "\r\n\r\n")
	for _, f := range m.fields() {
		fmt.Fprintf(&plain, "%s: %s\r\n", f[0], f[1])
	}
	colour := "#555555"
	if up, down := m.bullish(); up {
		colour = "#2eb886"
	} else if down {
		colour = "#e01e5a"
	}
	var html bytes.Buffer
	if err := emailHTML.Execute(&html, map[string]any{"Title": m.Title(), "Colour": colour, "Fields": m.fields()}); err != nil {
		return nil, err
	}

	var parts bytes.Buffer
	mw := multipart.NewWriter(&parts)
	for _, p := range []struct{ typ, body string }{{"text/plain", plain.String()}, {"text/html", html.String()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {p.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"8bit"},
		})
		if err != nil {
			return nil, err
		}
		if _, err := w.Write([]byte(p.body)); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}

	var msg bytes.Buffer
	header := [][2]string{
		{"From", t.From},
		{"To", strings.Join(t.To, ", ")},
		{"Subject", mime.QEncoding.Encode("utf-8", "[hama] "+m.Title())},
		{"Date", now.UTC().Format(time.RFC1123Z)},
		// The event id makes the Message-ID: a retried mail is recognisably the same mail.
		{"Message-ID", "<" + strings.NewReplacer(":", ".", "/", ".").Replace(m.Alert+"."+m.ID) + "@hama-operator>"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "multipart/alternative; boundary=" + mw.Boundary()},
	}
	for _, h := range header {
		fmt.Fprintf(&msg, "%s: %s\r\n", h[0], h[1])
	}
	msg.WriteString("\r\n")
	msg.Write(parts.Bytes())
	return msg.Bytes(), nil
}
