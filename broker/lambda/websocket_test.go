package lambda_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarm-go/swarm/broker/lambda/runtimeapi"
)

// managementAPI records the PostToConnection calls the SDK makes.
type managementAPI struct {
	mu    sync.Mutex
	posts []string // "connection: body"
}

func (m *managementAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, ok := strings.CutPrefix(r.URL.Path, "/prod/@connections/")
	if r.Method != http.MethodPost || !ok {
		http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
		return
	}
	if conn == "gone" {
		w.Header().Set("X-Amzn-Errortype", "GoneException")
		http.Error(w, `{"message":"gone"}`, http.StatusGone)
		return
	}
	b, _ := io.ReadAll(r.Body)
	m.mu.Lock()
	m.posts = append(m.posts, conn+": "+string(b))
	m.mu.Unlock()
}

func (m *managementAPI) Posts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.posts...)
}

func wsRequest(route, conn, body string) string {
	return fmt.Sprintf(`{
  "requestContext": {
    "routeKey": %q,
    "eventType": "MESSAGE",
    "extendedRequestId": "ext-1",
    "requestTime": "22/Nov/2026:08:00:00 +0000",
    "messageDirection": "IN",
    "stage": "prod",
    "connectedAt": 1795334400000,
    "requestTimeEpoch": 1795334400100,
    "requestId": "req-%s-%s",
    "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
    "connectionId": %q,
    "apiId": "abc123"
  },
  "body": %q,
  "isBase64Encoded": false
}`, route, route, conn, conn, body)
}

// The echo is posted to the connection before the invocation returns.
func TestWebSocketFunction(t *testing.T) {
	api := &managementAPI{}
	ts := httptest.NewServer(api)
	defer ts.Close()
	s := runtimeapi.New()
	defer s.Close()
	s.Function(t, "../../examples/lambda/websocket",
		"WS_ENDPOINT="+ts.URL+"/prod", "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test")

	if res := invoke(t, s, wsRequest("$connect", "c-1", ""), 10*time.Second); res.Failed || !strings.Contains(string(res.Body), `"statusCode":200`) {
		t.Fatalf("$connect: %+v %s", res, res.Body)
	}
	res := invoke(t, s, wsRequest("send", "c-1", `{"text":"hi"}`), 10*time.Second)
	if res.Failed || !strings.Contains(string(res.Body), `"statusCode":200`) {
		t.Fatalf("send: %+v %s", res, res.Body)
	}
	if posts := api.Posts(); len(posts) != 1 || posts[0] != `c-1: {"text":"echo: hi"}` {
		t.Fatalf("posts when the invocation returned: %q, want the echo to c-1", posts)
	}
	if res := invoke(t, s, wsRequest("nobody", "c-1", `{}`), 10*time.Second); !strings.Contains(string(res.Body), `"statusCode":500`) {
		t.Fatalf("unknown route answered %s, want 500", res.Body)
	}
}
