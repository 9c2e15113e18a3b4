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
// SubjectAccessReview on analysisschedules, as controller-runtime's metrics filter does; answers
// are cached briefly so a busy client costs one review every few seconds, not one per request.
type KubeAuthorizer struct {
	Client kubernetes.Interface
	TTL    time.Duration

	mu    sync.Mutex
	cache map[[32]byte]cachedDecision
}

type cachedDecision struct {
	err     error
	expires time.Time
}

// Authorize returns a 401 or 403 apiError, or nil.
func (a *KubeAuthorizer) Authorize(ctx context.Context, r *http.Request, verb, namespace string) error {
	token, ok := bearerToken(r)
	if !ok {
		return errorf(http.StatusUnauthorized, "this call needs a Kubernetes bearer token (Authorization: Bearer <token>)")
	}
	key := sha256.Sum256([]byte(verb + "\x00" + namespace + "\x00" + token))
	now := time.Now()
	a.mu.Lock()
	if d, ok := a.cache[key]; ok && now.Before(d.expires) {
		a.mu.Unlock()
		return d.err
	}
	a.mu.Unlock()

	err := a.review(ctx, token, verb, namespace)
	if err != nil {
		if ae, ok := err.(*apiError); !ok || ae.status >= 500 {
			return err // a failed review is not an answer worth remembering
		}
	}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) > 10000 {
		a.cache = map[[32]byte]cachedDecision{}
	}
	ttl := a.TTL
	if ttl <= 0 {
		ttl = 10 * time.Second
	}
	a.cache[key] = cachedDecision{err: err, expires: now.Add(ttl)}
	a.mu.Unlock()
	return err
}

func (a *KubeAuthorizer) review(ctx context.Context, token, verb, namespace string) error {
	tr, err := a.Client.AuthenticationV1().TokenReviews().Create(ctx,
		&authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "token review failed: %v", err)
	}
	if !tr.Status.Authenticated {
		return errorf(http.StatusUnauthorized, "the bearer token is not valid")
	}
	u := tr.Status.User
	extra := map[string]authzv1.ExtraValue{}
	for k, v := range u.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar, err := a.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{
		Spec: authzv1.SubjectAccessReviewSpec{
			User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
			ResourceAttributes: &authzv1.ResourceAttributes{
				Namespace: namespace, Verb: verb, Group: "analysis.hama-operator.io", Resource: "analysisschedules",
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return errorf(http.StatusServiceUnavailable, "access review failed: %v", err)
	}
	if !sar.Status.Allowed {
		return errorf(http.StatusForbidden, "%s may not %s analysisschedules in namespace %q", u.Username, verb, namespace)
	}
	return nil
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
