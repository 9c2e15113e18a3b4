package notify

import (
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// smtpSink is a real SMTP server (go-smtp) in the test process that keeps every mail it accepts.
type smtpSink struct {
	addr         string
	user, pass   string
	rejectRcptAs *smtp.SMTPError // when set, RCPT TO is answered with it
	mu           sync.Mutex
	mails        []sunkMail
}

type sunkMail struct {
	from string
	to   []string
	data []byte
	user string
}

func newSMTPSink(t *testing.T, user, pass string) *smtpSink {
	t.Helper()
	s := &smtpSink{user: user, pass: pass}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{sink: s}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // plain auth over loopback, as net/smtp allows it
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpSink) received() []sunkMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunkMail(nil), s.mails...)
}

type sinkSession struct {
	sink *smtpSink
	mail sunkMail
}

func (s *sinkSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *sinkSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.sink.user || pass != s.sink.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.mail.user = user
		return nil
	}), nil
}

func (s *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.sink.user != "" && s.mail.user == "" {
		return smtp.ErrAuthRequired
	}
	s.mail.from = from
	return nil
}

func (s *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.sink.rejectRcptAs != nil {
		return s.sink.rejectRcptAs
	}
	s.mail.to = append(s.mail.to, to)
	return nil
}

func (s *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.mail.data = b
	s.sink.mu.Lock()
	s.sink.mails = append(s.sink.mails, s.mail)
	s.sink.mu.Unlock()
	return nil
}

func (s *sinkSession) Reset()        { s.mail = sunkMail{user: s.mail.user} }
func (s *sinkSession) Logout() error { return nil }

func emailTarget(addr string) Target {
	return Target{Type: Email, Address: "smtp://" + addr, Username: "hama", Password: "pw",
		From: "HAMA <hama@example.com>", To: []string{"trader@example.com", "desk@example.com"}}
}

func TestEmailSendsPlainAndHTMLAfterLoggingIn(t *testing.T) {
	sink := newSMTPSink(t, "hama", "pw")
	if err := send(t, emailTarget(sink.addr)); err != nil {
		t.Fatal(err)
	}
	mails := sink.received()
	if len(mails) != 1 {
		t.Fatalf("%d mails", len(mails))
	}
	m := mails[0]
	if m.user != "hama" || m.from != "hama@example.com" || strings.Join(m.to, ",") != "trader@example.com,desk@example.com" {
		t.Errorf("envelope: %+v", m)
	}
	msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
	if err != nil {
		t.Fatal(err)
	}
	subject, _ := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if subject != "[hama] BTCUSDT 15m: HAMA crossed above its MA" {
		t.Errorf("Subject = %q", subject)
	}
	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q: %v", msg.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		typ, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		parts[typ] = string(b)
	}
	if !strings.Contains(parts["text/plain"], "Price: 87654.5") || !strings.Contains(parts["text/plain"], "Event id: "+testMessage.ID) {
		t.Errorf("plain part:\n%s", parts["text/plain"])
	}
	if !strings.Contains(parts["text/html"], "<th align=\"left\">Summary</th><td>bullish</td>") {
		t.Errorf("html part:\n%s", parts["text/html"])
	}
}

func TestEmailFailuresAreClassified(t *testing.T) {
	sink := newSMTPSink(t, "hama", "pw")
	wrong := emailTarget(sink.addr)
	wrong.Password = "nope"
	if retry, _ := Retryable(send(t, wrong)); retry {
		t.Error("a refused login is retried")
	}

	sink.rejectRcptAs = &smtp.SMTPError{Code: 451, Message: "try again later"}
	err := send(t, emailTarget(sink.addr))
	if retry, _ := Retryable(err); err == nil || !retry {
		t.Errorf("a 451 reply: err %v, retryable %v", err, retry)
	}
	sink.rejectRcptAs = &smtp.SMTPError{Code: 550, Message: "no such user"}
	err = send(t, emailTarget(sink.addr))
	if retry, _ := Retryable(err); err == nil || retry {
		t.Errorf("a 550 reply: err %v, retryable %v", err, retry)
	}
	if n := len(sink.received()); n != 0 {
		t.Errorf("%d mails accepted", n)
	}
}
