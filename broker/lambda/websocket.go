package lambda

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi"
	"github.com/aws/aws-sdk-go-v2/service/apigatewaymanagementapi/types"

	"github.com/swarm-go/swarm"
	"github.com/swarm-go/swarm/kernel"
)

// WebSocket is a listener fed by an API Gateway WebSocket API: each request
// is one message whose category is its route key ($connect, $disconnect,
// $default or a custom route) and whose payload is its body ({} when
// empty). The connection id, domain and stage travel as attributes. The
// request is answered 200 once the message is acked, 500 when it is failed
// or unsettled at the deadline.
type WebSocket struct {
	*Broker
	margin time.Duration
}

// Attributes of WebSocket messages.
const (
	AttrConnectionID = "connectionId"
	AttrDomainName   = "domainName"
	AttrStage        = "stage"
)

// NewWebSocket returns the listener; pass its Handler to lambda.Start.
func NewWebSocket(opts ...Option) (*WebSocket, error) {
	b, c, err := newBroker("websocket", "", opts)
	if err != nil {
		return nil, err
	}
	return &WebSocket{Broker: b, margin: c.margin}, nil
}

// Handler answers one WebSocket request.
func (s *WebSocket) Handler() func(context.Context, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return func(ctx context.Context, r events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
		rc := r.RequestContext
		payload := []byte(r.Body)
		if len(payload) == 0 {
			payload = []byte("{}")
		}
		env := kernel.Envelope{Category: rc.RouteKey, ID: rc.RequestID, Payload: payload, Attempt: 1,
			Attrs: map[string]string{AttrConnectionID: rc.ConnectionID, AttrDomainName: rc.DomainName, AttrStage: rc.Stage}}
		failed, err := s.invoke(ctx, []kernel.Envelope{env}, s.margin, true)
		if err != nil {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, err
		}
		if len(failed) > 0 {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError}, nil
		}
		return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
	}
}

// Reply is a message to one WebSocket connection: emit it on a channel of
// a WebSocketEmitter, emit.Typed[lambda.Reply[T]](replies).
type Reply[T any] struct {
	ConnectionID string `json:"connectionId"`
	Data         T      `json:"data"`
}

// WebSocketEmitter posts replies to WebSocket connections through the API
// Gateway Management API (PostToConnection).
type WebSocketEmitter struct {
	k *kernel.Kernel
}

// Close flushes the replies already handed over and closes the emitter.
func (e *WebSocketEmitter) Close() error { return e.k.Close() }

// Kernel returns the kernel running the emitter's channels.
func (e *WebSocketEmitter) Kernel() *kernel.Kernel { return e.k }

// EmitterOption configures a WebSocketEmitter.
type EmitterOption func(*emitterConfig)

type emitterConfig struct {
	kernel []swarm.Option
	aws    []func(*awsconfig.LoadOptions) error
	client *apigatewaymanagementapi.Client
}

// WithEmitterKernel sets the kernel options of the emitter.
func WithEmitterKernel(opts ...swarm.Option) EmitterOption {
	return func(c *emitterConfig) { c.kernel = append(c.kernel, opts...) }
}

// WithAWSConfig adds options to the AWS configuration loaded from the
// default credential chain (region, credentials, retries).
func WithAWSConfig(opts ...func(*awsconfig.LoadOptions) error) EmitterOption {
	return func(c *emitterConfig) { c.aws = append(c.aws, opts...) }
}

// WithManagementClient uses an existing Management API client.
func WithManagementClient(client *apigatewaymanagementapi.Client) EmitterOption {
	return func(c *emitterConfig) { c.client = client }
}

// NewWebSocketEmitter returns an emitter posting to the connections of the
// API whose callback endpoint is endpoint: https://{api-id}.execute-api.{region}.amazonaws.com/{stage},
// or "https://" + domainName + "/" + stage from a request's attributes.
func NewWebSocketEmitter(ctx context.Context, endpoint string, opts ...EmitterOption) (*WebSocketEmitter, error) {
	var c emitterConfig
	for _, opt := range opts {
		opt(&c)
	}
	if c.client == nil {
		if endpoint == "" {
			return nil, fmt.Errorf("%w: lambda: the WebSocket callback endpoint is empty", swarm.ErrConfig)
		}
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx, c.aws...)
		if err != nil {
			return nil, fmt.Errorf("lambda: loading the AWS configuration: %w", err)
		}
		c.client = apigatewaymanagementapi.NewFromConfig(awsCfg, func(o *apigatewaymanagementapi.Options) {
			o.BaseEndpoint = aws.String(endpoint)
		})
	}
	cfg, err := kernel.NewConfig(c.kernel...)
	if err != nil {
		return nil, fmt.Errorf("lambda: %w", err)
	}
	return &WebSocketEmitter{k: kernel.New(cfg, "websocket:"+endpoint, &poster{client: c.client})}, nil
}

// poster is the kernel's Sender onto PostToConnection.
type poster struct {
	client *apigatewaymanagementapi.Client
}

// maxFrame is API Gateway's limit on a WebSocket message (128 KiB).
const maxFrame = 128 << 10

func (p *poster) Capabilities() kernel.Capabilities {
	return kernel.Capabilities{MaxBatch: 25, SendConcurrency: 4, MaxPayload: maxFrame + 1024}
}

// Send posts each reply to its connection. A connection that is gone is a
// permanent failure: the reply goes to the dead-letter channel.
func (p *poster) Send(ctx context.Context, batch []kernel.Envelope) []error {
	var errs []error
	for i, env := range batch {
		var r Reply[json.RawMessage]
		err := json.Unmarshal(env.Payload, &r)
		if err == nil && r.ConnectionID == "" {
			err = errors.New("reply has no connectionId")
		}
		if err != nil {
			err = kernel.Permanent(fmt.Errorf("websocket reply: %w", err))
		} else {
			_, err = p.client.PostToConnection(ctx, &apigatewaymanagementapi.PostToConnectionInput{
				ConnectionId: aws.String(r.ConnectionID), Data: r.Data})
			var gone *types.GoneException
			if errors.As(err, &gone) {
				err = kernel.Permanent(fmt.Errorf("connection %s is gone: %w", r.ConnectionID, err))
			}
		}
		if err != nil {
			if errs == nil {
				errs = make([]error, len(batch))
			}
			errs[i] = err
		}
	}
	return errs
}
