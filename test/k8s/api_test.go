//go:build k8se2e

package k8s

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// obj is an API object as decoded JSON.
type obj = map[string]any

// api is a minimal REST client of the API server: enough to create, read, patch and delete the
// objects the steps use, without client-go in the project's module.
type api struct {
	base  string
	token string
	http  *http.Client
}

func newAPI(base, token string) *api {
	return &api{base: base, token: token, http: &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}}
}

type apiError struct {
	Code int
	Body string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Code, strings.TrimSpace(e.Body))
}

func isNotFound(err error) bool {
	ae, ok := err.(*apiError)
	return ok && ae.Code == http.StatusNotFound
}

func (a *api) do(method, path, contentType string, body any) (obj, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		return nil, &apiError{Code: resp.StatusCode, Body: string(data)}
	}
	var o obj
	if len(data) > 0 {
		if err := json.Unmarshal(data, &o); err != nil {
			return nil, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return o, nil
}

func (a *api) get(path string) (obj, error) { return a.do("GET", path, "", nil) }
func (a *api) create(path string, o obj) (obj, error) {
	return a.do("POST", path, "application/json", o)
}
func (a *api) delete(path string) error {
	_, err := a.do("DELETE", path, "", nil)
	if isNotFound(err) {
		return nil
	}
	return err
}
func (a *api) patch(path string, o obj) (obj, error) {
	return a.do("PATCH", path, "application/merge-patch+json", o)
}

// field walks nested maps: field(o, "status", "readyToUse").
func field(o obj, keys ...string) any {
	var cur any = o
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func str(o obj, keys ...string) string {
	v := field(o, keys...)
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Paths of the objects the test uses.
const (
	ns      = "default"
	snapAPI = "/apis/snapshot.storage.k8s.io/v1"
)

func pvcPath(name string) string {
	return "/api/v1/namespaces/" + ns + "/persistentvolumeclaims/" + name
}
func pvPath(name string) string { return "/api/v1/persistentvolumes/" + name }
func vsPath(name string) string {
	return snapAPI + "/namespaces/" + ns + "/volumesnapshots/" + name
}
func vscPath(name string) string { return snapAPI + "/volumesnapshotcontents/" + name }
