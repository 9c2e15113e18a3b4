package apiserver

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Authorizer decides whether a request may act on AnalysisSchedules with verb in namespace.
type Authorizer interface {
	Authorize(ctx context.Context, r *http.Request, verb, namespace string) error
}

// KubeAuthorizer authenticates bearer tokens with a TokenReview and authorises them with a
// SubjectAccessReview on analysisschedules, as controller-runtime's metrics filter does. Answers
// (including refusals) are cached for TTL, the token review by a hash of the token and the access
// review by user, verb and namespace, so a busy client costs two API calls every few seconds rather
// than two per request. Failed reviews are not cached.
type KubeAuthorizer struct {
	Client kubernetes.Interface
	// TTL of cached answers; 10s when zero.
	TTL time.Duration

	mu     sync.Mutex
	users  map[[32]byte]cached[*authnv1.UserInfo] // nil user: the token is not valid
	access map[[32]byte]cached[bool]
}

type cached[T any] struct {
	value   T
	expires time.Time
}

// maxCachedReviews bounds each cache; when full it is emptied, which only costs fresh reviews.
const maxCachedReviews = 10000

// Authorize returns nil, or an apiError: 401 without a valid token, 403 when RBAC refuses, 503 when
// the reviews could not be made.
func (a *KubeAuthorizer) Authorize(ctx context.Context, r *http.Request, verb, namespace string) error {
	token, ok := bearerToken(r)
	if !ok {
		return errorf(http.StatusUnauthorized, "this call needs a Kubernetes bearer token (Authorization: Bearer <token>)")
	}
	user, err := a.authenticate(ctx, token)
	if err != nil {
		return err
	}
	if user == nil {
		return errorf(http.StatusUnauthorized, "the bearer token is not valid (TokenReview did not authenticate it)")
	}
	allowed, err := a.authorize(ctx, user, verb, namespace)
	if err != nil {
		return err
	}
	if !allowed {
		return errorf(http.StatusForbidden, "%s may not %s analysisschedules.%s in namespace %q",
			user.Username, verb, scheduleGroup, namespace)
	}
	return nil
}

const scheduleGroup = "analysis.hama-operator.io"

func (a *KubeAuthorizer) authenticate(ctx context.Context, token string) (*authnv1.UserInfo, error) {
	key := sha256.Sum256([]byte(token))
	if v, ok := lookupCached(a, a.users, key); ok {
		return v, nil
	}
	tr, err := a.Client.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return nil, &apiError{status: http.StatusServiceUnavailable, reason: "AuthenticationUnavailable",
			msg: "could not review the token: " + err.Error()}
	}
	var user *authnv1.UserInfo
	if tr.Status.Authenticated {
		user = &tr.Status.User
	}
	a.users = storeCached(a, a.users, key, user)
	return user, nil
}

func (a *KubeAuthorizer) authorize(ctx context.Context, u *authnv1.UserInfo, verb, namespace string) (bool, error) {
	key := sha256.Sum256([]byte(u.UID + "\x00" + u.Username + "\x00" + verb + "\x00" + namespace))
	if v, ok := lookupCached(a, a.access, key); ok {
		return v, nil
	}
	extra := make(map[string]authzv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar, err := a.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
		Spec: authzv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: scheduleGroup, Resource: "analysisschedules",
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return false, &apiError{status: http.StatusServiceUnavailable, reason: "AuthorizationUnavailable",
			msg: "could not review the access: " + err.Error()}
	}
	a.access = storeCached(a, a.access, key, sar.Status.Allowed)
	return sar.Status.Allowed, nil
}

func (a *KubeAuthorizer) ttl() time.Duration {
	if a.TTL <= 0 {
		return 10 * time.Second
	}
	return a.TTL
}

func lookupCached[T any](a *KubeAuthorizer, m map[[32]byte]cached[T], key [32]byte) (T, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	c, ok := m[key]
	if !ok || !time.Now().Before(c.expires) {
		var zero T
		return zero, false
	}
	return c.value, true
}

func storeCached[T any](a *KubeAuthorizer, m map[[32]byte]cached[T], key [32]byte, v T) map[[32]byte]cached[T] {
	a.mu.Lock()
	defer a.mu.Unlock()
	if m == nil || len(m) >= maxCachedReviews {
		m = make(map[[32]byte]cached[T])
	}
	m[key] = cached[T]{value: v, expires: time.Now().Add(a.ttl())}
	return m
}

// bearerToken reads "Authorization: Bearer <token>"; the scheme is case-insensitive (RFC 7235).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

// denyAll stands in when no authorizer is configured: mutating calls are refused, never let through.
type denyAll struct{}

func (denyAll) Authorize(context.Context, *http.Request, string, string) error {
	return errorf(http.StatusUnauthorized, "token authentication is not configured on this server, so this call is refused")
}
