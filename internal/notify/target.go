package notify

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"
)

// Keys of a provider's Secret.
const (
	KeyAddress  = "address"
	KeyToken    = "token"
	KeyHMACKey  = "hmacKey"
	KeyUsername = "username"
	KeyPassword = "password"
	KeyFrom     = "from"
	KeyTo       = "to"
)

// TargetFromSecret reads a provider's Secret data and checks it: an address of the right scheme,
// and for email a sender and at least one recipient. Its errors never contain secret values.
func TargetFromSecret(typ string, data map[string][]byte) (Target, error) {
	t := Target{
		Type:     typ,
		Address:  strings.TrimSpace(string(data[KeyAddress])),
		Token:    strings.TrimSpace(string(data[KeyToken])),
		HMACKey:  data[KeyHMACKey],
		Username: string(data[KeyUsername]),
		Password: string(data[KeyPassword]),
		From:     strings.TrimSpace(string(data[KeyFrom])),
	}
	if t.Address == "" {
		return t, fmt.Errorf("the Secret has no %q key", KeyAddress)
	}
	u, err := url.Parse(t.Address)
	if err != nil || u.Host == "" {
		return t, fmt.Errorf("the Secret's %q is not an absolute URL", KeyAddress)
	}
	switch typ {
	case Webhook, Slack, Discord:
		if u.Scheme != "http" && u.Scheme != "https" {
			return t, fmt.Errorf("the Secret's %q must be an http or https URL for a %s provider", KeyAddress, typ)
		}
	case Email:
		if u.Scheme != "smtp" || u.Port() == "" {
			return t, fmt.Errorf("the Secret's %q must be smtp://host:port for an email provider", KeyAddress)
		}
		if _, err := mail.ParseAddress(t.From); err != nil {
			return t, fmt.Errorf("the Secret's %q must be an email address", KeyFrom)
		}
		for _, to := range strings.Split(string(data[KeyTo]), ",") {
			if to = strings.TrimSpace(to); to != "" {
				if _, err := mail.ParseAddress(to); err != nil {
					return t, fmt.Errorf("the Secret's %q must be comma-separated email addresses", KeyTo)
				}
				t.To = append(t.To, to)
			}
		}
		if len(t.To) == 0 {
			return t, fmt.Errorf("the Secret has no %q key (comma-separated recipients)", KeyTo)
		}
		if t.Username != "" && t.Password == "" {
			return t, fmt.Errorf("the Secret has a %q but no %q", KeyUsername, KeyPassword)
		}
	default:
		return t, fmt.Errorf("unknown provider type %q", typ)
	}
	return t, nil
}
