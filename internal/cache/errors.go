package cache

import (
	"fmt"
	"strings"
)

// authFailure is the prefix of an authentication error, which an operator must fix (unlike an
// outage, which heals by itself).
const authFailure = "redis auth failed"

// describe prefixes authentication failures (WRONGPASS, NOAUTH) so that logs and stats say what to
// fix; other errors pass unchanged.
func describe(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.HasPrefix(msg, authFailure) {
		return err
	}
	for _, marker := range []string{"WRONGPASS", "NOAUTH", "invalid password", "invalid username-password"} {
		if strings.Contains(msg, marker) {
			return fmt.Errorf("%s: %w", authFailure, err)
		}
	}
	return err
}
